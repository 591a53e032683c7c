//! Unit and model tests of [`RaftLog`](super::RaftLog).

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::storage::MemStorage;
use crate::storage::tests::{ent, ents_from, snap};

fn new_log(storage: MemStorage) -> RaftLog<MemStorage> {
    RaftLog::new(storage, NO_LIMIT).unwrap()
}

/// A log over an empty storage holding `terms` from index 1 in its unstable tail.
fn unstable_log(terms: &[u64]) -> RaftLog<MemStorage> {
    let mut log = new_log(MemStorage::new());
    log.append(&ents_from(1, terms));
    log
}

/// A storage whose log starts after a snapshot at (`index`, `term`).
fn storage_after(index: u64, term: u64) -> MemStorage {
    let storage = MemStorage::new();
    storage.wl().apply_snapshot(snap(index, term)).unwrap();
    storage
}

/// Entries at consecutive indexes from `first`, with the term of each equal to its index.
fn ents_indexed(first: u64, last: u64) -> Vec<Entry> {
    (first..=last).map(|i| ent(i, i)).collect()
}

fn compacted() -> Error {
    Error::Storage(StorageError::Compacted)
}

#[test]
fn new_log_starts_at_the_compaction_point() {
    let log = new_log(storage_after(1000, 1000));
    assert!(log.all_entries().is_empty());
    assert_eq!(log.first_index(), 1001);
    assert_eq!(log.last_index(), 1000);
    assert_eq!(
        (log.committed, log.applying, log.applied),
        (1000, 1000, 1000)
    );
    assert_eq!(log.unstable.offset, 1001);
    assert_eq!(log.term(1000), Ok(1000));
    assert_eq!(log.last_term(), 1000);
}

#[test]
fn new_log_rejects_a_zero_applying_budget() {
    let res = RaftLog::new(MemStorage::new(), 0);
    assert!(matches!(
        res,
        Err(Error::ConfigInvalid {
            field: "max_applying_size",
            ..
        })
    ));
}

/// A storage with the given (first, last) index bounds and nothing in it.
struct Bounds(u64, u64);

impl Storage for Bounds {
    fn initial_state(&self) -> Result<crate::storage::RaftState> {
        Ok(crate::storage::RaftState::default())
    }

    fn entries(&self, _low: u64, _high: u64, _max_size: u64) -> Result<Vec<Entry>> {
        Ok(Vec::new())
    }

    fn term(&self, _index: u64) -> Result<u64> {
        Ok(0)
    }

    fn first_index(&self) -> Result<u64> {
        Ok(self.0)
    }

    fn last_index(&self) -> Result<u64> {
        Ok(self.1)
    }

    fn snapshot(&self, _request_index: u64, _to: u64) -> Result<Snapshot> {
        Ok(Snapshot::default())
    }
}

#[test]
fn new_log_rejects_impossible_storage_bounds() {
    for (first, last) in [(0, 0), (5, 3)] {
        let res = RaftLog::new(Bounds(first, last), NO_LIMIT);
        assert!(
            matches!(res, Err(Error::Storage(StorageError::Other(_)))),
            "first {first}, last {last}"
        );
    }
    let log = RaftLog::new(Bounds(4, 3), NO_LIMIT).unwrap();
    assert_eq!((log.committed, log.unstable.offset), (3, 4));
}

#[test]
fn find_conflict_returns_the_first_new_or_conflicting_index() {
    let log = unstable_log(&[1, 2, 3]);
    let cases = [
        (vec![], 0),
        (ents_from(1, &[1, 2, 3]), 0),
        (ents_from(2, &[2, 3]), 0),
        (ents_from(3, &[3]), 0),
        (ents_from(1, &[1, 2, 3, 4, 4]), 4),
        (ents_from(2, &[2, 3, 4, 5]), 4),
        (ents_from(3, &[3, 4, 4]), 4),
        (ents_from(4, &[4, 4]), 4),
        (ents_from(1, &[4, 4]), 1),
        (ents_from(2, &[1, 4, 4]), 2),
        (ents_from(3, &[1, 2, 4, 4]), 3),
    ];
    for (ents, want) in cases {
        assert_eq!(log.find_conflict(&ents), want, "{ents:?}");
    }
}

#[test]
fn find_conflict_by_term_finds_the_last_possible_match() {
    // (snapshot index, terms after it, index, term, wanted index)
    let from_start = [0, 2, 2, 5, 5, 5];
    let compacted = [3, 3, 3, 4, 4, 4];
    let cases = [
        (0, &from_start, 100, 2, 100),
        (0, &from_start, 5, 6, 5),
        (0, &from_start, 5, 5, 5),
        (0, &from_start, 5, 4, 2),
        (0, &from_start, 5, 2, 2),
        (0, &from_start, 5, 1, 0),
        (0, &from_start, 1, 2, 1),
        (0, &from_start, 1, 1, 0),
        (0, &from_start, 0, 0, 0),
        (10, &compacted, 30, 3, 30),
        (10, &compacted, 14, 9, 14),
        (10, &compacted, 14, 4, 14),
        (10, &compacted, 14, 3, 12),
        (10, &compacted, 14, 2, 9),
        (10, &compacted, 11, 5, 11),
        (10, &compacted, 10, 5, 10),
        (10, &compacted, 10, 3, 10),
        (10, &compacted, 10, 2, 9),
        (10, &compacted, 9, 2, 9),
        (10, &compacted, 4, 2, 4),
        (10, &compacted, 0, 0, 0),
    ];
    for (snap_index, terms, index, term, want) in cases {
        let mut log = new_log(storage_after(snap_index, terms[0]));
        log.append(&ents_from(snap_index + 1, &terms[1..]));
        let (got, got_term) = log.find_conflict_by_term(index, term);
        assert_eq!(got, want, "find_conflict_by_term({index}, {term})");
        assert_eq!(got_term, log.term(got).unwrap_or(0), "term of {got}");
    }
}

