//! Unit and model tests of [`MemStorage`](super::MemStorage), and entry helpers for the tests of
//! the other log modules.

use proptest::prelude::*;

use super::*;

/// An entry without payload.
pub(crate) fn ent(index: u64, term: u64) -> Entry {
    Entry::new(index, term, Bytes::new())
}

/// Entries at consecutive indexes from `first`, with the given terms.
pub(crate) fn ents_from(first: u64, terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .zip(first..)
        .map(|(&term, index)| ent(index, term))
        .collect()
}

/// A snapshot at (`index`, `term`) with voters 1, 2, 3.
pub(crate) fn snap(index: u64, term: u64) -> Snapshot {
    let conf_state = ConfState {
        voters: vec![1, 2, 3],
        ..ConfState::default()
    };
    Snapshot {
        data: Bytes::new(),
        metadata: Some(SnapshotMetadata {
            conf_state: Some(conf_state),
            index,
            term,
        }),
    }
}

/// A storage compacted at (3, 3) holding entries 4 and 5 with terms 4 and 5.
fn storage_3_4_5() -> MemStorage {
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snap(3, 3)).unwrap();
    storage.wl().append(&ents_from(4, &[4, 5])).unwrap();
    storage
}

fn storage_err(e: StorageError) -> Error {
    Error::Storage(e)
}

#[test]
fn new_storage_is_empty_and_starts_at_index_one() {
    let storage = MemStorage::new();
    assert_eq!(storage.first_index(), Ok(1));
    assert_eq!(storage.last_index(), Ok(0));
    assert_eq!(storage.term(0), Ok(0));
    assert_eq!(storage.term(1), Err(storage_err(StorageError::Unavailable)));
    assert_eq!(storage.initial_state(), Ok(RaftState::default()));
    assert!(storage.snapshot(0, 1).unwrap().is_empty());
    assert_eq!(storage.rl().entries_vec().len(), 0);
    assert_eq!(
        storage.rl().entries.capacity(),
        0,
        "an empty storage allocates no log"
    );
}

#[test]
fn new_with_conf_state_reports_it_from_a_snapshot_at_index_zero() {
    let cs = ConfState {
        voters: vec![1, 2],
        learners: vec![3],
        ..ConfState::default()
    };
    let storage = MemStorage::new_with_conf_state(cs.clone());
    assert_eq!(storage.initial_state().unwrap().conf_state, cs);
    let stored = storage.rl().snapshot();
    assert_eq!(stored.index(), 0);
    assert_eq!(stored.meta().conf_state, Some(cs));
    assert_eq!(storage.first_index(), Ok(1));
    assert_eq!(storage.last_index(), Ok(0));
}

#[test]
fn term_knows_the_compaction_point_and_rejects_outside_indexes() {
    let storage = storage_3_4_5();
    let cases = [
        (2, Err(storage_err(StorageError::Compacted))),
        (3, Ok(3)),
        (4, Ok(4)),
        (5, Ok(5)),
        (6, Err(storage_err(StorageError::Unavailable))),
    ];
    for (index, want) in cases {
        assert_eq!(storage.term(index), want, "index {index}");
    }
}

#[test]
fn entries_respect_range_and_size_limit() {
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snap(3, 3)).unwrap();
    storage.wl().append(&ents_from(4, &[4, 5, 6])).unwrap();
    let size = ent(4, 4).size();
    let compacted = Err(storage_err(StorageError::Compacted));
    let cases = [
        (2, 6, NO_LIMIT, compacted.clone()),
        (3, 4, NO_LIMIT, compacted),
        (4, 5, NO_LIMIT, Ok(ents_from(4, &[4]))),
        (4, 6, NO_LIMIT, Ok(ents_from(4, &[4, 5]))),
        (4, 7, NO_LIMIT, Ok(ents_from(4, &[4, 5, 6]))),
        // Even with no budget the first entry is returned.
        (4, 7, 0, Ok(ents_from(4, &[4]))),
        (4, 7, size * 2, Ok(ents_from(4, &[4, 5]))),
        (4, 7, size * 2 + size / 2, Ok(ents_from(4, &[4, 5]))),
        (4, 7, size * 3 - 1, Ok(ents_from(4, &[4, 5]))),
        (4, 7, size * 3, Ok(ents_from(4, &[4, 5, 6]))),
    ];
    for (lo, hi, max_size, want) in cases {
        assert_eq!(
            storage.entries(lo, hi, max_size),
            want,
            "[{lo}, {hi}) max {max_size}"
        );
    }
}

