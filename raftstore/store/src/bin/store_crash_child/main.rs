//! The child process of the store crash test (`tests/crash_rocks.rs`).
//!
//! Usage: `store-crash-child DIR ROUND`. Runs three stores on RocksDB in `DIR/store-{1,2,3}`:
//! bootstrapped with a few regions when the directories are new, recovered from them
//! otherwise (after the previous round's kill). Once every region has a leader, writer threads
//! put keys without end and print `acked ROUND WRITER N` on stdout for every acknowledged
//! write. The parent kills the process with SIGKILL at a random moment: every store dies at
//! once, mid-write.

#![allow(clippy::print_stdout, reason = "the parent reads the report on stdout")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use engine::{RocksConfig, RocksEngine};
use raftstore::cluster::LocalCluster;

mod scheme;
use scheme::{REGIONS, WRITERS, config, crash_key, crash_value};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(round)) = (args.next(), args.next()) else {
        bail!("usage: store-crash-child DIR ROUND");
    };
    let dir = PathBuf::from(dir);
    let round: u64 = round.parse().context("round")?;
    let fresh = !dir.join("store-1").exists();
    let engines = (1..=3)
        .map(|store| open(&dir, store))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let cfg = config();
    let cluster = if fresh {
        LocalCluster::start(&cfg, engines, REGIONS)?
    } else {
        LocalCluster::recover(&cfg, engines)?
    };
    cluster.elect_spread(Duration::from_mins(1))?;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = cluster.client();
            std::thread::spawn(move || {
                for n in 0u64.. {
                    let key = crash_key(round, writer, n);
                    if client.put_blocking(key.clone(), crash_value(&key)).is_ok() {
                        let mut out = std::io::stdout().lock();
                        // The parent stops reading only when it killed us.
                        let _ = writeln!(out, "acked {round} {writer} {n}");
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        let _ = writer.join();
    }
    Ok(())
}

fn open(dir: &Path, store: u64) -> anyhow::Result<RocksEngine> {
    Ok(RocksEngine::open(
        &dir.join(format!("store-{store}")),
        &RocksConfig::small(),
    )?)
}
