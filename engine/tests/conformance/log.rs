//! The raft log: append, conflicting suffixes, compaction, group commit, gaps.

use std::path::Path;

use engine::{
    ApplyBatch, ApplyState, Error, KvEngine, KvReader, RaftLocalState, RaftLogBatch, RaftLogReader,
    RegionId,
};
use raft::raftpb::Entry;

use super::{Factory, entries};

const R: RegionId = RegionId(7);

fn fetch<E: KvEngine>(engine: &E, region: RegionId, lo: u64, hi: u64, max: u64) -> Vec<Entry> {
    let mut out = Vec::new();
    engine.fetch_entries(region, lo, hi, max, &mut out).unwrap();
    out
}

pub fn append_and_fetch_with_size_limit<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    let ents = entries(1, 11, 1);
    wb.append_entries(R, &ents, 0);
    engine.write(&mut wb, true).unwrap();
    assert_eq!(fetch(&engine, R, 1, 11, u64::MAX), ents);
    assert_eq!(fetch(&engine, R, 3, 5, u64::MAX), ents[2..4].to_vec());
    // The size limit cuts after the entries that fit, but never returns nothing.
    let one = ents[0].size();
    assert_eq!(fetch(&engine, R, 1, 11, one * 3).len(), 3);
    assert_eq!(fetch(&engine, R, 1, 11, 0).len(), 1);
    assert_eq!(engine.log_entry(R, 4).unwrap(), Some(ents[3].clone()));
    assert_eq!(engine.log_entry(R, 11).unwrap(), None);
}

pub fn append_truncates_conflicting_suffix<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.append_entries(R, &entries(1, 11, 1), 0);
    engine.write(&mut wb, true).unwrap();
    // A new leader overwrites from 5 with a shorter log: 8..=10 must go.
    wb.append_entries(R, &entries(5, 8, 2), 10);
    engine.write(&mut wb, true).unwrap();
    let log = fetch(&engine, R, 1, 8, u64::MAX);
    assert_eq!(
        log.iter().map(|e| e.term).collect::<Vec<_>>(),
        vec![1, 1, 1, 1, 2, 2, 2]
    );
    assert_eq!(engine.log_entry(R, 8).unwrap(), None);
    assert_eq!(engine.log_entry(R, 10).unwrap(), None);
}

pub fn long_conflicting_suffix_uses_range_delete<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.append_entries(R, &entries(1, 3001, 1), 0);
    engine.write(&mut wb, false).unwrap();
    wb.append_entries(R, &entries(2, 3, 2), 3000);
    engine.write(&mut wb, false).unwrap();
    assert_eq!(fetch(&engine, R, 1, 3, u64::MAX).len(), 2);
    assert_eq!(engine.log_entry(R, 3).unwrap(), None);
    assert_eq!(engine.log_entry(R, 3000).unwrap(), None);
}

pub fn compaction_deletes_prefix_only<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.append_entries(R, &entries(1, 21, 1), 0);
    wb.put_raft_state(
        R,
        &RaftLocalState {
            hard_state: None,
            last_index: 20,
            last_term: 1,
        },
    );
    engine.write(&mut wb, true).unwrap();
    wb.compact_log(R, 1, 10);
    engine.write(&mut wb, false).unwrap();
    assert_eq!(engine.log_entry(R, 10).unwrap(), None);
    assert_eq!(fetch(&engine, R, 11, 21, u64::MAX).len(), 10);
    assert!(
        engine.raft_state(R).unwrap().is_some(),
        "the raft state is not in the log range"
    );
    wb.clear_raft(R);
    engine.write(&mut wb, false).unwrap();
    assert_eq!(engine.log_entry(R, 20).unwrap(), None);
    assert_eq!(engine.raft_state(R).unwrap(), None);
}

pub fn group_commit_keeps_regions_apart<F: Factory>(f: &F, dir: &Path) {
    // Goal: one batch, one sync, many regions; each region reads back only its own log,
    // including neighbouring ids whose keys sort next to each other.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for id in 1..=50u64 {
        let ents = entries(1, 1 + id % 5 + 1, id);
        wb.append_entries(RegionId(id), &ents, 0);
        let last = ents.last().unwrap();
        wb.put_raft_state(
            RegionId(id),
            &RaftLocalState {
                hard_state: None,
                last_index: last.index,
                last_term: last.term,
            },
        );
    }
    engine.write(&mut wb, true).unwrap();
    for id in 1..=50u64 {
        let state = engine.raft_state(RegionId(id)).unwrap().unwrap();
        assert_eq!(state.last_index, id % 5 + 1);
        let log = fetch(&engine, RegionId(id), 1, state.last_index + 1, u64::MAX);
        assert!(log.iter().all(|e| e.term == id));
        assert_eq!(
            engine
                .log_entry(RegionId(id), state.last_index + 1)
                .unwrap(),
            None
        );
    }
}

pub fn gap_in_log_is_corruption<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.append_entries(R, &entries(1, 11, 1), 0);
    engine.write(&mut wb, true).unwrap();
    engine::WriteBatch::delete(&mut wb, engine::Cf::Raft, &engine::keys::raft_log_key(R, 5));
    engine.write(&mut wb, true).unwrap();
    let mut out = Vec::new();
    let err = engine.fetch_entries(R, 1, 11, u64::MAX, &mut out);
    assert!(matches!(err, Err(Error::Corruption(_))), "{err:?}");
    assert!(out.is_empty(), "a failed fetch returns nothing");
    // A range past the end is a gap too.
    assert!(engine.fetch_entries(R, 8, 13, u64::MAX, &mut out).is_err());
}

pub fn apply_state_goes_with_its_data<F: Factory>(f: &F, dir: &Path) {
    // Goal: the apply path writes data and apply state in one non-synced batch; a later synced
    // write (of any region's raft log) makes both durable, thanks to the shared log.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.put_data(b"a", b"1");
    wb.put_apply_state(
        R,
        &ApplyState {
            applied_index: 6,
            truncated_index: 5,
            truncated_term: 5,
        },
    );
    engine.write(&mut wb, false).unwrap();
    wb.append_entries(RegionId(99), &entries(1, 2, 1), 0);
    engine.write(&mut wb, true).unwrap();
    // A write batch keeps the database open.
    drop(wb);
    drop(engine);
    let engine = f.open(dir);
    assert_eq!(engine.apply_state(R).unwrap().unwrap().applied_index, 6);
    assert_eq!(engine.get_data(b"a").unwrap().as_deref(), Some(&b"1"[..]));
}
