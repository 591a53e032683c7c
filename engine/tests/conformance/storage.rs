//! `PeerStorage`: the consensus core's `Storage` over the engine, with the entry cache.

use std::path::Path;
use std::sync::Arc;

use engine::RaftLogReader;
use engine::{CacheBudget, INIT_LOG_INDEX, KvEngine, PeerStorage, RegionId, write_initial_states};
use raft::raftpb::{HardState, Snapshot, SnapshotMetadata};
use raft::{Storage, StorageError};

use super::{Factory, entries, region};

const R: RegionId = RegionId(3);

fn new_storage<E: KvEngine>(engine: &E, budget: usize) -> PeerStorage<E> {
    let mut wb = engine.write_batch();
    write_initial_states(&mut wb, &region(R.0, b"", b""));
    engine.write(&mut wb, true).unwrap();
    PeerStorage::open(engine.clone(), R, CacheBudget::new(budget)).unwrap()
}

fn append<E: KvEngine>(engine: &E, storage: &PeerStorage<E>, lo: u64, hi: u64, term: u64) {
    let mut wb = engine.write_batch();
    let hs = HardState {
        term,
        vote: 1,
        commit: lo - 1,
    };
    storage.append(&entries(lo, hi, term), Some(hs), &mut wb);
    engine.write(&mut wb, true).unwrap();
}

fn is_storage_err(err: &raft::Error, want: &StorageError) -> bool {
    matches!(err, raft::Error::Storage(e) if e == want)
}

pub fn storage_serves_entries_terms_and_bounds<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine, 1 << 20);
    let init = INIT_LOG_INDEX;
    assert_eq!(storage.first_index().unwrap(), init + 1);
    assert_eq!(storage.last_index().unwrap(), init);
    assert_eq!(storage.term(init).unwrap(), engine::INIT_LOG_TERM);
    let state = storage.initial_state().unwrap();
    assert_eq!(state.conf_state.voters, vec![31, 32, 33]);
    append(&engine, &storage, init + 1, init + 11, 6);
    assert_eq!(storage.last_index().unwrap(), init + 10);
    assert_eq!(storage.initial_state().unwrap().hard_state.term, 6);
    let got = storage.entries(init + 1, init + 11, u64::MAX).unwrap();
    assert_eq!(got, entries(init + 1, init + 11, 6));
    assert_eq!(storage.entries(init + 1, init + 11, 0).unwrap().len(), 1);
    assert_eq!(storage.term(init + 4).unwrap(), 6);
    assert!(is_storage_err(
        &storage.entries(init, init + 2, u64::MAX).unwrap_err(),
        &StorageError::Compacted
    ));
    assert!(is_storage_err(
        &storage.entries(init + 1, init + 12, u64::MAX).unwrap_err(),
        &StorageError::Unavailable
    ));
    assert!(is_storage_err(
        &storage.term(init - 1).unwrap_err(),
        &StorageError::Compacted
    ));
    assert!(is_storage_err(
        &storage.term(init + 11).unwrap_err(),
        &StorageError::Unavailable
    ));
    // A conflicting append replaces the tail in the cache and on disk.
    append(&engine, &storage, init + 4, init + 6, 7);
    assert_eq!(storage.last_index().unwrap(), init + 5);
    assert_eq!(storage.term(init + 5).unwrap(), 7);
    assert_eq!(storage.term(init + 3).unwrap(), 6);
}

pub fn storage_reads_disk_below_cache<F: Factory>(f: &F, dir: &Path) {
    // Goal: entries evicted from the cache are read from the engine, seamlessly joined with the
    // cached tail, within the size limit.
    let engine = f.open(dir);
    let storage = new_storage(&engine, 1 << 20);
    let init = INIT_LOG_INDEX;
    append(&engine, &storage, init + 1, init + 21, 6);
    storage.evict_cache_to(init + 10);
    let got = storage.entries(init + 1, init + 21, u64::MAX).unwrap();
    assert_eq!(got, entries(init + 1, init + 21, 6));
    let size_of = |n: usize| got[..n].iter().map(raft::raftpb::Entry::size).sum::<u64>();
    assert_eq!(
        storage
            .entries(init + 1, init + 21, size_of(12))
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        storage
            .entries(init + 1, init + 21, size_of(12) + 1)
            .unwrap()
            .len(),
        12
    );
    assert_eq!(
        storage
            .entries(init + 1, init + 21, size_of(5))
            .unwrap()
            .len(),
        5
    );
    assert_eq!(storage.term(init + 2).unwrap(), 6);
}