#[test]
fn entries_past_the_last_index_are_unavailable() {
    let storage = storage_3_4_5();
    assert_eq!(
        storage.entries(4, 7, NO_LIMIT),
        Err(storage_err(StorageError::Unavailable))
    );
    assert_eq!(storage.entries(4, 6, NO_LIMIT).unwrap().len(), 2);
}

#[test]
fn entries_of_an_empty_range_are_empty() {
    let storage = storage_3_4_5();
    assert_eq!(storage.entries(4, 4, NO_LIMIT), Ok(Vec::new()));
    assert_eq!(storage.entries(6, 6, NO_LIMIT), Ok(Vec::new()));
    assert_eq!(MemStorage::new().entries(1, 1, NO_LIMIT), Ok(Vec::new()));
}

#[test]
fn last_index_follows_append() {
    let storage = storage_3_4_5();
    assert_eq!(storage.last_index(), Ok(5));
    storage.wl().append(&[ent(6, 5)]).unwrap();
    assert_eq!(storage.last_index(), Ok(6));
}

#[test]
fn first_index_follows_compact() {
    let storage = storage_3_4_5();
    assert_eq!(storage.first_index(), Ok(4));
    storage.wl().compact(4).unwrap();
    assert_eq!(storage.first_index(), Ok(5));
    assert_eq!(
        storage.term(4),
        Ok(4),
        "the compaction point keeps its term"
    );
}

#[test]
fn compact_moves_the_compaction_point() {
    // (compact index, error, first index after, term at the compaction point, entries left)
    let compacted = Some(StorageError::Compacted);
    let cases = [
        (2, compacted.clone(), 4, 3, 2),
        (3, compacted, 4, 3, 2),
        (4, None, 5, 4, 1),
    ];
    for (index, err, first, point_term, left) in cases {
        let storage = storage_3_4_5();
        let res = storage.wl().compact(index);
        assert_eq!(res.err(), err.map(storage_err), "compact({index})");
        assert_eq!(storage.first_index(), Ok(first));
        assert_eq!(storage.term(first - 1), Ok(point_term));
        assert_eq!(storage.rl().entries_vec().len(), left);
    }
    let storage = storage_3_4_5();
    storage.wl().compact(5).unwrap();
    assert_eq!(
        (storage.first_index(), storage.last_index()),
        (Ok(6), Ok(5))
    );
    assert_eq!(storage.term(5), Ok(5));
    assert_eq!(
        storage.rl().entries.capacity(),
        0,
        "an emptied log gives its buffer back"
    );
}

#[test]
fn compact_past_the_last_index_fails_and_changes_nothing() {
    let storage = storage_3_4_5();
    assert_eq!(
        storage.wl().compact(6),
        Err(storage_err(StorageError::Unavailable))
    );
    assert_eq!(storage.rl().entries_vec(), ents_from(4, &[4, 5]).as_slice());
    assert_eq!(storage.first_index(), Ok(4));
}

#[test]
fn compact_gives_memory_back_when_the_log_is_mostly_gone() {
    let storage = MemStorage::new();
    let terms = vec![1; 1000];
    storage.wl().append(&ents_from(1, &terms)).unwrap();
    storage.wl().compact(990).unwrap();
    let core = storage.rl();
    assert_eq!(core.entries_vec(), ents_from(991, &[1; 10]).as_slice());
    assert!(
        core.entries.capacity() <= 20,
        "capacity {}",
        core.entries.capacity()
    );
}