#[test]
fn is_up_to_date_compares_last_term_then_length() {
    let log = unstable_log(&[1, 2, 3]);
    let cases = [
        (2, 4, true),
        (3, 4, true),
        (4, 4, true),
        (2, 2, false),
        (3, 2, false),
        (4, 2, false),
        (2, 3, false),
        (3, 3, true),
        (4, 3, true),
    ];
    for (last_index, term, want) in cases {
        assert_eq!(
            log.is_up_to_date(last_index, term),
            want,
            "({last_index}, {term})"
        );
    }
}

#[test]
fn append_truncates_at_the_first_new_entry() {
    // (appended, wanted last index, wanted log, wanted unstable offset)
    let cases = [
        (vec![], 2, ents_from(1, &[1, 2]), 3),
        (ents_from(3, &[2]), 3, ents_from(1, &[1, 2, 2]), 3),
        (ents_from(1, &[2]), 1, ents_from(1, &[2]), 1),
        (ents_from(2, &[3, 3]), 3, ents_from(1, &[1, 3, 3]), 2),
    ];
    for (appended, last, want, offset) in cases {
        let storage = MemStorage::new();
        storage.wl().append(&ents_from(1, &[1, 2])).unwrap();
        let mut log = new_log(storage);
        assert_eq!(log.append(&appended), last);
        assert_eq!(log.entries(1, NO_LIMIT), Ok(want));
        assert_eq!(log.unstable.offset, offset);
    }
}

#[test]
fn append_owned_matches_append() {
    for appended in [
        vec![],
        ents_from(3, &[2]),
        ents_from(1, &[2]),
        ents_from(2, &[3, 3]),
    ] {
        let mut borrowed = unstable_log(&[1, 2]);
        let mut owned = unstable_log(&[1, 2]);
        assert_eq!(
            owned.append_owned(appended.clone()),
            borrowed.append(&appended)
        );
        assert_eq!(owned.unstable, borrowed.unstable);
    }
}

#[test]
#[should_panic(expected = "would overwrite committed entries")]
fn append_over_committed_entries_panics() {
    let mut log = unstable_log(&[1, 2, 3]);
    log.commit_to(2);
    log.append(&ents_from(2, &[4]));
}

#[test]
fn maybe_append_appends_after_a_matching_entry() {
    // The log holds terms [1, 2, 3] and has committed 1.
    // (prev index, prev term, committed, new entries, wanted result, wanted commit)
    let cases = [
        // No match: another term, or past the end.
        (3, 2, 3, ents_from(4, &[4]), None, 1),
        (4, 3, 3, ents_from(5, &[4]), None, 1),
        // Match at the last entry.
        (3, 3, 3, vec![], Some(3), 3),
        (3, 3, 4, vec![], Some(3), 3),
        (3, 3, 2, vec![], Some(3), 2),
        (3, 3, 0, vec![], Some(3), 1),
        (0, 0, 3, vec![], Some(0), 1),
        (3, 3, 3, ents_from(4, &[4]), Some(4), 3),
        (3, 3, 4, ents_from(4, &[4]), Some(4), 4),
        (3, 3, 5, ents_from(4, &[4]), Some(4), 4),
        (3, 3, 5, ents_from(4, &[4, 4]), Some(5), 5),
        // Match in the middle: the conflicting suffix is replaced.
        (2, 2, 3, ents_from(3, &[4]), Some(3), 3),
        (1, 1, 3, ents_from(2, &[4]), Some(2), 2),
        (1, 1, 3, ents_from(2, &[4, 4]), Some(3), 3),
        // Entries that are already present change nothing.
        (1, 1, 2, ents_from(2, &[2]), Some(2), 2),
    ];
    for (index, log_term, committed, ents, want, want_commit) in cases {
        let mut log = unstable_log(&[1, 2, 3]);
        log.commit_to(1);
        let got = log.maybe_append(index, log_term, committed, &ents);
        assert_eq!(
            got, want,
            "maybe_append({index}, {log_term}, {committed}, {ents:?})"
        );
        assert_eq!(
            log.committed, want_commit,
            "commit after ({index}, {log_term})"
        );
        if got.is_some() && !ents.is_empty() {
            let last = ents.last().unwrap().index;
            assert_eq!(log.slice(ents[0].index, last + 1, NO_LIMIT), Ok(ents));
        }
    }
}

#[test]
#[should_panic(expected = "conflicts with a committed entry")]
fn maybe_append_over_a_committed_entry_panics() {
    let mut log = unstable_log(&[1, 2, 3]);
    log.commit_to(1);
    log.maybe_append(0, 0, 3, &ents_from(1, &[4]));
}

#[test]
fn match_term_is_false_outside_the_log_even_for_term_zero() {
    let mut log = unstable_log(&[1, 2, 3]);
    assert!(log.match_term(0, 0));
    assert!(log.match_term(3, 3));
    assert!(!log.match_term(4, 0));
    assert_eq!(log.term(4), Err(Error::Storage(StorageError::Unavailable)));
    assert_eq!(
        log.maybe_append(5, 0, 0, &ents_from(6, &[1])),
        None,
        "no gap is created"
    );
}

