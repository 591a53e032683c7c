//! The child process of the RocksDB crash test (`tests/crash_rocks.rs`).
//!
//! Usage: `engine-crash-child DIR SEED`. Opens (or creates) the engine in DIR with eight
//! regions, then loops forever: one synced raft batch appending one entry to each of a few
//! regions (group commit), reported on stdout as `synced BATCH REGION:INDEX ...` once the write
//! returned; then one unsynced apply batch that applies every region up to its last index (data
//! keys plus the apply state, in one batch). The parent kills it with SIGKILL at a random moment.

#![allow(clippy::print_stdout, reason = "the parent reads the report on stdout")]

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use bytes::Bytes;
use engine::synthetic::{append_next_entries, open_empty_regions};
use engine::{ApplyBatch, CacheBudget, KvEngine, PeerStorage, RegionId, RocksConfig, RocksEngine};

/// The number of regions the child writes to.
const REGIONS: u64 = 8;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(seed)) = (args.next(), args.next()) else {
        bail!("usage: engine-crash-child DIR SEED");
    };
    let mut rng: u64 = seed.parse::<u64>().context("seed")? | 1;
    let engine = RocksEngine::open(&PathBuf::from(dir), &RocksConfig::small())?;
    let storages = open_empty_regions(&engine, REGIONS, &CacheBudget::new(1 << 20))?;
    let mut stdout = std::io::stdout().lock();
    for batch in 1u64.. {
        let mut wb = engine.write_batch();
        let mut report = format!("synced {batch}");
        let chosen = storages.iter().filter(|_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng.is_multiple_of(3)
        });
        append_next_entries(
            chosen,
            6,
            |region, _| Bytes::from(format!("batch-{batch}-region-{region}")),
            |storage, index| {
                write!(report, " {}:{index}", storage.region_id())
                    .expect("invariant: writing to a String cannot fail");
            },
            &mut wb,
        );
        engine.write(&mut wb, true)?;
        writeln!(stdout, "{report}")?;
        apply_all(&engine, &storages)?;
    }
    Ok(())
}

/// Applies every region up to its last index: one data key per entry, and the apply state,
/// in one unsynced batch.
fn apply_all(engine: &RocksEngine, storages: &[PeerStorage<RocksEngine>]) -> anyhow::Result<()> {
    let mut wb = engine.write_batch();
    for storage in storages {
        let mut state = storage.apply_state();
        let last = storage.raft_state().last_index;
        if state.applied_index == last {
            continue;
        }
        let entries = raft::Storage::entries(storage, state.applied_index + 1, last + 1, u64::MAX)?;
        for entry in entries {
            wb.put_data(&data_key(storage.region_id(), entry.index), &entry.data);
        }
        state.applied_index = last;
        wb.put_apply_state(storage.region_id(), &state);
        storage.set_applied_index(last);
    }
    engine.write(&mut wb, false)?;
    Ok(())
}

/// The user key the child writes for `region`'s entry at `index`.
fn data_key(region: RegionId, index: u64) -> Vec<u8> {
    format!("r{:04}/{index:010}", region.0).into_bytes()
}