#[test]
fn create_snapshot_takes_the_term_and_the_given_conf_state() {
    let cs = ConfState {
        voters: vec![1, 2, 3],
        ..ConfState::default()
    };
    for index in [4, 5] {
        let storage = storage_3_4_5();
        // Clear the configuration the fixture's snapshot carries to see where it comes from.
        storage.wl().snapshot = None;
        let data = Bytes::from_static(b"state");
        let got = storage
            .wl()
            .create_snapshot(index, Some(cs.clone()), data.clone())
            .unwrap();
        let want = Snapshot {
            data,
            metadata: Some(SnapshotMetadata {
                conf_state: Some(cs.clone()),
                index,
                term: index,
            }),
        };
        assert_eq!(got, want);
        assert_eq!(storage.rl().snapshot(), want);
        assert_eq!(storage.snapshot(index, 2), Ok(want));
        assert_eq!(
            storage.first_index(),
            Ok(4),
            "creating a snapshot does not compact"
        );
    }
}

#[test]
fn create_snapshot_rejects_old_or_unknown_indexes() {
    let storage = storage_3_4_5();
    let out_of_date = Err(storage_err(StorageError::SnapshotOutOfDate));
    assert_eq!(
        storage.wl().create_snapshot(3, None, Bytes::new()),
        out_of_date
    );
    storage.wl().create_snapshot(5, None, Bytes::new()).unwrap();
    assert_eq!(
        storage.wl().create_snapshot(4, None, Bytes::new()),
        out_of_date
    );
    assert_eq!(
        storage.wl().create_snapshot(5, None, Bytes::new()),
        out_of_date
    );
    let unavailable = Err(storage_err(StorageError::Unavailable));
    assert_eq!(
        storage.wl().create_snapshot(6, None, Bytes::new()),
        unavailable
    );
    assert_eq!(
        storage.rl().snapshot().index(),
        5,
        "failed calls leave the snapshot"
    );

    // Compacted past an index that no snapshot covers: its term is gone.
    let storage = MemStorage::new();
    storage.wl().append(&ents_from(1, &[1, 1, 2])).unwrap();
    storage.wl().compact(2).unwrap();
    let compacted = Err(storage_err(StorageError::Compacted));
    assert_eq!(
        storage.wl().create_snapshot(1, None, Bytes::new()),
        compacted
    );
    assert_eq!(
        storage
            .wl()
            .create_snapshot(2, None, Bytes::new())
            .unwrap()
            .term(),
        1
    );
}

#[test]
fn create_snapshot_without_conf_state_keeps_the_previous_one() {
    let storage = storage_3_4_5();
    let got = storage.wl().create_snapshot(5, None, Bytes::new()).unwrap();
    assert_eq!(got.meta().conf_state, snap(3, 3).meta().conf_state);
}

#[test]
fn create_snapshot_with_conf_state_becomes_the_initial_conf_state() {
    let storage = storage_3_4_5();
    let cs = ConfState {
        voters: vec![7],
        ..ConfState::default()
    };
    storage
        .wl()
        .create_snapshot(4, Some(cs.clone()), Bytes::new())
        .unwrap();
    assert_eq!(storage.initial_state().unwrap().conf_state, cs);
}

#[test]
fn append_truncates_conflicts_and_skips_compacted_entries() {
    let cases: [(Vec<Entry>, Vec<Entry>); 6] = [
        (ents_from(4, &[4, 5]), ents_from(4, &[4, 5])),
        (ents_from(4, &[6, 6]), ents_from(4, &[6, 6])),
        (ents_from(4, &[4, 5, 5]), ents_from(4, &[4, 5, 5])),
        // Entries at or below the compaction point are already in the snapshot.
        (ents_from(2, &[3, 3, 5]), ents_from(4, &[5])),
        // Everything from the first new index on is replaced.
        (ents_from(4, &[5]), ents_from(4, &[5])),
        (ents_from(6, &[5]), ents_from(4, &[4, 5, 5])),
    ];
    for (appended, want) in cases {
        let storage = storage_3_4_5();
        storage.wl().append(&appended).unwrap();
        assert_eq!(
            storage.rl().entries_vec(),
            want.as_slice(),
            "append {appended:?}"
        );
    }
}