#[test]
fn compaction_keeps_every_read_working() {
    // Goal: reads of terms, entries and unstable entries still work after storage compacts
    // under the log. Method: 750 stable and 250 unstable entries, compact storage to 500.
    let storage = MemStorage::new();
    storage.wl().append(&ents_indexed(1, 750)).unwrap();
    let mut log = new_log(storage.clone());
    log.append(&ents_indexed(751, 1000));
    assert!(log.maybe_commit(1000, 1000));
    log.applied_to(log.committed, 0);

    storage.wl().compact(500).unwrap();
    assert_eq!(log.last_index(), 1000);
    for i in 500..=1000 {
        assert_eq!(log.term(i), Ok(i));
        assert!(log.match_term(i, i));
    }
    let unstable = log.next_unstable_ents();
    assert_eq!((unstable.len(), unstable[0].index), (250, 751));

    assert_eq!(log.append(&[ent(1001, 1001)]), 1001);
    assert_eq!(log.entries(1001, NO_LIMIT).unwrap().len(), 1);
}

/// The fixture of etcd's committed-entries tests: storage after a snapshot at (3, 1) holding
/// entry 4; the log appends 4..=6, entry 4 is stable, and 5 is committed.
fn committed_fixture(max_applying_size: u64) -> RaftLog<MemStorage> {
    let storage = storage_after(3, 1);
    storage.wl().append(&ents_from(4, &[1])).unwrap();
    let mut log = RaftLog::new(storage, max_applying_size).unwrap();
    log.append(&ents_from(4, &[1, 1, 1]));
    log.stable_to(4, 1);
    assert!(log.maybe_commit(5, 1));
    log
}

/// (applied, applying, allow unstable, paused, snapshot pending, wanted entries).
type CommittedCase = (u64, u64, bool, bool, bool, Vec<Entry>);

fn committed_cases() -> Vec<CommittedCase> {
    let ents = ents_from(4, &[1, 1]);
    vec![
        (3, 3, true, false, false, ents.clone()),
        (3, 4, true, false, false, ents[1..].to_vec()),
        (3, 5, true, false, false, vec![]),
        (4, 4, true, false, false, ents[1..].to_vec()),
        (4, 5, true, false, false, vec![]),
        (5, 5, true, false, false, vec![]),
        // Entry 5 is not durable yet.
        (3, 3, false, false, false, ents[..1].to_vec()),
        (3, 4, false, false, false, vec![]),
        (3, 5, false, false, false, vec![]),
        (4, 4, false, false, false, vec![]),
        (4, 5, false, false, false, vec![]),
        (5, 5, false, false, false, vec![]),
        (3, 3, true, true, false, vec![]),
        (3, 3, true, false, true, vec![]),
    ]
}

fn committed_case_log(case: &CommittedCase) -> RaftLog<MemStorage> {
    let &(applied, applying, allow_unstable, paused, snapshot, _) = case;
    let mut log = committed_fixture(NO_LIMIT);
    log.applied_to(applied, 0);
    log.accept_applying(applying, 0, allow_unstable);
    log.applying_paused = paused;
    if snapshot {
        log.restore(snap(4, 1));
    }
    log
}

#[test]
fn has_next_committed_ents_follows_cursors_pause_and_snapshot() {
    for case in committed_cases() {
        let log = committed_case_log(&case);
        assert_eq!(
            log.has_next_committed_ents(case.2),
            !case.5.is_empty(),
            "{case:?}"
        );
    }
}

#[test]
fn next_committed_ents_follows_cursors_pause_and_snapshot() {
    for case in committed_cases() {
        let log = committed_case_log(&case);
        assert_eq!(log.next_committed_ents(case.2), case.5, "{case:?}");
    }
}

#[test]
fn next_committed_ents_stays_within_the_applying_budget() {
    let storage = MemStorage::new();
    let ents: Vec<Entry> = (1..=5)
        .map(|i| Entry::new(i, 1, Bytes::from_static(&[0; 10])))
        .collect();
    let size = ents[0].size();
    storage.wl().append(&ents).unwrap();
    let mut log = RaftLog::new(storage, size * 2 + size / 2).unwrap();
    log.commit_to(5);

    assert_eq!(log.next_committed_ents(false), ents[..2]);
    log.accept_applying(2, size * 2, false);
    assert!(log.applying_paused, "the batch was cut short by the budget");
    assert!(log.next_committed_ents(false).is_empty());

    log.applied_to(2, size * 2);
    assert_eq!((log.applying_size(), log.applying_paused), (0, false));
    assert_eq!(log.next_committed_ents(false), ents[2..4]);

    // A budget smaller than one entry still lets one through.
    let mut small = RaftLog::new(log.store.clone(), 1).unwrap();
    small.commit_to(5);
    assert_eq!(small.next_committed_ents(true), ents[..1]);
}

#[test]
fn accept_applying_pauses_when_the_budget_is_spent_or_the_batch_was_cut() {
    let max = 100;
    // (applying index, allow unstable, size, wanted paused)
    let cases = [
        (3, true, max - 1, true),
        (3, true, max, true),
        (3, true, max + 1, true),
        (4, true, max - 1, true),
        (4, true, max, true),
        (4, true, max + 1, true),
        (5, true, max - 1, false),
        (5, true, max, true),
        (5, true, max + 1, true),
        (3, false, max - 1, true),
        (3, false, max, true),
        (3, false, max + 1, true),
        (4, false, max - 1, false),
        (4, false, max, true),
        (4, false, max + 1, true),
        (5, false, max - 1, false),
        (5, false, max, true),
        (5, false, max + 1, true),
    ];
    for (index, allow_unstable, size, paused) in cases {
        let mut log = committed_fixture(max);
        log.applied_to(3, 0);
        log.accept_applying(index, size, allow_unstable);
        assert_eq!(
            log.applying_paused, paused,
            "({index}, {allow_unstable}, {size})"
        );
    }
}

