//! Building and ingesting the snapshot of one large region.

use std::path::Path;
use std::time::Instant;

use engine::{
    ApplyBatch, ApplyState, KvEngine, PeerState, Region, RegionId, RegionLocalState, RocksConfig,
    RocksEngine, WriteBatch, apply_region_snapshot, build_region_snapshot,
};
use raft::raftpb::HardState;

use super::{Options, fresh};
use crate::report::Report;

/// The figures of the snapshot run.
pub struct SnapshotResult {
    keys: u64,
    bytes: u64,
    build_secs: f64,
    ingest_secs: f64,
}

impl SnapshotResult {
    /// One readable line.
    pub fn summary(&self) -> String {
        let mb = self.bytes as f64 / 1e6;
        format!(
            "snapshot of {} keys ({mb:.1} MB of files): build {:.2} s ({:.1} MB/s), ingest {:.2} s \
             ({:.1} MB/s)",
            self.keys,
            self.build_secs,
            mb / self.build_secs,
            self.ingest_secs,
            mb / self.ingest_secs
        )
    }

    /// Adds the figures to the report's last line.
    pub fn pairs(&self, report: &mut Report) {
        let mb = self.bytes as f64 / 1e6;
        report.pair("snapshot_keys", self.keys);
        report.pair("snapshot_build_secs", format!("{:.3}", self.build_secs));
        report.pair(
            "snapshot_build_mb_per_sec",
            format!("{:.1}", mb / self.build_secs),
        );
        report.pair("snapshot_ingest_secs", format!("{:.3}", self.ingest_secs));
        report.pair(
            "snapshot_ingest_mb_per_sec",
            format!("{:.1}", mb / self.ingest_secs),
        );
    }
}

/// Loads a region of `--snapshot-keys` keys (16-byte keys, entry-size values), builds its
/// snapshot and applies it on a second engine.
pub fn run(root: &Path, opts: &Options) -> anyhow::Result<SnapshotResult> {
    let src = RocksEngine::open(&fresh(root, "snap-src")?, &RocksConfig::default())?;
    let region = Region {
        id: 1,
        ..Region::default()
    };
    let mut wb = src.write_batch();
    wb.put_region_state(
        RegionId(1),
        &RegionLocalState::new(PeerState::Normal, region),
    );
    let state = ApplyState {
        applied_index: 10,
        truncated_index: 10,
        truncated_term: 6,
    };
    wb.put_apply_state(RegionId(1), &state);
    let mut value = vec![0u8; opts.entry_size];
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..opts.snapshot_keys {
        for chunk in value.chunks_mut(8) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            chunk.copy_from_slice(&rng.to_le_bytes()[..chunk.len()]);
        }
        wb.put_data(format!("key{i:013}").as_bytes(), &value);
        if wb.count() >= 10_000 {
            src.write(&mut wb, false)?;
        }
    }
    src.write(&mut wb, true)?;

    let snap_dir = fresh(root, "snap-files")?.join("snap");
    let started = Instant::now();
    let meta = build_region_snapshot(&src, RegionId(1), &snap_dir)?;
    let build_secs = started.elapsed().as_secs_f64();
    drop(src);

    let dst = RocksEngine::open(&fresh(root, "snap-dst")?, &RocksConfig::default())?;
    let started = Instant::now();
    apply_region_snapshot(&dst, RegionId(1), &snap_dir, HardState::default())?;
    let ingest_secs = started.elapsed().as_secs_f64();
    Ok(SnapshotResult {
        keys: opts.snapshot_keys,
        bytes: meta.files.iter().map(|f| f.size).sum(),
        build_secs,
        ingest_secs,
    })
}