#[test]
fn append_of_compacted_entries_only_changes_nothing() {
    let storage = storage_3_4_5();
    storage.wl().append(&ents_from(1, &[1, 2, 9])).unwrap();
    assert_eq!(storage.rl().entries_vec(), ents_from(4, &[4, 5]).as_slice());
    storage.wl().append(&[]).unwrap();
    assert_eq!(storage.last_index(), Ok(5));
}

#[test]
fn append_with_a_gap_fails_and_leaves_the_log_unchanged() {
    let storage = storage_3_4_5();
    let res = storage.wl().append(&ents_from(7, &[5]));
    assert!(
        matches!(res, Err(Error::Storage(StorageError::Other(_)))),
        "{res:?}"
    );
    assert_eq!(storage.rl().entries_vec(), ents_from(4, &[4, 5]).as_slice());
}

#[test]
fn apply_snapshot_replaces_the_log_and_the_conf_state() {
    let storage = storage_3_4_5();
    let mut newer = snap(4, 4);
    newer.metadata.as_mut().unwrap().conf_state = Some(ConfState {
        voters: vec![4, 5],
        ..ConfState::default()
    });
    storage.wl().apply_snapshot(newer.clone()).unwrap();
    assert_eq!(
        (storage.first_index(), storage.last_index()),
        (Ok(5), Ok(4))
    );
    assert_eq!(storage.term(4), Ok(4));
    assert_eq!(
        storage.initial_state().unwrap().conf_state.voters,
        vec![4, 5]
    );
    assert_eq!(storage.snapshot(0, 1), Ok(newer));
    assert!(storage.rl().entries_vec().is_empty());
}

#[test]
fn apply_snapshot_rejects_an_older_or_equal_snapshot() {
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snap(4, 4)).unwrap();
    let out_of_date = Err(storage_err(StorageError::SnapshotOutOfDate));
    assert_eq!(storage.wl().apply_snapshot(snap(3, 3)), out_of_date);
    assert_eq!(storage.wl().apply_snapshot(snap(4, 4)), out_of_date);
    assert_eq!(storage.rl().snapshot().index(), 4);
}

#[test]
fn apply_snapshot_at_index_zero_sets_the_initial_configuration() {
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snap(0, 0)).unwrap();
    assert_eq!(
        storage.initial_state().unwrap().conf_state.voters,
        vec![1, 2, 3]
    );
    assert_eq!(storage.first_index(), Ok(1));
    // Still no real snapshot: another bootstrap snapshot is accepted.
    storage.wl().apply_snapshot(snap(0, 0)).unwrap();
}

#[test]
fn snapshot_unavailable_trigger_fires_once() {
    let storage = storage_3_4_5();
    storage.wl().trigger_snapshot_unavailable();
    let unavailable = Err(storage_err(StorageError::SnapshotTemporarilyUnavailable));
    assert_eq!(storage.snapshot(0, 2), unavailable);
    assert_eq!(storage.snapshot(0, 2), Ok(snap(3, 3)));
}

#[test]
fn snapshot_older_than_the_request_is_temporarily_unavailable() {
    let storage = storage_3_4_5();
    let unavailable = Err(storage_err(StorageError::SnapshotTemporarilyUnavailable));
    assert_eq!(storage.snapshot(4, 2), unavailable);
    assert_eq!(storage.snapshot(3, 2), Ok(snap(3, 3)));
    storage.wl().create_snapshot(5, None, Bytes::new()).unwrap();
    assert_eq!(storage.snapshot(4, 2).unwrap().index(), 5);
}