#[test]
fn applied_to_frees_the_budget_without_underflow() {
    let (max, overshoot) = (100, 5);
    // (applied index, freed size, wanted applying size, wanted paused)
    let cases = [
        (4, overshoot - 1, max + 1, true),
        (4, overshoot, max, true),
        (4, overshoot + 1, max - 1, false),
        (5, overshoot - 1, max + 1, true),
        (5, overshoot, max, true),
        (5, overshoot + 1, max - 1, false),
        (4, max + overshoot, 0, false),
        (4, max + overshoot + 1, 0, false),
    ];
    for (index, size, applying_size, paused) in cases {
        let mut log = committed_fixture(max);
        log.applied_to(3, 0);
        log.accept_applying(5, max + overshoot, false);
        log.applied_to(index, size);
        assert_eq!((log.applied, log.applying), (index, 5));
        assert_eq!(log.applying_size(), applying_size, "({index}, {size})");
        assert_eq!(log.applying_paused, paused, "({index}, {size})");
    }
}

#[test]
#[should_panic(expected = "applied index 2 out of range")]
fn applied_to_backwards_panics() {
    let mut log = committed_fixture(NO_LIMIT);
    log.applied_to(4, 0);
    log.applied_to(2, 0);
}

#[test]
fn next_unstable_ents_are_the_entries_not_in_storage() {
    let previous = ents_from(1, &[1, 2]);
    for (stable_len, want) in [(2, vec![]), (0, previous.clone())] {
        let storage = MemStorage::new();
        storage.wl().append(&previous[..stable_len]).unwrap();
        let mut log = new_log(storage);
        log.append(&previous[stable_len..]);
        let ents = log.next_unstable_ents().to_vec();
        if let Some(last) = ents.last() {
            log.stable_to(last.index, last.term);
        }
        assert_eq!(ents, want);
        assert_eq!(log.unstable.offset, 3);
    }
}

#[test]
fn accept_unstable_hides_what_is_being_written() {
    let mut log = unstable_log(&[1, 1]);
    log.restore(snap(5, 1));
    log.append(&ents_from(6, &[1]));
    assert!(log.has_next_unstable_ents() && log.has_next_unstable_snapshot());
    log.accept_unstable();
    assert!(!log.has_next_unstable_ents() && !log.has_next_unstable_snapshot());
    assert!(log.has_next_or_in_progress_unstable_ents());
    assert!(log.has_next_or_in_progress_snapshot());
    assert_eq!(log.next_unstable_snapshot(), None);

    log.stable_snap_to(5);
    log.stable_to(6, 1);
    assert!(!log.has_next_or_in_progress_unstable_ents());
    assert!(!log.has_next_or_in_progress_snapshot());
}

#[test]
fn commit_to_never_decreases() {
    for (to, want) in [(3, 3), (1, 2)] {
        let mut log = unstable_log(&[1, 2, 3]);
        log.commit_to(2);
        log.commit_to(to);
        assert_eq!(log.committed, want);
    }
}

#[test]
#[should_panic(expected = "past the last index")]
fn commit_to_past_the_last_index_panics() {
    let mut log = unstable_log(&[1, 2, 3]);
    log.commit_to(4);
}

#[test]
fn stable_to_moves_the_unstable_offset_only_on_a_match() {
    for (index, term, offset) in [(1, 1, 2), (2, 2, 3), (2, 1, 1), (3, 1, 1)] {
        let mut log = unstable_log(&[1, 2]);
        log.stable_to(index, term);
        assert_eq!(log.unstable.offset, offset, "stable_to({index}, {term})");
    }
}

#[test]
fn stable_to_after_a_snapshot_ignores_the_snapshot_index() {
    let (snap_index, snap_term) = (5, 2);
    let after = ents_from(snap_index + 1, &[snap_term]);
    // (stable index, stable term, appended, wanted offset)
    let cases = [
        (snap_index + 1, snap_term, vec![], snap_index + 1),
        (snap_index, snap_term, vec![], snap_index + 1),
        (snap_index - 1, snap_term, vec![], snap_index + 1),
        (snap_index + 1, snap_term + 1, vec![], snap_index + 1),
        (snap_index, snap_term + 1, vec![], snap_index + 1),
        (snap_index - 1, snap_term + 1, vec![], snap_index + 1),
        (snap_index + 1, snap_term, after.clone(), snap_index + 2),
        (snap_index, snap_term, after.clone(), snap_index + 1),
        (snap_index - 1, snap_term, after.clone(), snap_index + 1),
        (snap_index + 1, snap_term + 1, after.clone(), snap_index + 1),
        (snap_index, snap_term + 1, after.clone(), snap_index + 1),
        (snap_index - 1, snap_term + 1, after.clone(), snap_index + 1),
    ];
    for (index, term, appended, offset) in cases {
        let mut log = new_log(storage_after(snap_index, snap_term));
        log.append(&appended);
        log.stable_to(index, term);
        assert_eq!(log.unstable.offset, offset, "stable_to({index}, {term})");
    }
}

