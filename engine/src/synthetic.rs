//! A synthetic raft-log load for the RocksDB crash test's child process and the engine
//! benchmark, so that both drive the store's write path the same way:
//!
//! ```text
//! open_empty_regions ─► regions 1..=n (initial states, one synced batch, first open only)
//!                   └─► one PeerStorage each, sharing one cache budget
//! append_next_entries(storages chosen by the caller)
//!     ─► per storage: Entry(last_index + 1, term, payload) ─► PeerStorage::append ─► batch
//! caller ─► engine.write(batch, sync = true)   (one group commit: one WAL append, one fsync)
//! ```
//!
//! The regions all span the whole key space, so this load suits raft-log writes only, never a
//! store.

use std::sync::Arc;

use bytes::Bytes;
use raft::raftpb::Entry;

use crate::entry_cache::CacheBudget;
use crate::error::Result;
use crate::peer_storage::{PeerStorage, write_initial_states};
use crate::recovery::recover_regions;
use crate::traits::KvEngine;
use crate::types::{Region, RegionId};

/// Opens the regions with ids `1..=regions` of `engine` with storages sharing `budget`. On an
/// engine holding no region yet, creates them first, empty, in one synced batch.
///
/// Returns [`crate::Error::RegionNotFound`] if the engine holds regions but not all of these.
pub fn open_empty_regions<E: KvEngine>(
    engine: &E,
    regions: u64,
    budget: &Arc<CacheBudget>,
) -> Result<Vec<PeerStorage<E>>> {
    if recover_regions(engine)?.is_empty() {
        let mut batch = engine.write_batch();
        for id in 1..=regions {
            write_initial_states(
                &mut batch,
                &Region {
                    id,
                    ..Region::default()
                },
            );
        }
        engine.write(&mut batch, true)?;
    }
    (1..=regions)
        .map(|id| PeerStorage::open(engine.clone(), RegionId(id), Arc::clone(budget)))
        .collect()
}

/// Builds a group-commit batch into `batch`: appends to each storage of `storages`, in order,
/// one entry in `term` right after its last index, with payload `payload(region, index)`, then
/// calls `on_appended(storage, index)`.
///
/// `PeerStorage::append` moves the storage's in-memory log end when it prepares the batch, so
/// the caller must write `batch` (synced) before anything reports these entries persisted; a
/// storage may appear more than once, and then gets consecutive entries.
pub fn append_next_entries<'a, E: KvEngine>(
    storages: impl IntoIterator<Item = &'a PeerStorage<E>>,
    term: u64,
    mut payload: impl FnMut(RegionId, u64) -> Bytes,
    mut on_appended: impl FnMut(&PeerStorage<E>, u64),
    batch: &mut E::WriteBatch,
) {
    for storage in storages {
        let index = storage.raft_state().last_index + 1;
        let entry = Entry::new(index, term, payload(storage.region_id(), index));
        storage.append(std::slice::from_ref(&entry), None, batch);
        on_appended(storage, index);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemEngine;
    use crate::raft_log::RaftLogReader;

    #[test]
    fn batches_append_after_the_last_index_and_survive_reopen() {
        // Goal: each chosen storage gets the next entry (consecutive ones when chosen twice),
        // the hook sees every index, and reopening finds the regions instead of recreating them.
        let engine = MemEngine::new();
        let budget = CacheBudget::new(1 << 20);
        let storages = open_empty_regions(&engine, 3, &budget).unwrap();
        let mut batch = engine.write_batch();
        let mut seen = Vec::new();
        let chosen = [&storages[0], &storages[2], &storages[0]];
        append_next_entries(
            chosen,
            7,
            |region, index| Bytes::from(format!("{region}:{index}")),
            |storage, index| seen.push((storage.region_id(), index)),
            &mut batch,
        );
        engine.write(&mut batch, true).unwrap();
        let first = crate::INIT_LOG_INDEX + 1;
        assert_eq!(
            seen,
            [
                (RegionId(1), first),
                (RegionId(3), first),
                (RegionId(1), first + 1)
            ]
        );
        let entry = engine.log_entry(RegionId(1), first + 1).unwrap().unwrap();
        assert_eq!(
            (entry.term, &entry.data[..]),
            (7, format!("1:{}", first + 1).as_bytes())
        );
        let reopened = open_empty_regions(&engine.crash_clone(), 3, &budget).unwrap();
        assert_eq!(reopened[0].raft_state().last_index, first + 1);
        assert_eq!(reopened[1].raft_state().last_index, crate::INIT_LOG_INDEX);
    }
}