#[test]
fn commit_to_sets_the_commit_index_within_the_log() {
    let storage = storage_3_4_5();
    storage.wl().commit_to(5).unwrap();
    assert_eq!(storage.rl().hard_state().commit, 5);
    assert_eq!(
        storage.wl().commit_to(6),
        Err(storage_err(StorageError::Unavailable))
    );
    assert_eq!(storage.initial_state().unwrap().hard_state.commit, 5);
}

#[test]
fn set_hard_state_and_conf_state_are_reported_by_initial_state() {
    let storage = MemStorage::new();
    let hs = HardState {
        term: 3,
        vote: 2,
        commit: 0,
    };
    let cs = ConfState {
        voters: vec![2],
        ..ConfState::default()
    };
    storage.wl().set_hard_state(hs);
    storage.wl().set_conf_state(cs.clone());
    assert_eq!(storage.initial_state(), Ok(RaftState::new(hs, cs)));
    assert_eq!(*storage.rl().hard_state(), hs);
}

#[test]
fn clones_share_the_same_state() {
    let storage = MemStorage::new();
    let clone = storage.clone();
    clone.wl().append(&ents_from(1, &[1, 1])).unwrap();
    assert_eq!(storage.last_index(), Ok(2));
}

#[test]
fn size_limited_len_keeps_at_least_one_entry() {
    let ents = vec![
        Entry::new(1, 1, Bytes::from_static(&[0; 10])),
        Entry::new(2, 1, Bytes::from_static(&[0; 20])),
        Entry::new(3, 1, Bytes::new()),
    ];
    let (a, b, c) = (ents[0].size(), ents[1].size(), ents[2].size());
    let cases = [
        (0, 1),
        (a, 1),
        (a + b - 1, 1),
        (a + b, 2),
        (a + b + c - 1, 2),
        (a + b + c, 3),
    ];
    for (max_size, want) in cases {
        assert_eq!(size_limited_len(&ents, max_size), want, "max {max_size}");
    }
    assert_eq!(size_limited_len(&ents, NO_LIMIT), 3);
    assert_eq!(size_limited_len(&[], 0), 0);
    let mut limited = ents.clone();
    limit_size(&mut limited, a + b);
    assert_eq!(limited, ents[..2]);
}

#[test]
fn drop_entries_prefix_keeps_the_tail() {
    for (len, n) in [(10, 0), (10, 3), (10, 9), (10, 10), (100, 99)] {
        let terms = vec![7; len];
        let mut ents = ents_from(1, &terms);
        drop_entries_prefix(&mut ents, n);
        assert_eq!(
            ents,
            ents_from(n as u64 + 1, &terms[n..]),
            "len {len}, n {n}"
        );
        assert!(ents.capacity() <= len.max(2 * ents.len()));
    }
}

/// One step of the storage model test.
#[derive(Debug, Clone)]
enum Op {
    Append {
        start: u64,
        terms: Vec<u64>,
        data_len: usize,
    },
    Compact(u64),
    Read {
        lo: u64,
        hi: u64,
        max_size: u64,
    },
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..30, prop::collection::vec(1u64..4, 0..8), 0usize..40)
            .prop_map(|(start, terms, data_len)| Op::Append { start, terms, data_len }),
        1 => (0u64..32).prop_map(Op::Compact),
        2 => (0u64..32, 0u64..32, 0u64..200)
            .prop_map(|(lo, hi, max_size)| Op::Read { lo, hi, max_size }),
    ]
}

/// The reference: a compaction point and a plain vector of (term, payload length).
#[derive(Default)]
struct Model {
    compacted: (u64, u64),
    log: Vec<(u64, usize)>,
}

impl Model {
    fn first(&self) -> u64 {
        self.compacted.0 + 1
    }

    fn last(&self) -> u64 {
        self.compacted.0 + self.log.len() as u64
    }

    fn entry(&self, index: u64) -> Entry {
        let (term, data_len) = self.log[(index - self.first()) as usize];
        Entry::new(index, term, Bytes::from(vec![0; data_len]))
    }