#[test]
fn stale_write_acknowledgement_after_replacement_is_ignored() {
    // Goal: the ABA race through the whole log. A write of entries 1..=2 at term 1 is in
    // flight when a new leader replaces them with entry 1 at term 2. The old write lands in
    // storage and is acknowledged; the new entry must stay unstable and be written again.
    let storage = MemStorage::new();
    let mut log = new_log(storage.clone());
    log.append(&ents_from(1, &[1, 1]));
    let in_flight = log.next_unstable_ents().to_vec();
    log.accept_unstable();

    assert_eq!(log.maybe_append(0, 0, 0, &ents_from(1, &[2])), Some(1));
    storage.wl().append(&in_flight).unwrap();
    log.stable_to(2, 1);
    log.stable_to(1, 1);

    assert_eq!(log.unstable.offset, 1);
    assert_eq!(log.next_unstable_ents(), ents_from(1, &[2]).as_slice());
    assert_eq!(
        (log.last_index(), log.term(1), log.term(2).unwrap_or(0)),
        (1, Ok(2), 0)
    );
    assert_eq!(log.all_entries(), ents_from(1, &[2]));

    let rewrite = log.next_unstable_ents().to_vec();
    log.accept_unstable();
    storage.wl().append(&rewrite).unwrap();
    log.stable_to(1, 2);
    assert!(!log.has_next_or_in_progress_unstable_ents());
    assert_eq!(log.all_entries(), ents_from(1, &[2]));
}

#[test]
fn compaction_bounds_all_entries() {
    let storage = MemStorage::new();
    storage.wl().append(&ents_indexed(1, 1000)).unwrap();
    let log = new_log(storage.clone());
    for (compact, left) in [(300, 700), (500, 500), (800, 200), (900, 100)] {
        storage.wl().compact(compact).unwrap();
        assert_eq!(log.all_entries().len(), left);
    }
    assert!(storage.wl().compact(899).is_err());
    assert!(storage.wl().compact(1001).is_err());
    assert_eq!(log.all_entries().len(), 100);
}

/// A log after a snapshot at (100, 0) holding entries 101..=200, all unstable.
fn hundred_log() -> RaftLog<MemStorage> {
    let mut log = new_log(storage_after(100, 0));
    log.append(&ents_indexed(101, 200));
    log
}

#[test]
fn slice_below_the_first_index_is_compacted() {
    let log = hundred_log();
    assert_eq!(log.slice(99, 102, NO_LIMIT), Err(compacted()));
    assert_eq!(log.slice(100, 102, NO_LIMIT), Err(compacted()));
    for (lo, hi) in [(101, 101), (150, 150), (200, 200), (201, 201)] {
        assert_eq!(log.slice(lo, hi, NO_LIMIT), Ok(vec![]), "[{lo}, {hi})");
    }
}

#[test]
#[should_panic(expected = "out of bounds")]
fn slice_past_the_last_index_panics() {
    let _ = hundred_log().slice(201, 202, NO_LIMIT);
}

#[test]
#[should_panic(expected = "invalid slice")]
fn slice_with_inverted_bounds_panics() {
    let _ = hundred_log().slice(150, 149, NO_LIMIT);
}

#[test]
fn term_outside_the_log_is_compacted_or_unavailable() {
    let mut log = new_log(storage_after(100, 1));
    log.append(&(101..200).map(|i| ent(i, i - 100)).collect::<Vec<_>>());
    let compacted = Err(Error::Storage(StorageError::Compacted));
    let unavailable = Err(Error::Storage(StorageError::Unavailable));
    let cases = [
        (99, compacted),
        (100, Ok(1)),
        (150, Ok(50)),
        (199, Ok(99)),
        (200, unavailable),
    ];
    for (index, term) in cases {
        assert_eq!(log.term(index), term, "term({index})");
    }
}

#[test]
fn term_with_an_unstable_snapshot_hides_storage() {
    let mut log = new_log(storage_after(100, 1));
    log.restore(snap(105, 1));
    for (index, term) in [(100, 0), (101, 0), (104, 0), (105, 1), (106, 0)] {
        assert_eq!(log.term(index).unwrap_or(0), term, "term({index})");
    }
    assert_eq!(log.term(104), Err(Error::Storage(StorageError::Compacted)));
    assert_eq!(
        log.term(106),
        Err(Error::Storage(StorageError::Unavailable))
    );
    assert_eq!(log.first_index(), 106);
    assert_eq!(log.last_index(), 105);
}

#[test]
fn term_below_a_racing_compaction_is_out_of_range() {
    // Storage compacts behind the log's back: the log reads the new first index from storage.
    let storage = MemStorage::new();
    storage.wl().append(&ents_indexed(1, 10)).unwrap();
    let log = new_log(storage.clone());
    storage.wl().compact(5).unwrap();
    assert_eq!(log.term(3), Err(Error::Storage(StorageError::Compacted)));
    assert_eq!(log.term(5), Ok(5));
    assert_eq!(log.first_index(), 6);
}

/// A storage that reads from `inner`, except that `term` and `entries` fail with `fault` when
/// it is set.
struct FaultyStorage {
    inner: MemStorage,
    fault: Option<StorageError>,
}

impl FaultyStorage {
    fn check(&self) -> Result<()> {
        self.fault
            .clone()
            .map_or(Ok(()), |e| Err(Error::Storage(e)))
    }
}

impl Storage for FaultyStorage {
    fn initial_state(&self) -> Result<crate::storage::RaftState> {
        self.inner.initial_state()
    }

    fn entries(&self, low: u64, high: u64, max_size: u64) -> Result<Vec<Entry>> {
        self.check()?;
        self.inner.entries(low, high, max_size)
    }

    fn term(&self, index: u64) -> Result<u64> {
        self.check()?;
        self.inner.term(index)
    }

    fn first_index(&self) -> Result<u64> {
        self.inner.first_index()
    }

    fn last_index(&self) -> Result<u64> {
        self.inner.last_index()
    }

    fn snapshot(&self, request_index: u64, to: u64) -> Result<Snapshot> {
        self.inner.snapshot(request_index, to)
    }
}