pub fn storage_compaction_moves_first_index<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine, 1 << 20);
    let init = INIT_LOG_INDEX;
    append(&engine, &storage, init + 1, init + 11, 6);
    let mut wb = engine.write_batch();
    assert!(
        storage.compact(init + 5, &mut wb).is_err(),
        "cannot compact past the applied index"
    );
    storage.set_applied_index(init + 8);
    let state = storage.compact(init + 5, &mut wb).unwrap();
    engine.write(&mut wb, false).unwrap();
    assert_eq!((state.truncated_index, state.truncated_term), (init + 5, 6));
    assert_eq!(storage.first_index().unwrap(), init + 6);
    assert_eq!(storage.term(init + 5).unwrap(), 6);
    assert!(storage.entries(init + 5, init + 7, u64::MAX).is_err());
    assert_eq!(
        storage
            .entries(init + 6, init + 11, u64::MAX)
            .unwrap()
            .len(),
        5
    );
    // The compacted entries are gone from the engine too.
    assert_eq!(engine.log_entry(R, init + 5).unwrap(), None);
    assert!(engine.log_entry(R, init + 6).unwrap().is_some());
}

pub fn storage_reopens_after_restart<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine, 1 << 20);
    let init = INIT_LOG_INDEX;
    append(&engine, &storage, init + 1, init + 6, 9);
    drop(storage);
    drop(engine);
    let engine = f.open(dir);
    let storage = PeerStorage::open(engine.clone(), R, CacheBudget::new(1 << 20)).unwrap();
    assert_eq!(storage.last_index().unwrap(), init + 5);
    assert_eq!(storage.initial_state().unwrap().hard_state.term, 9);
    assert_eq!(
        storage.entries(init + 1, init + 6, u64::MAX).unwrap(),
        entries(init + 1, init + 6, 9)
    );
    assert!(matches!(
        PeerStorage::open(engine, RegionId(404), CacheBudget::new(1)),
        Err(engine::Error::RegionNotFound { .. })
    ));
}

pub fn storage_cache_stays_within_budget<F: Factory>(f: &F, dir: &Path) {
    // Goal: many regions' caches share one budget; reads stay correct after eviction.
    let engine = f.open(dir);
    let budget = CacheBudget::new(20_000);
    let mut storages = Vec::new();
    for id in 1..=10u64 {
        let mut wb = engine.write_batch();
        write_initial_states(&mut wb, &region(id, &[id as u8], &[id as u8 + 1]));
        engine.write(&mut wb, true).unwrap();
        storages
            .push(PeerStorage::open(engine.clone(), RegionId(id), Arc::clone(&budget)).unwrap());
    }
    let init = INIT_LOG_INDEX;
    for round in 0..20u64 {
        for storage in &storages {
            let lo = init + 1 + round * 5;
            let mut wb = engine.write_batch();
            storage.append(&entries(lo, lo + 5, 6), None, &mut wb);
            engine.write(&mut wb, false).unwrap();
            assert!(budget.used_bytes() <= budget.limit_bytes());
        }
    }
    let total: usize = storages.iter().map(PeerStorage::cache_bytes).sum();
    assert_eq!(total, budget.used_bytes());
    for storage in &storages {
        assert_eq!(
            storage.entries(init + 1, init + 101, u64::MAX).unwrap(),
            entries(init + 1, init + 101, 6)
        );
    }
}

pub fn storage_snapshot_is_requested_then_served<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine, 1 << 20);
    let err = storage.snapshot(5, 2).unwrap_err();
    assert!(is_storage_err(
        &err,
        &StorageError::SnapshotTemporarilyUnavailable
    ));
    assert!(storage.snapshot_requested());
    let snap = Snapshot {
        data: bytes::Bytes::new(),
        metadata: Some(SnapshotMetadata {
            conf_state: None,
            index: 5,
            term: 5,
        }),
    };
    storage.set_generated_snapshot(snap.clone());
    assert!(!storage.snapshot_requested());
    assert_eq!(storage.snapshot(5, 2).unwrap(), snap);
    assert!(storage.snapshot(6, 2).is_err(), "too old for the request");
}
