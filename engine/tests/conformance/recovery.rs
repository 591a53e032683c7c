//! Recovery on open.

use std::path::Path;

use engine::{
    ApplyBatch, ApplyState, CacheBudget, Cf, Error, INIT_LOG_INDEX, INIT_LOG_TERM, KvEngine,
    PeerState, PeerStorage, RaftLogBatch, RaftLogReader, RegionId, RegionLocalState, WriteBatch,
    keys, recover_regions, write_initial_states,
};
use raft::Storage;
use raft::raftpb::HardState;

use super::{Factory, entries, region};

pub fn recovery_lists_every_region_with_states<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for id in [3u64, 1, 2] {
        write_initial_states(&mut wb, &region(id, &[id as u8], &[id as u8 + 1]));
    }
    wb.put_region_state(
        RegionId(9),
        &RegionLocalState::new(PeerState::Tombstone, region(9, b"x", b"y")),
    );
    engine.write(&mut wb, true).unwrap();
    // Region 2 grows its log.
    let storage = engine::PeerStorage::open(
        engine.clone(),
        RegionId(2),
        engine::CacheBudget::new(1 << 20),
    )
    .unwrap();
    let hs = HardState {
        term: 6,
        vote: 21,
        commit: INIT_LOG_INDEX + 2,
    };
    storage.append(
        &entries(INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 4, 6),
        Some(hs),
        &mut wb,
    );
    engine.write(&mut wb, true).unwrap();
    drop(storage);
    // A write batch keeps the database open.
    drop(wb);
    drop(engine);

    let engine = f.open(dir);
    let regions = recover_regions(&engine).unwrap();
    let ids: Vec<u64> = regions.iter().map(|r| r.region_id.0).collect();
    assert_eq!(ids, vec![1, 2, 3, 9]);
    let r2 = &regions[1];
    assert_eq!(r2.peer_state(), PeerState::Normal);
    assert_eq!(
        (r2.first_index(), r2.last_index()),
        (INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 3)
    );
    assert_eq!(r2.raft_state.unwrap().hard_state(), hs);
    assert_eq!(r2.apply_state.unwrap().applied_index, INIT_LOG_INDEX);
    assert_eq!(
        r2.local_state.region.as_ref().unwrap().start_key.as_ref(),
        &[2u8]
    );
    assert_eq!(regions[3].peer_state(), PeerState::Tombstone);
}

pub fn recovery_refuses_missing_states<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    write_initial_states(&mut wb, &region(5, b"", b""));
    wb.delete(Cf::Meta, &keys::apply_state_key(RegionId(5)));
    engine.write(&mut wb, true).unwrap();
    assert!(matches!(
        recover_regions(&engine),
        Err(Error::Corruption(_))
    ));
}

pub fn recovery_refuses_log_missing_its_first_entry<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    append(
        &engine,
        &storage,
        INIT_LOG_INDEX + 1,
        INIT_LOG_INDEX + 4,
        6,
        None,
    );
    let mut wb = engine.write_batch();
    wb.delete_log_entries(RegionId(5), INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 2);
    engine.write(&mut wb, true).unwrap();
    let err = recover_regions(&engine).unwrap_err();
    assert!(
        matches!(err, Error::Corruption(ref m) if m.contains("missing")),
        "{err}"
    );
    let err = open_storage(&engine);
    assert!(matches!(err, Err(Error::Corruption(_))));
}

pub fn recovery_refuses_commit_past_log_end<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let hs = HardState {
        term: 6,
        vote: 0,
        commit: INIT_LOG_INDEX + 3,
    };
    append(
        &engine,
        &storage,
        INIT_LOG_INDEX + 1,
        INIT_LOG_INDEX + 4,
        6,
        Some(hs),
    );
    // The log loses its tail behind the store's back: the committed entry 8 is gone.
    let mut wb = engine.write_batch();
    wb.delete_log_entries(RegionId(5), INIT_LOG_INDEX + 3, INIT_LOG_INDEX + 4);
    engine.write(&mut wb, true).unwrap();
    let err = recover_regions(&engine).unwrap_err();
    assert!(
        matches!(err, Error::Corruption(ref m) if m.contains("commit")),
        "{err}"
    );
}