fn faulty_log(fault: StorageError) -> RaftLog<FaultyStorage> {
    let inner = MemStorage::new();
    inner.wl().append(&ents_indexed(1, 5)).unwrap();
    let mut log = RaftLog::new(FaultyStorage { inner, fault: None }, NO_LIMIT).unwrap();
    log.append(&ents_indexed(6, 7));
    log.store.fault = Some(fault);
    log
}

#[test]
fn term_passes_storage_errors_on() {
    let log = faulty_log(StorageError::Other("disk on fire".to_owned()));
    let fault = Err(Error::Storage(StorageError::Other(
        "disk on fire".to_owned(),
    )));
    assert_eq!(log.term(3), fault);
    assert_eq!(log.term(6), Ok(6), "unstable entries need no storage");
    assert_eq!(
        log.term(9),
        Err(Error::Storage(StorageError::Unavailable)),
        "out of range needs no storage"
    );
    assert!(!log.match_term(3, 3));
    assert_eq!(
        log.find_conflict_by_term(7, 3),
        (5, 0),
        "an unreadable term may match"
    );
}

#[test]
fn slice_passes_storage_errors_on() {
    let log = faulty_log(StorageError::Other("disk on fire".to_owned()));
    let fault = Err(Error::Storage(StorageError::Other(
        "disk on fire".to_owned(),
    )));
    assert_eq!(log.slice(2, 7, NO_LIMIT), fault);
    assert_eq!(log.slice(6, 8, NO_LIMIT), Ok(ents_indexed(6, 7)));
}

#[test]
#[should_panic(expected = "missing from storage")]
fn slice_panics_when_storage_lost_entries_it_reported() {
    let log = faulty_log(StorageError::Unavailable);
    let _ = log.slice(2, 7, NO_LIMIT);
}

#[test]
fn slice_stitches_storage_and_unstable_within_the_size_limit() {
    // Storage: after a snapshot at 100, entries 101..=149. Unstable: 150..=199.
    let (offset, half, last) = (100, 150, 200);
    let storage = storage_after(offset, 0);
    storage
        .wl()
        .append(&ents_indexed(offset + 1, half - 1))
        .unwrap();
    let mut log = new_log(storage);
    log.append(&ents_indexed(half, last - 1));
    let size = ent(half, half).size();
    let range = |lo: u64, hi: u64| -> Vec<Entry> { (lo..hi).map(|i| ent(i, i)).collect() };
    let cases = [
        (
            offset + 1,
            offset + 1,
            NO_LIMIT,
            range(offset + 1, offset + 1),
        ),
        (offset + 1, half - 1, NO_LIMIT, range(offset + 1, half - 1)),
        (offset + 1, half, NO_LIMIT, range(offset + 1, half)),
        (offset + 1, half + 1, NO_LIMIT, range(offset + 1, half + 1)),
        (offset + 1, last, NO_LIMIT, range(offset + 1, last)),
        (half - 1, half, NO_LIMIT, range(half - 1, half)),
        (half - 1, half + 1, NO_LIMIT, range(half - 1, half + 1)),
        (half - 1, last, NO_LIMIT, range(half - 1, last)),
        (half, half + 1, NO_LIMIT, range(half, half + 1)),
        (half, last, NO_LIMIT, range(half, last)),
        (last - 1, last, NO_LIMIT, range(last - 1, last)),
        // At least one entry.
        (offset + 1, last, 0, range(offset + 1, offset + 2)),
        (half - 1, half + 1, 0, range(half - 1, half)),
        (half, last, 0, range(half, half + 1)),
        (half + 1, last, 0, range(half + 1, half + 2)),
        (offset + 1, last, size - 1, range(offset + 1, offset + 2)),
        (half - 1, half + 1, size - 1, range(half - 1, half)),
        (half, last, size, range(half, half + 1)),
        (half - 1, half + 1, size + 1, range(half - 1, half)),
        (offset + 1, last, size * 2, range(offset + 1, offset + 3)),
        (half - 2, half + 1, size * 2, range(half - 2, half)),
        (half - 1, half + 1, size * 2, range(half - 1, half + 1)),
        (half, last, size * 2, range(half, half + 2)),
        (half - 2, half + 1, size * 3 - 1, range(half - 2, half)),
        (half - 1, half + 2, size * 3, range(half - 1, half + 2)),
    ];
    for (lo, hi, max_size, want) in cases {
        assert_eq!(
            log.slice(lo, hi, max_size),
            Ok(want),
            "[{lo}, {hi}) max {max_size}"
        );
    }
}

/// A log after a snapshot at 47 with entries 48..=56 in storage and 57..=66 unstable.
fn scan_log() -> RaftLog<MemStorage> {
    let storage = storage_after(47, 0);
    storage.wl().append(&ents_indexed(48, 56)).unwrap();
    let mut log = new_log(storage);
    log.append(&ents_indexed(57, 66));
    log
}

#[test]
fn scan_visits_the_same_entries_as_slice() {
    let log = scan_log();
    let size = ent(57, 57).size();
    for page_size in [0, 1, 10, 100, size, size + 1] {
        for lo in 48..67 {
            for hi in lo..=67 {
                let mut got = Vec::new();
                log.scan(lo, hi, page_size, |page| {
                    let page_bytes: u64 = page.iter().map(Entry::size).sum();
                    assert!(page.len() == 1 || page_bytes <= page_size);
                    got.extend_from_slice(page);
                    Ok(())
                })
                .unwrap();
                assert_eq!(
                    Ok(got),
                    log.slice(lo, hi, NO_LIMIT),
                    "[{lo}, {hi}) @ {page_size}"
                );
            }
        }
    }
}

