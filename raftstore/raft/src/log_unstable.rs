//! [`Unstable`]: the tail of the log, and possibly a snapshot, that are not yet known to be
//! durable.
//!
//! New entries (proposed by a leader or received by a follower) and snapshots land here first.
//! They flow out in three steps:
//!
//! 1. `next_entries`/`next_snapshot` show what has not been handed to storage yet; `RawNode` puts
//!    it in a `Ready` (or a `MsgStorageAppend`).
//! 2. `accept_in_progress` marks all of it as being written, so the next `Ready` does not repeat
//!    it; the entries stay readable here while the write is in flight.
//! 3. `stable_to`/`stable_snap_to` drop what storage has confirmed durable; from then on
//!    `RaftLog` reads it from [`crate::storage::Storage`].
//!
//! ```text
//!          offset          offset_in_progress            offset + entries.len()
//!            |  being written  |  not yet handed out          |
//!   entries: [ ............... | ............................ ]
//! ```
//!
//! A write may finish after the entries it carried were replaced by a new leader's (the same
//! indexes, other terms). Its acknowledgement names the (index, term) it wrote, and `stable_to`
//! ignores it when the term no longer matches, so the replacements are not taken for durable.
//! The caller must also drop acknowledgements from an earlier raft term (see
//! [`Unstable::stable_to`]).

use std::cmp;

use tracing::{debug, info};

use crate::raftpb::{Entry, Snapshot};
use crate::storage::drop_entries_prefix;

/// Log entries and a snapshot that have not yet been confirmed written to storage.
#[derive(Debug, Clone, PartialEq)]
pub struct Unstable {
    /// The incoming snapshot, if any, until storage confirms it applied.
    ///
    /// Invariant: if present, its index is below `offset`.
    pub snapshot: Option<Box<Snapshot>>,
    /// The entries not yet confirmed durable; `entries[i]` has index `offset + i`.
    ///
    /// Invariant: indexes are contiguous.
    pub entries: Vec<Entry>,
    /// The index of `entries[0]` (the index the next entry would get when `entries` is empty).
    pub offset: u64,
    /// Whether `snapshot` has been handed to storage and is being written.
    ///
    /// Invariant: `snapshot_in_progress` implies `snapshot.is_some()`.
    pub snapshot_in_progress: bool,
    /// One past the last entry handed to storage: `entries[..offset_in_progress - offset]` are
    /// being written.
    ///
    /// Invariant: `offset <= offset_in_progress <= offset + entries.len()`.
    pub offset_in_progress: u64,
}

impl Unstable {
    /// An empty unstable log whose first entry will have index `offset`. Allocates nothing.
    pub fn new(offset: u64) -> Unstable {
        Unstable {
            snapshot: None,
            entries: Vec::new(),
            offset,
            snapshot_in_progress: false,
            offset_in_progress: offset,
        }
    }

    /// The index of the first entry after the snapshot, if there is a snapshot.
    pub fn maybe_first_index(&self) -> Option<u64> {
        self.snapshot.as_ref().map(|s| s.index() + 1)
    }

    /// The index of the last entry, or of the snapshot if there are no entries.
    pub fn maybe_last_index(&self) -> Option<u64> {
        match (self.entries.last(), &self.snapshot) {
            (Some(last), _) => Some(last.index),
            (None, Some(snap)) => Some(snap.index()),
            (None, None) => None,
        }
    }

    /// The term of the entry at `i`, if `i` is an unstable entry or the snapshot's index.
    pub fn maybe_term(&self, i: u64) -> Option<u64> {
        if i < self.offset {
            return self
                .snapshot
                .as_ref()
                .filter(|s| s.index() == i)
                .map(|s| s.term());
        }
        self.entries.get((i - self.offset) as usize).map(|e| e.term)
    }

    /// The entries not yet handed to storage.
    pub fn next_entries(&self) -> &[Entry] {
        &self.entries[(self.offset_in_progress - self.offset) as usize..]
    }

    /// The snapshot, if it has not been handed to storage yet.
    pub fn next_snapshot(&self) -> Option<&Snapshot> {
        self.snapshot
            .as_deref()
            .filter(|_| !self.snapshot_in_progress)
    }