    /// Whether the append succeeds, after applying it.
    fn append(&mut self, start: u64, terms: &[u64], data_len: usize) -> bool {
        if terms.is_empty() || start + terms.len() as u64 - 1 < self.first() {
            return true;
        }
        let skip = self.first().saturating_sub(start);
        let start = start + skip;
        if start > self.last() + 1 {
            return false;
        }
        self.log.truncate((start - self.first()) as usize);
        self.log
            .extend(terms[skip as usize..].iter().map(|&t| (t, data_len)));
        true
    }

    fn compact(&mut self, index: u64) -> Result<()> {
        if index <= self.compacted.0 {
            return Err(storage_err(StorageError::Compacted));
        }
        if index > self.last() {
            return Err(storage_err(StorageError::Unavailable));
        }
        let n = (index - self.compacted.0) as usize;
        self.compacted = (index, self.log[n - 1].0);
        self.log.drain(..n);
        Ok(())
    }

    fn read(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>> {
        if lo <= self.compacted.0 {
            return Err(storage_err(StorageError::Compacted));
        }
        if hi > self.last() + 1 {
            return Err(storage_err(StorageError::Unavailable));
        }
        let mut out: Vec<Entry> = (lo..hi).map(|i| self.entry(i)).collect();
        let mut size = 0;
        let keep = out
            .iter()
            .position(|e| {
                size += e.size();
                size > max_size
            })
            .map_or(out.len(), |p| p.max(1));
        out.truncate(keep);
        Ok(out)
    }

    fn check(&self, storage: &MemStorage) {
        assert_eq!(storage.first_index(), Ok(self.first()));
        assert_eq!(storage.last_index(), Ok(self.last()));
        for i in 0..=self.last() + 1 {
            let want = if i < self.compacted.0 {
                Err(storage_err(StorageError::Compacted))
            } else if i == self.compacted.0 {
                Ok(self.compacted.1)
            } else if i <= self.last() {
                Ok(self.log[(i - self.first()) as usize].0)
            } else {
                Err(storage_err(StorageError::Unavailable))
            };
            assert_eq!(storage.term(i), want, "term({i})");
        }
        let want: Vec<Entry> = (self.first()..=self.last())
            .map(|i| self.entry(i))
            .collect();
        assert_eq!(storage.rl().entries_vec(), want.as_slice());
    }
}

proptest! {
    #[test]
    fn mem_storage_behaves_like_a_vec_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        let storage = MemStorage::new();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Append { start, terms, data_len } => {
                    let ents: Vec<Entry> = terms
                        .iter()
                        .zip(start..)
                        .map(|(&t, i)| Entry::new(i, t, Bytes::from(vec![0; data_len])))
                        .collect();
                    let ok = model.append(start, &terms, data_len);
                    prop_assert_eq!(storage.wl().append(&ents).is_ok(), ok);
                }
                Op::Compact(index) => {
                    prop_assert_eq!(storage.wl().compact(index), model.compact(index));
                }
                Op::Read { lo, hi, max_size } => {
                    let (lo, hi) = (lo.min(hi), lo.max(hi));
                    prop_assert_eq!(
                        storage.entries(lo, hi, max_size),
                        model.read(lo, hi, max_size)
                    );
                }
            }
            model.check(&storage);
        }
    }
}

#[test]
fn append_owned_matches_append() {
    // Skipping below the compaction point, overwriting a suffix, extending, and leaving a gap.
    let cases: Vec<Vec<Entry>> = vec![
        ents_from(1, &[1, 1, 1]),
        ents_from(3, &[3, 4, 5]),
        ents_from(4, &[6, 6]),
        ents_from(6, &[5, 5]),
        ents_from(7, &[5]),
        vec![],
    ];
    for ents in cases {
        let by_ref = storage_3_4_5();
        let by_value = storage_3_4_5();
        let want = by_ref.wl().append(&ents);
        let got = by_value.wl().append_owned(ents.clone());
        assert_eq!(got, want, "result for {ents:?}");
        assert_eq!(
            by_value.rl().entries_vec(),
            by_ref.rl().entries_vec(),
            "log after appending {ents:?}"
        );
    }
}