#[test]
fn scan_stops_at_the_first_callback_error() {
    let log = scan_log();
    let mut calls = 0;
    let stop = Error::Storage(StorageError::Other("stop".to_owned()));
    let res = log.scan(48, 57, 0, |_| {
        calls += 1;
        if calls == 2 {
            Err(stop.clone())
        } else {
            Ok(())
        }
    });
    assert_eq!((res, calls), (Err(stop), 2));
}

#[test]
fn scan_fills_each_page_across_the_storage_boundary() {
    let log = scan_log();
    let size = ent(57, 57).size();
    let mut pages = Vec::new();
    log.scan(48, 58, size * 2, |page| {
        pages.push((page[0].index, page.len()));
        Ok(())
    })
    .unwrap();
    assert_eq!(pages, [(48, 2), (50, 2), (52, 2), (54, 2), (56, 2)]);
}

#[test]
fn snapshot_prefers_a_recent_enough_unstable_snapshot() {
    let mut log = new_log(storage_after(3, 1));
    assert_eq!(log.snapshot(0, 2), Ok(snap(3, 1)));
    log.restore(snap(10, 2));
    assert_eq!(log.snapshot(0, 2), Ok(snap(10, 2)));
    assert_eq!(log.snapshot(10, 2), Ok(snap(10, 2)));
    let unavailable = Err(Error::Storage(StorageError::SnapshotTemporarilyUnavailable));
    assert_eq!(
        log.snapshot(11, 2),
        unavailable,
        "storage has nothing that recent"
    );
}

#[test]
fn maybe_commit_needs_an_entry_of_the_given_term_above_the_commit_index() {
    // (max index, term, wanted result, wanted commit) on a log with terms [1, 2, 2].
    let cases = [
        (3, 2, true, 3),
        (2, 1, false, 0),
        (1, 1, true, 1),
        (5, 2, false, 0),
        (0, 0, false, 0),
        (1, 0, false, 0),
    ];
    for (max_index, term, want, committed) in cases {
        let mut log = unstable_log(&[1, 2, 2]);
        assert_eq!(
            log.maybe_commit(max_index, term),
            want,
            "({max_index}, {term})"
        );
        assert_eq!(log.committed, committed);
    }
    let mut log = unstable_log(&[1, 2, 2]);
    assert!(log.maybe_commit(3, 2));
    assert!(!log.maybe_commit(2, 2), "the commit index never goes back");
}

#[test]
fn max_appliable_index_excludes_unstable_entries_unless_allowed() {
    let log = committed_fixture(NO_LIMIT);
    assert_eq!(log.max_appliable_index(true), 5);
    assert_eq!(log.max_appliable_index(false), 4);
}

#[test]
fn restore_commits_the_snapshot_and_empties_the_log() {
    let mut log = unstable_log(&[1, 1, 2]);
    log.commit_to(2);
    log.restore(snap(8, 3));
    assert_eq!(log.committed, 8);
    assert_eq!(
        (log.first_index(), log.last_index(), log.last_term()),
        (9, 8, 3)
    );
    assert!(log.all_entries().is_empty());
    assert_eq!(log.next_unstable_snapshot(), Some(&snap(8, 3)));
    assert!(
        !log.has_next_committed_ents(true),
        "the snapshot is applied first"
    );
}

#[test]
fn entries_past_the_last_index_are_empty() {
    let log = unstable_log(&[1, 2]);
    assert_eq!(log.entries(3, NO_LIMIT), Ok(vec![]));
    assert_eq!(log.entries(2, NO_LIMIT), Ok(ents_from(2, &[2])));
}

#[test]
fn all_entries_stitches_storage_and_unstable() {
    let storage = storage_after(2, 1);
    storage.wl().append(&ents_from(3, &[1, 2])).unwrap();
    let mut log = new_log(storage);
    log.append(&ents_from(5, &[2, 3]));
    assert_eq!(log.all_entries(), ents_from(3, &[1, 2, 2, 3]));
    // An unstable tail that overlaps storage wins.
    log.append(&ents_from(4, &[4]));
    assert_eq!(log.all_entries(), ents_from(3, &[1, 4]));
}

/// One step of the `maybe_append` model test.
#[derive(Debug, Clone)]
enum Op {
    /// A `MsgApp` from one of the leaders: up to `len` entries of its log after `prev`, with
    /// its commit index. Each field is reduced modulo what makes sense for that leader.
    Append {
        leader: usize,
        prev: usize,
        len: usize,
        committed: usize,
    },
    /// Hand the unstable entries to an (in order) storage writer.
    BeginWrite,
    /// The oldest write lands in storage and is acknowledged.
    FinishWrite,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let append = (0usize..8, 0usize..16, 0usize..6, 0usize..16).prop_map(
        |(leader, prev, len, committed)| Op::Append {
            leader,
            prev,
            len,
            committed,
        },
    );
    prop_oneof![4 => append, 1 => Just(Op::BeginWrite), 1 => Just(Op::FinishWrite)]
}

/// The logs (as terms from index 1) of the leaders of terms 1, 2, ...: each takes a prefix of
/// an earlier leader's log and adds entries of its own term, so two logs that share an
/// (index, term) share everything before it too, as Raft's Log Matching property demands.
/// Each shape is (earlier leader, prefix length, entries added).
fn leader_logs(shapes: &[(usize, usize, usize)]) -> Vec<Vec<u64>> {
    let mut logs: Vec<Vec<u64>> = vec![Vec::new()];
    for (&(base, prefix, added), term) in shapes.iter().zip(1u64..) {
        let base = &logs[base % logs.len()];
        let mut log = base[..prefix.min(base.len())].to_vec();
        log.extend(std::iter::repeat_n(term, added));
        logs.push(log);
    }
    logs.remove(0);
    logs
}