    /// Marks every current entry and the snapshot as handed to storage. What arrives later is
    /// returned by `next_entries`/`next_snapshot` until the next call.
    pub fn accept_in_progress(&mut self) {
        if let Some(last) = self.entries.last() {
            self.offset_in_progress = last.index + 1;
        }
        if self.snapshot.is_some() {
            self.snapshot_in_progress = true;
        }
        self.debug_check();
    }

    /// Drops the entries up to `index` now that storage confirmed them durable.
    ///
    /// The confirmation is ignored unless the entry at `index` is still unstable and has `term`:
    /// if the entries were replaced (by a new leader's) while being written, what is here now
    /// was not written and must stay.
    ///
    /// That check alone cannot see an A-B-A replacement: entries written as A, replaced by B
    /// (whose write is still in flight), then replaced by A again. A's acknowledgement matches,
    /// yet B's write will still overwrite A in storage. Each replacement of that kind comes from
    /// a leader of a newer term, so the caller must only pass acknowledgements of writes issued
    /// in the current term (etcd tags `MsgStorageAppendResp` with the term and drops it after a
    /// term change).
    pub fn stable_to(&mut self, index: u64, term: u64) {
        let Some(current_term) = self.maybe_term(index) else {
            debug!(
                index,
                term, "stable_to: entry is not in the unstable log; ignored"
            );
            return;
        };
        if index < self.offset {
            info!(
                index,
                term, "stable_to: index is the unstable snapshot's; ignored"
            );
            return;
        }
        if current_term != term {
            info!(
                index,
                term, current_term, "stable_to: entry was replaced; ignored"
            );
            return;
        }
        drop_entries_prefix(&mut self.entries, (index + 1 - self.offset) as usize);
        self.offset = index + 1;
        self.offset_in_progress = cmp::max(self.offset_in_progress, self.offset);
        self.debug_check();
    }

    /// Drops the snapshot now that storage confirmed it applied, if it is the one at index `i`.
    pub fn stable_snap_to(&mut self, i: u64) {
        if self.snapshot.as_ref().is_some_and(|s| s.index() == i) {
            self.snapshot = None;
            self.snapshot_in_progress = false;
        }
        self.debug_check();
    }

    /// Replaces everything with `snap`: the log restarts after the snapshot.
    pub fn restore(&mut self, snap: Snapshot) {
        self.offset = snap.index() + 1;
        self.offset_in_progress = self.offset;
        self.entries = Vec::new();
        self.snapshot = Some(Box::new(snap));
        self.snapshot_in_progress = false;
        self.debug_check();
    }

    /// Appends `ents`, first dropping every unstable entry at or after `ents[0].index`.
    ///
    /// # Panics
    ///
    /// Panics if `ents` starts past the end of the log: that would leave a gap.
    pub fn truncate_and_append(&mut self, ents: &[Entry]) {
        let Some(head) = ents.first() else {
            return;
        };
        self.truncate_for_append(head.index);
        self.entries.extend_from_slice(ents);
        self.debug_check();
    }

    /// Like [`Unstable::truncate_and_append`], but takes the entries by value, so that a leader's
    /// proposals move in without touching their payloads' reference counts.
    ///
    /// # Panics
    ///
    /// Panics if `ents` starts past the end of the log: that would leave a gap.
    pub fn truncate_and_append_owned(&mut self, mut ents: Vec<Entry>) {
        let Some(head) = ents.first() else {
            return;
        };
        self.truncate_for_append(head.index);
        if self.entries.is_empty() {
            self.entries = ents;
        } else {
            self.entries.append(&mut ents);
        }
        self.debug_check();
    }

    /// The entries with indexes in `[lo, hi)`.
    ///
    /// # Panics
    ///
    /// Panics unless `offset <= lo <= hi <= offset + entries.len()`.
    pub fn slice(&self, lo: u64, hi: u64) -> &[Entry] {
        let upper = self.offset + self.entries.len() as u64;
        assert!(
            self.offset <= lo && lo <= hi && hi <= upper,
            "unstable slice [{lo}, {hi}) out of bounds [{}, {upper})",
            self.offset
        );
        &self.entries[(lo - self.offset) as usize..(hi - self.offset) as usize]
    }