pub fn recovery_rebuilds_log_end_after_appends_without_raft_state<F: Factory>(f: &F, dir: &Path) {
    // Goal: appends with no hard state (or a commit-only change) write no raft state, and both
    // recovery and a reopened storage find the log's end in the log itself.
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let init = INIT_LOG_INDEX;
    append(&engine, &storage, init + 1, init + 4, 6, None);
    let commit_only = HardState {
        term: INIT_LOG_TERM,
        vote: 0,
        commit: init + 2,
    };
    append(&engine, &storage, init + 4, init + 6, 7, Some(commit_only));
    drop(storage);
    let engine = reopen(f, dir, engine);
    let persisted = engine.raft_state(RegionId(5)).unwrap().unwrap();
    assert_eq!(
        (persisted.last_index, persisted.hard_state().commit),
        (init, init),
        "no raft state was written"
    );
    let recovered = recover_regions(&engine).unwrap();
    assert_eq!(recovered[0].last_index(), init + 5);
    let state = recovered[0].raft_state.unwrap();
    assert_eq!((state.last_index, state.last_term), (init + 5, 7));
    assert_eq!(state.hard_state().term, INIT_LOG_TERM);
    let storage = open_storage(&engine).unwrap();
    assert_eq!(storage.raft_state(), state);
    assert_eq!(storage.last_index().unwrap(), init + 5);
    assert_eq!(storage.term(init + 5).unwrap(), 7);
    assert_eq!(
        storage.entries(init + 1, init + 6, u64::MAX).unwrap().len(),
        5
    );
}

pub fn recovery_rebuilds_log_end_after_conflicting_truncation<F: Factory>(f: &F, dir: &Path) {
    // Goal: a conflicting append that shortens the log (a new leader's shorter log) moves the
    // recovered end back, though the persisted raft state still says the longer log.
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let init = INIT_LOG_INDEX;
    let hs = HardState {
        term: 6,
        vote: 51,
        commit: init + 2,
    };
    append(&engine, &storage, init + 1, init + 11, 6, Some(hs));
    let hs = HardState {
        term: 7,
        vote: 0,
        commit: init + 2,
    };
    append(&engine, &storage, init + 1, init + 11, 7, Some(hs));
    append(&engine, &storage, init + 4, init + 6, 8, None);
    drop(storage);
    let engine = reopen(f, dir, engine);
    assert_eq!(
        engine.raft_state(RegionId(5)).unwrap().unwrap().last_index,
        init + 10,
        "the persisted state is stale"
    );
    let state = recover_regions(&engine).unwrap()[0].raft_state.unwrap();
    assert_eq!((state.last_index, state.last_term), (init + 5, 8));
    assert_eq!(state.hard_state(), hs);
    let storage = open_storage(&engine).unwrap();
    assert_eq!(storage.last_index().unwrap(), init + 5);
    assert_eq!(storage.term(init + 3).unwrap(), 7);
    assert!(storage.term(init + 6).is_err());
    assert_eq!(engine.log_entry(RegionId(5), init + 6).unwrap(), None);
}

pub fn recovery_rebuilds_log_end_after_whole_log_compaction<F: Factory>(f: &F, dir: &Path) {
    // Goal: with the whole log compacted away, the log ends at the compaction point.
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let init = INIT_LOG_INDEX;
    append(&engine, &storage, init + 1, init + 6, 6, None);
    storage.set_applied_index(init + 5);
    let mut wb = engine.write_batch();
    storage.compact(init + 5, &mut wb).unwrap();
    engine.write(&mut wb, true).unwrap();
    drop((wb, storage));
    let engine = reopen(f, dir, engine);
    assert_eq!(engine.last_log_entry(RegionId(5)).unwrap(), None);
    let recovered = recover_regions(&engine).unwrap();
    let state = recovered[0].raft_state.unwrap();
    assert_eq!((state.last_index, state.last_term), (init + 5, 6));
    assert_eq!(
        state.hard_state().commit,
        init + 5,
        "raised to the applied index"
    );
    assert_eq!(recovered[0].first_index(), init + 6);
    let storage = open_storage(&engine).unwrap();
    assert_eq!(storage.last_index().unwrap(), init + 5);
    assert_eq!(storage.term(init + 5).unwrap(), 6);
    // The log goes on from there.
    append(&engine, &storage, init + 6, init + 7, 6, None);
    assert_eq!(recover_regions(&engine).unwrap()[0].last_index(), init + 6);
}