/// The reference: the log as a vector of terms (index `i + 1` at position `i`).
#[derive(Default)]
struct Model {
    terms: Vec<u64>,
    committed: u64,
}

impl Model {
    fn term(&self, index: u64) -> Option<u64> {
        match index {
            0 => Some(0),
            i => self.terms.get(i as usize - 1).copied(),
        }
    }

    /// The wanted result, or `Err` if the real log must panic.
    fn maybe_append(
        &mut self,
        index: u64,
        log_term: u64,
        committed: u64,
        terms: &[u64],
    ) -> std::result::Result<Option<u64>, ()> {
        if self.term(index) != Some(log_term) {
            return Ok(None);
        }
        let conflict = (index + 1..)
            .zip(terms)
            .find(|&(i, &t)| self.term(i) != Some(t));
        if let Some((at, _)) = conflict {
            if at <= self.committed {
                return Err(());
            }
            self.terms.truncate(at as usize - 1);
            self.terms
                .extend_from_slice(&terms[(at - index - 1) as usize..]);
        }
        let last_new = index + terms.len() as u64;
        self.committed = self.committed.max(committed.min(last_new));
        Ok(Some(last_new))
    }
}

/// The `MsgApp` that `op` describes: (prev index, prev term, commit index, entries).
fn append_msg(
    logs: &[Vec<u64>],
    leader: usize,
    prev: usize,
    len: usize,
    committed: usize,
) -> (u64, u64, u64, Vec<u64>) {
    let log = &logs[leader % logs.len()];
    let prev = prev % (log.len() + 1);
    let prev_term = if prev == 0 { 0 } else { log[prev - 1] };
    let end = (prev + len).min(log.len());
    let committed = committed % (log.len() + 1);
    (
        prev as u64,
        prev_term,
        committed as u64,
        log[prev..end].to_vec(),
    )
}

proptest! {
    #[test]
    fn maybe_append_behaves_like_a_vec_model(
        shapes in prop::collection::vec((0usize..8, 0usize..12, 0usize..5), 1..6),
        ops in prop::collection::vec(op_strategy(), 1..50),
    ) {
        // Goal: whatever the order of appends from several leaders and of asynchronous,
        // in-order storage writes, the log reads as the model says. Method: replay leader
        // messages against both, as a follower would: messages from a leader older than the
        // follower's term are refused, and so are acknowledgements of writes issued in an
        // older term unless no other write is pending (what raft.rs must ensure). Messages
        // that must panic (overwriting a commit) are skipped.
        let logs = leader_logs(&shapes);
        let storage = MemStorage::new();
        let mut log = new_log(storage.clone());
        let mut model = Model::default();
        let mut term = 0;
        let mut writes: Vec<(u64, Vec<Entry>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append { leader, prev, len, committed } => {
                    let leader = leader % logs.len();
                    let leader_term = leader as u64 + 1;
                    if leader_term < term {
                        continue;
                    }
                    let (index, log_term, committed, terms) =
                        append_msg(&logs, leader, prev, len, committed);
                    let Ok(want) = model.maybe_append(index, log_term, committed, &terms)
                    else {
                        continue;
                    };
                    term = leader_term;
                    let ents = ents_from(index + 1, &terms);
                    prop_assert_eq!(log.maybe_append(index, log_term, committed, &ents), want);
                }
                Op::BeginWrite => {
                    writes.push((term, log.next_unstable_ents().to_vec()));
                    log.accept_unstable();
                }
                Op::FinishWrite => {
                    if writes.is_empty() {
                        continue;
                    }
                    let (write_term, write) = writes.remove(0);
                    storage.wl().append(&write).unwrap();
                    let trusted = write_term == term || writes.is_empty();
                    if let Some(last) = write.last().filter(|_| trusted) {
                        log.stable_to(last.index, last.term);
                    }
                }
            }
            let got: Vec<u64> = log.all_entries().iter().map(|e| e.term).collect();
            prop_assert_eq!(&got, &model.terms);
            prop_assert_eq!(log.committed, model.committed);
            prop_assert_eq!(log.last_index(), model.terms.len() as u64);
            for i in 0..=model.terms.len() as u64 + 1 {
                prop_assert_eq!(log.term(i).unwrap_or(0), model.term(i).unwrap_or(0));
            }
        }
    }
}

#[test]
fn idle_log_is_small_and_holds_no_buffers() {
    // Goal: keep an idle replica within its memory budget (100,000 replicas per process, under
    // 2 KiB each). Method: run entries through the log and storage until both are drained, then
    // check that no entry buffer is left behind and that the inline size has not grown.
    #[cfg(target_pointer_width = "64")]
    assert!(std::mem::size_of::<RaftLog<MemStorage>>() <= 256);
    let storage = MemStorage::new();
    storage.wl().append(&ents_indexed(1, 100)).unwrap();
    let mut log = new_log(storage.clone());
    log.append(&ents_indexed(101, 200));
    storage.wl().append(log.next_unstable_ents()).unwrap();
    log.accept_unstable();
    log.stable_to(200, 200);
    storage.wl().compact(200).unwrap();
    assert_eq!(log.unstable.entries.capacity(), 0);
    assert_eq!(storage.rl().entries_vec().len(), 0);
    assert_eq!(
        (log.first_index(), log.last_index(), log.last_term()),
        (201, 200, 200)
    );
}