    /// Makes room for entries starting at `from`: afterwards `offset + entries.len() == from`.
    fn truncate_for_append(&mut self, from: u64) {
        let end = self.offset + self.entries.len() as u64;
        assert!(
            from <= end,
            "unstable append at index {from} leaves a gap after {}",
            end - 1
        );
        if from == end {
            return;
        }
        if from <= self.offset {
            info!(index = from, "replacing the unstable entries");
            self.entries.clear();
            self.offset = from;
            self.offset_in_progress = from;
        } else {
            info!(index = from, "truncating the unstable entries");
            self.entries.truncate((from - self.offset) as usize);
            // Only the in-flight entries before `from` are still being written as they are here.
            self.offset_in_progress = cmp::min(self.offset_in_progress, from);
        }
    }

    fn debug_check(&self) {
        debug_assert!(
            self.offset <= self.offset_in_progress
                && self.offset_in_progress <= self.offset + self.entries.len() as u64,
            "offset {} <= offset_in_progress {} <= end {}",
            self.offset,
            self.offset_in_progress,
            self.offset + self.entries.len() as u64
        );
        debug_assert!(
            self.entries.first().is_none_or(|e| e.index == self.offset)
                && self
                    .entries
                    .last()
                    .is_none_or(|e| { e.index == self.offset + self.entries.len() as u64 - 1 }),
            "unstable entries must be contiguous from offset {}",
            self.offset
        );
        debug_assert!(
            self.snapshot
                .as_ref()
                .is_none_or(|s| s.index() < self.offset),
            "unstable snapshot must precede offset {}",
            self.offset
        );
        debug_assert!(!self.snapshot_in_progress || self.snapshot.is_some());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::tests::{ent, ents_from, snap};

    /// An unstable log with the given parts; `in_progress` is `offset_in_progress`.
    fn unstable(snapshot: Option<Snapshot>, entries: Vec<Entry>, offset: u64) -> Unstable {
        Unstable {
            snapshot: snapshot.map(Box::new),
            entries,
            offset,
            snapshot_in_progress: false,
            offset_in_progress: offset,
        }
    }

    #[test]
    fn new_unstable_log_is_empty_and_allocates_nothing() {
        let u = Unstable::new(7);
        assert_eq!((u.offset, u.offset_in_progress), (7, 7));
        assert_eq!(u.entries.capacity(), 0);
        assert_eq!(
            (u.maybe_first_index(), u.maybe_last_index(), u.maybe_term(6)),
            (None, None, None)
        );
        assert!(u.next_entries().is_empty());
        assert!(u.next_snapshot().is_none());
    }

    #[test]
    fn maybe_first_index_comes_from_the_snapshot_only() {
        let cases = [
            (None, ents_from(5, &[1]), None),
            (Some(snap(4, 1)), ents_from(5, &[1]), Some(5)),
            (Some(snap(4, 1)), vec![], Some(5)),
            (None, vec![], None),
        ];
        for (snapshot, entries, want) in cases {
            assert_eq!(unstable(snapshot, entries, 5).maybe_first_index(), want);
        }
    }

    #[test]
    fn maybe_last_index_prefers_entries_over_the_snapshot() {
        let cases = [
            (None, ents_from(5, &[1]), Some(5)),
            (Some(snap(4, 1)), ents_from(5, &[1, 1]), Some(6)),
            (Some(snap(4, 1)), vec![], Some(4)),
            (None, vec![], None),
        ];
        for (snapshot, entries, want) in cases {
            assert_eq!(unstable(snapshot, entries, 5).maybe_last_index(), want);
        }
    }

    #[test]
    fn maybe_term_knows_entries_and_the_snapshot_index() {
        // (snapshot, entries at 5, index, want)
        let cases = [
            (None, ents_from(5, &[1]), 5, Some(1)),
            (None, ents_from(5, &[1]), 6, None),
            (None, ents_from(5, &[1]), 4, None),
            (Some(snap(4, 1)), ents_from(5, &[2]), 5, Some(2)),
            (Some(snap(4, 1)), ents_from(5, &[2]), 6, None),
            (Some(snap(4, 1)), ents_from(5, &[2]), 4, Some(1)),
            (Some(snap(4, 1)), ents_from(5, &[2]), 3, None),
            (Some(snap(4, 1)), vec![], 5, None),
            (Some(snap(4, 1)), vec![], 4, Some(1)),
            (None, vec![], 5, None),
        ];
        for (snapshot, entries, index, want) in cases {
            let u = unstable(snapshot, entries, 5);
            assert_eq!(u.maybe_term(index), want, "index {index} in {u:?}");
        }
    }

    #[test]
    fn restore_replaces_everything_with_the_snapshot() {
        let mut u = unstable(Some(snap(4, 1)), ents_from(5, &[1, 1]), 5);
        u.accept_in_progress();
        u.restore(snap(6, 2));
        assert_eq!(u, unstable(Some(snap(6, 2)), vec![], 7));
        assert_eq!(u.entries.capacity(), 0);
        assert_eq!(u.next_snapshot(), Some(&snap(6, 2)));
    }

    #[test]
    fn next_entries_skips_the_entries_in_progress() {
        for (in_progress, want) in [(5, vec![5, 6]), (6, vec![6]), (7, vec![])] {
            let mut u = unstable(None, ents_from(5, &[1, 1]), 5);
            u.offset_in_progress = in_progress;
            let got: Vec<u64> = u.next_entries().iter().map(|e| e.index).collect();
            assert_eq!(got, want, "in progress up to {in_progress}");
        }
    }

    #[test]
    fn next_snapshot_hides_a_snapshot_in_progress() {
        let mut u = unstable(None, vec![], 5);
        assert_eq!(u.next_snapshot(), None);
        u.snapshot = Some(Box::new(snap(4, 1)));
        assert_eq!(u.next_snapshot(), Some(&snap(4, 1)));
        u.snapshot_in_progress = true;
        assert_eq!(u.next_snapshot(), None);
    }

    #[test]
    fn accept_in_progress_marks_everything_handed_out() {
        // (snapshot, entries at 5, offset_in_progress before, after)
        let cases = [
            (None, vec![], 5, 5),
            (None, ents_from(5, &[1]), 5, 6),
            (None, ents_from(5, &[1, 1]), 5, 7),
            (None, ents_from(5, &[1, 1]), 6, 7),
            (None, ents_from(5, &[1, 1]), 7, 7),
            (Some(snap(4, 1)), vec![], 5, 5),
            (Some(snap(4, 1)), ents_from(5, &[1, 1]), 6, 7),
        ];
        for (snapshot, entries, before, after) in cases {
            let has_snapshot = snapshot.is_some();
            let mut u = unstable(snapshot, entries, 5);
            u.offset_in_progress = before;
            u.accept_in_progress();
            assert_eq!(u.offset_in_progress, after);
            assert_eq!(u.snapshot_in_progress, has_snapshot);
            assert!(u.next_entries().is_empty());
            assert!(u.next_snapshot().is_none());
        }
    }

    #[test]
    fn stable_snap_to_drops_only_the_matching_snapshot() {
        let mut u = unstable(None, vec![], 5);
        u.stable_snap_to(4);
        assert_eq!(u.snapshot, None);

        let mut u = unstable(Some(snap(4, 1)), ents_from(5, &[1]), 5);
        u.accept_in_progress();
        u.stable_snap_to(3);
        assert_eq!((u.snapshot.is_some(), u.snapshot_in_progress), (true, true));
        u.stable_snap_to(4);
        assert_eq!(
            (u.snapshot.is_none(), u.snapshot_in_progress),
            (true, false)
        );
        assert_eq!(u.entries, ents_from(5, &[1]), "entries are not affected");
    }

    #[test]
    fn stable_to_drops_the_durable_prefix() {
        // (snapshot, entries at 5, in progress, stable (index, term), offset, in progress, len)
        let cases = [
            (None, vec![], 5, (5, 1), 5, 5, 0),
            (None, ents_from(5, &[1]), 6, (5, 1), 6, 6, 0),
            (None, ents_from(5, &[1, 1]), 7, (5, 1), 6, 7, 1),
            (None, ents_from(5, &[1, 1]), 5, (5, 1), 6, 6, 1),
            (None, ents_from(5, &[1, 1]), 7, (6, 1), 7, 7, 0),
            // Term mismatch: the entry was replaced since.
            (None, ents_from(6, &[2]), 7, (6, 1), 6, 7, 1),
            // Below the unstable entries: already stable.
            (None, ents_from(5, &[1]), 6, (4, 1), 5, 6, 1),
            (None, ents_from(5, &[1]), 6, (4, 2), 5, 6, 1),
            // The snapshot's index is not an entry.
            (Some(snap(4, 1)), ents_from(5, &[1]), 6, (4, 1), 5, 6, 1),
            (Some(snap(4, 1)), ents_from(5, &[1, 1]), 7, (5, 1), 6, 7, 1),
            (Some(snap(5, 1)), ents_from(6, &[2]), 7, (6, 1), 6, 7, 1),
        ];
        for (snapshot, entries, in_progress, (index, term), offset, want_in_progress, len) in cases
        {
            let start = entries.first().map_or(5, |e| e.index);
            let mut u = unstable(snapshot, entries, start);
            u.offset_in_progress = in_progress;
            u.stable_to(index, term);
            assert_eq!(u.offset, offset, "stable_to({index}, {term})");
            assert_eq!(
                u.offset_in_progress, want_in_progress,
                "stable_to({index}, {term})"
            );
            assert_eq!(u.entries.len(), len, "stable_to({index}, {term})");
        }
    }

    #[test]
    fn stale_acknowledgement_does_not_stabilize_replacement_entries() {
        // Goal: the ABA race. A write of entries 5..=6 at term 1 is in flight when a new leader
        // replaces them with 5 at term 2; the old write's acknowledgement must not mark the new
        // entry durable, and the new entry must be handed to storage again.
        let mut u = Unstable::new(5);
        u.truncate_and_append(&ents_from(5, &[1, 1]));
        u.accept_in_progress();
        u.truncate_and_append(&ents_from(5, &[2]));
        assert_eq!(u.next_entries(), ents_from(5, &[2]).as_slice());

        u.stable_to(6, 1);
        u.stable_to(5, 1);
        assert_eq!((u.offset, u.entries.clone()), (5, ents_from(5, &[2])));
        assert_eq!(u.next_entries(), ents_from(5, &[2]).as_slice());

        u.accept_in_progress();
        u.stable_to(5, 2);
        assert_eq!((u.offset, u.offset_in_progress, u.entries.len()), (6, 6, 0));
    }

    #[test]
    fn stale_acknowledgement_of_a_kept_prefix_still_counts() {
        // Goal: after a truncation in the middle of an in-flight write, the part of the write
        // that was kept is still stabilized by its acknowledgement, and the rest is not.
        let mut u = Unstable::new(5);
        u.truncate_and_append(&ents_from(5, &[1, 1, 1]));
        u.accept_in_progress();
        u.truncate_and_append(&ents_from(6, &[2]));
        assert_eq!(u.offset_in_progress, 6);
        u.stable_to(7, 1);
        assert_eq!(
            u.offset, 5,
            "entry 7 is gone; its acknowledgement is ignored"
        );
        u.stable_to(5, 1);
        assert_eq!((u.offset, u.offset_in_progress), (6, 6));
        assert_eq!(u.entries, ents_from(6, &[2]));
        assert_eq!(u.next_entries(), ents_from(6, &[2]).as_slice());
    }

    /// A `truncate_and_append` case: entries at 5, `offset_in_progress`, the appended entries,
    /// and the wanted offset, `offset_in_progress` and entries.
    type AppendCase = (Vec<Entry>, u64, Vec<Entry>, u64, u64, Vec<Entry>);

    fn truncate_and_append_cases() -> Vec<AppendCase> {
        vec![
            // Right after the end: a plain append.
            (
                ents_from(5, &[1]),
                5,
                ents_from(6, &[1, 1]),
                5,
                5,
                ents_from(5, &[1, 1, 1]),
            ),
            (
                ents_from(5, &[1]),
                6,
                ents_from(6, &[1, 1]),
                5,
                6,
                ents_from(5, &[1, 1, 1]),
            ),
            // At or before the offset: everything is replaced.
            (
                ents_from(5, &[1]),
                5,
                ents_from(5, &[2, 2]),
                5,
                5,
                ents_from(5, &[2, 2]),
            ),
            (
                ents_from(5, &[1]),
                6,
                ents_from(4, &[2, 2, 2]),
                4,
                4,
                ents_from(4, &[2, 2, 2]),
            ),
            // In the middle: truncate, then append.
            (
                ents_from(5, &[1, 1, 1]),
                5,
                ents_from(6, &[2]),
                5,
                5,
                ents_from(5, &[1, 2]),
            ),
            (
                ents_from(5, &[1, 1, 1]),
                6,
                ents_from(6, &[2]),
                5,
                6,
                ents_from(5, &[1, 2]),
            ),
            (
                ents_from(5, &[1, 1, 1]),
                8,
                ents_from(7, &[2, 2]),
                5,
                7,
                ents_from(5, &[1, 1, 2, 2]),
            ),
            (
                ents_from(5, &[1, 1, 1]),
                8,
                ents_from(6, &[2, 2]),
                5,
                6,
                ents_from(5, &[1, 2, 2]),
            ),
            // Into an empty log.
            (vec![], 5, ents_from(5, &[3]), 5, 5, ents_from(5, &[3])),
        ]
    }

    #[test]
    fn truncate_and_append_keeps_what_precedes_the_new_entries() {
        for (entries, in_progress, appended, offset, want_in_progress, want) in
            truncate_and_append_cases()
        {
            let mut u = unstable(None, entries, 5);
            u.offset_in_progress = in_progress;
            u.truncate_and_append(&appended);
            assert_eq!(
                (u.offset, u.offset_in_progress, &u.entries),
                (offset, want_in_progress, &want),
                "append {appended:?}"
            );
        }
    }

    #[test]
    fn truncate_and_append_owned_matches_the_borrowing_version() {
        for (entries, in_progress, appended, ..) in truncate_and_append_cases() {
            let mut borrowed = unstable(None, entries, 5);
            borrowed.offset_in_progress = in_progress;
            let mut owned = borrowed.clone();
            borrowed.truncate_and_append(&appended);
            owned.truncate_and_append_owned(appended);
            assert_eq!(owned, borrowed);
        }
    }

    #[test]
    fn owned_append_to_an_empty_log_moves_the_buffer_in() {
        let mut u = Unstable::new(5);
        let ents = ents_from(5, &[1, 1, 1]);
        let ptr = ents.as_ptr();
        u.truncate_and_append_owned(ents);
        assert_eq!(u.entries.as_ptr(), ptr, "no copy when the log is empty");
        u.truncate_and_append_owned(Vec::new());
        assert_eq!(u.entries.len(), 3);
    }

    #[test]
    #[should_panic(expected = "leaves a gap")]
    fn truncate_and_append_past_the_end_panics() {
        let mut u = unstable(None, ents_from(5, &[1]), 5);
        u.truncate_and_append(&[ent(7, 1)]);
    }

    #[test]
    fn slice_returns_the_requested_range() {
        let u = unstable(None, ents_from(5, &[1, 2, 3]), 5);
        assert_eq!(u.slice(5, 8), ents_from(5, &[1, 2, 3]).as_slice());
        assert_eq!(u.slice(6, 7), ents_from(6, &[2]).as_slice());
        assert!(u.slice(8, 8).is_empty());
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slice_below_the_offset_panics() {
        let u = unstable(None, ents_from(5, &[1, 2, 3]), 5);
        let _ = u.slice(4, 6);
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn slice_past_the_end_panics() {
        let u = unstable(None, ents_from(5, &[1, 2, 3]), 5);
        let _ = u.slice(6, 9);
    }

    #[test]
    fn stable_to_gives_memory_back() {
        let mut u = Unstable::new(1);
        u.truncate_and_append(&ents_from(1, &[1; 100]));
        u.stable_to(98, 1);
        assert_eq!(u.entries, ents_from(99, &[1, 1]));
        assert!(
            u.entries.capacity() <= 4,
            "capacity {}",
            u.entries.capacity()
        );
        u.stable_to(100, 1);
        assert_eq!(u.entries.capacity(), 0, "an idle group keeps no buffer");
    }
}