pub fn recovery_raises_commit_to_applied_index<F: Factory>(f: &F, dir: &Path) {
    // Goal: the recovered commit is max(persisted commit, applied index): commit-only changes
    // are never written, and the applied index proves them.
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let init = INIT_LOG_INDEX;
    let hs = |commit| HardState {
        term: 6,
        vote: 51,
        commit,
    };
    append(
        &engine,
        &storage,
        init + 1,
        init + 11,
        6,
        Some(hs(init + 4)),
    );
    append(
        &engine,
        &storage,
        init + 11,
        init + 12,
        6,
        Some(hs(init + 9)),
    );
    let commit_of = |engine: &F::E| {
        recover_regions(engine).unwrap()[0]
            .raft_state
            .unwrap()
            .hard_state()
            .commit
    };
    assert_eq!(
        commit_of(&engine),
        init + 4,
        "applied is below the persisted commit"
    );
    let mut wb = engine.write_batch();
    wb.put_apply_state(
        RegionId(5),
        &ApplyState {
            applied_index: init + 7,
            truncated_index: init,
            truncated_term: INIT_LOG_TERM,
        },
    );
    engine.write(&mut wb, true).unwrap();
    drop((wb, storage));
    let engine = reopen(f, dir, engine);
    assert_eq!(commit_of(&engine), init + 7);
    let storage = open_storage(&engine).unwrap();
    let hard_state = storage.initial_state().unwrap().hard_state;
    assert_eq!(hard_state, hs(init + 7));
}

pub fn append_writes_raft_state_only_on_term_or_vote_change<F: Factory>(f: &F, dir: &Path) {
    // Goal: the append path writes one key per entry unless the term or vote changes; then the
    // raft state goes in the same batch, with the log end of that append.
    let engine = f.open(dir);
    let storage = new_storage(&engine);
    let init = INIT_LOG_INDEX;
    let mut wb = engine.write_batch();
    let hs = |term, vote, commit| HardState { term, vote, commit };
    let mut batch_count = |entries: &[raft::raftpb::Entry], hard_state| {
        storage.append(entries, hard_state, &mut wb);
        let count = wb.count();
        engine.write(&mut wb, true).unwrap();
        count
    };
    assert_eq!(batch_count(&entries(init + 1, init + 3, 5), None), 2);
    assert_eq!(
        batch_count(&entries(init + 3, init + 4, 5), Some(hs(5, 0, init + 2))),
        1,
        "commit-only change"
    );
    assert_eq!(
        batch_count(&entries(init + 4, init + 5, 5), Some(hs(5, 52, init + 2))),
        2,
        "vote change"
    );
    assert_eq!(
        batch_count(&[], Some(hs(6, 0, init + 3))),
        1,
        "term change alone"
    );
    assert_eq!(batch_count(&[], Some(hs(6, 0, init + 4))), 0);
    let persisted = engine.raft_state(RegionId(5)).unwrap().unwrap();
    assert_eq!(persisted.hard_state(), hs(6, 0, init + 3));
    assert_eq!((persisted.last_index, persisted.last_term), (init + 4, 5));
    assert_eq!(storage.raft_state().hard_state(), hs(6, 0, init + 4));
}

/// Creates region 5 and opens its storage.
fn new_storage<E: KvEngine>(engine: &E) -> PeerStorage<E> {
    let mut wb = engine.write_batch();
    write_initial_states(&mut wb, &region(5, b"", b""));
    engine.write(&mut wb, true).unwrap();
    open_storage(engine).unwrap()
}

fn open_storage<E: KvEngine>(engine: &E) -> engine::Result<PeerStorage<E>> {
    PeerStorage::open(engine.clone(), RegionId(5), CacheBudget::new(1 << 20))
}

/// Appends entries `[lo, hi)` of `term` with `hard_state` in one synced batch.
fn append<E: KvEngine>(
    engine: &E,
    storage: &PeerStorage<E>,
    lo: u64,
    hi: u64,
    term: u64,
    hard_state: Option<HardState>,
) {
    let mut wb = engine.write_batch();
    storage.append(&entries(lo, hi, term), hard_state, &mut wb);
    engine.write(&mut wb, true).unwrap();
}

/// Closes `engine` (every handle must be dropped) and opens `dir` again.
fn reopen<F: Factory>(f: &F, dir: &Path, engine: F::E) -> F::E {
    drop(engine);
    f.open(dir)
}
