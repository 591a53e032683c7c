//! `engine`: the storage engine alone on a data directory of the user's choice.
//!
//! Measures, in order: the disk's fsync rate for 4 KiB appends (the physical bound); raw
//! RocksDB synced writes at batch sizes N = 1, 16, 256 (one 128-byte put per region, no
//! layering); our group-commit raft appends through `PeerStorage` for 1,000 regions with
//! 128-byte entries at the same N; apply throughput (unsynced data writes, each with its region's
//! apply state); and building and ingesting a snapshot of a region of `--snapshot-keys` keys.
//! The last line's `append_vs_raw_ratio` compares our appends with raw RocksDB at N = 256.

mod append;
mod disk;
mod snapshot;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::report::Report;

/// Flags of the `engine` scenario.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Data directory (default: a new temporary directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Seconds to measure each figure.
    #[arg(long, default_value_t = 2)]
    pub secs: u64,
    /// Regions the appends go to.
    #[arg(long, default_value_t = 1000)]
    pub regions: u64,
    /// Bytes per entry payload.
    #[arg(long, default_value_t = 128)]
    pub entry_size: usize,
    /// Keys in the snapshot region.
    #[arg(long, default_value_t = 1_000_000)]
    pub snapshot_keys: u64,
}

/// The batch sizes (regions per synced batch) measured.
pub const BATCH_REGIONS: [usize; 3] = [1, 16, 256];

/// Runs the scenario and returns its report.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.secs > 0, "--secs must be at least 1");
    anyhow::ensure!(opts.regions >= 256, "--regions must be at least 256");
    let temp;
    let root: &Path = if let Some(dir) = &opts.dir {
        std::fs::create_dir_all(dir)?;
        dir
    } else {
        temp = tempfile::tempdir()?;
        temp.path()
    };
    let secs = Duration::from_secs(opts.secs);
    let mut report = Report::new(format!("engine on {}", root.display()));

    let fsyncs = disk::fsyncs_per_sec(&root.join("fsync-probe"), secs)?;
    report.line(format!("disk: {fsyncs:.0} fsyncs/s for 4 KiB appends"));
    report.pair("fsyncs_per_sec_4k", format!("{fsyncs:.0}"));

    let mut last = None;
    for n in BATCH_REGIONS {
        let raw = append::raw(&fresh(root, &format!("raw-{n}"))?, n, opts, secs)?;
        let ours = append::ours(&fresh(root, &format!("append-{n}"))?, n, opts, secs)?;
        let ratio = ours.entries_per_sec / raw.entries_per_sec;
        report.line(format!("N={n:<3} raw rocksdb: {}", raw.summary()));
        report.line(format!(
            "N={n:<3} our appends: {} ({:.0}% of raw)",
            ours.summary(),
            ratio * 100.0
        ));
        report.pair(
            &format!("raw_entries_per_sec_n{n}"),
            format!("{:.0}", raw.entries_per_sec),
        );
        report.pair(
            &format!("append_entries_per_sec_n{n}"),
            format!("{:.0}", ours.entries_per_sec),
        );
        report.pair(&format!("append_p99_us_n{n}"), ours.p99_us);
        last = Some((raw, ours, ratio));
    }

    let apply = append::apply(&fresh(root, "apply")?, opts, secs)?;
    report.line(format!(
        "apply: {apply:.0} writes/s (unsynced, 256 regions per batch)"
    ));
    report.pair("apply_writes_per_sec", format!("{apply:.0}"));

    let snap = snapshot::run(root, opts)?;
    report.line(snap.summary());
    snap.pairs(&mut report);

    if let Some((raw, ours, ratio)) = last {
        report.pair(
            "append_fsyncs_per_sec",
            format!("{:.0}", ours.fsyncs_per_sec),
        );
        report.pair("append_mb_per_sec", format!("{:.2}", ours.mb_per_sec));
        report.pair(
            "append_entries_per_sec",
            format!("{:.0}", ours.entries_per_sec),
        );
        report.pair("raw_entries_per_sec", format!("{:.0}", raw.entries_per_sec));
        report.pair("append_vs_raw_ratio", format!("{ratio:.3}"));
    }
    Ok(report)
}

/// An empty directory `name` under `root`.
fn fresh(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
