//! [`RaftLog`]: one node's view of the replicated log, stitched from durable [`Storage`] and the
//! [`Unstable`] tail, with the commit and apply cursors.
//!
//! ```text
//!   storage:  [first_index ............. stable)
//!   unstable:                   [unstable.offset ............ last_index]
//!   cursors:        applied <= applying <= committed <= last_index
//! ```
//!
//! Reads look in the unstable tail first and fall back to storage below `unstable.offset`; the
//! two may overlap, in which case the unstable entries win (storage still holds entries that the
//! next write truncates). Writes only ever go to the unstable tail; the application persists
//! them and reports back through [`RaftLog::stable_to`].
//!
//! Committed entries are handed to the application in batches bounded by `max_applying_size`
//! bytes outstanding: `next_committed_ents` hands them out, `accept_applying` records that they
//! were handed out, and `applied_to` that they were applied.

use std::cmp;

use tracing::info;

use crate::errors::{Error, Result, StorageError};
use crate::log_unstable::Unstable;
use crate::raftpb::{Entry, Snapshot};
use crate::storage::{NO_LIMIT, Storage, size_limited_len};

/// The log of one replica: durable entries in `store`, newer ones in `unstable`.
#[derive(Debug)]
pub struct RaftLog<S: Storage> {
    /// The durable entries since the last compaction.
    pub store: S,
    /// The entries and snapshot not yet known durable.
    pub unstable: Unstable,
    /// The highest index known to be stored on a quorum.
    ///
    /// Invariant: `committed <= last_index()`.
    pub committed: u64,
    /// The highest index handed to the application to apply (some may still be in flight).
    ///
    /// Invariant: `applied <= applying <= committed`.
    pub applying: u64,
    /// The highest index the application reported applied.
    ///
    /// Invariant: `applied <= committed`.
    pub applied: u64,
    /// The most bytes (by [`Entry::size`]) of committed entries that may be handed out and not yet
    /// applied.
    ///
    /// Invariant: `max_applying_size > 0`.
    pub max_applying_size: u64,
    /// Whether handing out committed entries is paused until enough of them are applied.
    pub applying_paused: bool,
    /// The bytes of committed entries handed out and not yet reported applied.
    applying_size: u64,
    /// The id `(index, term)` of the last durable entry, the one right before the unstable
    /// offset, as learned when it became stable. Most term lookups ask for it (the previous
    /// entry of a leader's append, the entry a follower matches), and answering from here
    /// saves a storage read.
    ///
    /// Invariant: trusted only while `index + 1 == unstable.offset` and no unstable snapshot
    /// exists. The offset grows only through `stable_to`, which refreshes this, or `restore`,
    /// which clears it; so a matching offset means the value is current.
    stable_tail: Option<(u64, u64)>,
}

impl<S: Storage> RaftLog<S> {
    /// A log over `store`, with every cursor at the store's compaction point: what the snapshot
    /// holds is committed and applied, the rest is not yet known to be.
    ///
    /// # Errors
    ///
    /// Passes on storage errors, and fails with `Other` if storage reports impossible bounds
    /// (a first index of 0, or past `last_index + 1`); `ConfigInvalid` if `max_applying_size` is
    /// 0 (nothing could ever be applied).
    pub fn new(store: S, max_applying_size: u64) -> Result<RaftLog<S>> {
        if max_applying_size == 0 {
            return Err(Error::ConfigInvalid {
                field: "max_applying_size",
                reason: "must be at least 1 byte".to_owned(),
            });
        }
        let first_index = store.first_index()?;
        let last_index = store.last_index()?;
        let Some(compacted) = first_index.checked_sub(1).filter(|&c| c <= last_index) else {
            return Err(Error::Storage(StorageError::Other(format!(
                "storage reports first index {first_index} and last index {last_index}"
            ))));
        };
        Ok(RaftLog {
            store,
            unstable: Unstable::new(last_index + 1),
            committed: compacted,
            applying: compacted,
            applied: compacted,
            max_applying_size,
            applying_paused: false,
            applying_size: 0,
            stable_tail: None,
        })
    }

    /// The index of the first entry still available (after the snapshot, if any).
    ///
    /// # Panics
    ///
    /// Panics if storage cannot say: the node cannot go on without its log.
    pub fn first_index(&self) -> u64 {
        if let Some(i) = self.unstable.maybe_first_index() {
            return i;
        }
        match self.store.first_index() {
            Ok(i) => i,
            Err(e) => panic!("storage failed to report its first index: {e}"),
        }
    }

    /// The index of the last entry (unstable or durable).
    ///
    /// # Panics
    ///
    /// Panics if storage cannot say: the node cannot go on without its log.
    pub fn last_index(&self) -> u64 {
        if let Some(i) = self.unstable.maybe_last_index() {
            return i;
        }
        // With nothing unstable, storage ends right before the unstable offset: entries leave
        // the unstable log only once storage holds them, and storage holds nothing newer.
        let last = self.unstable.offset - 1;
        debug_assert_eq!(
            self.store.last_index().ok(),
            Some(last),
            "invariant: storage ends right before the unstable offset"
        );
        last
    }

    /// The term of the last entry.
    ///
    /// # Panics
    ///
    /// Panics if that term cannot be read: the log is corrupt.
    pub fn last_term(&self) -> u64 {
        let last = self.last_index();
        match self.term(last) {
            Ok(t) => t,
            Err(e) => panic!("cannot read the term of the last entry {last}: {e}"),
        }
    }

    /// The term of the entry at `i`.
    ///
    /// The valid range is `[first_index() - 1, last_index()]` (the entry before the first is
    /// compacted away but its term is kept for matching appends).
    ///
    /// # Errors
    ///
    /// `Compacted` below the range and `Unavailable` above it, so that a leader notices when a
    /// follower needs a snapshot; storage errors for indexes in range are passed on.
    pub fn term(&self, i: u64) -> Result<u64> {
        match self.term_in_range(i) {
            Some(t) => t,
            None if i > self.last_index() => Err(Error::Storage(StorageError::Unavailable)),
            None => Err(Error::Storage(StorageError::Compacted)),
        }
    }

    /// Whether the entry at `i` exists (or is the compaction point) and has term `term`.
    pub fn match_term(&self, i: u64, term: u64) -> bool {
        matches!(self.term_in_range(i), Some(Ok(t)) if t == term)
    }

    /// Appends `ents`, which follow the entry (`index`, `log_term`), if that entry is in the log;
    /// commits up to `committed` (bounded by the last new entry). Entries that are already
    /// present are kept; the log is truncated at the first conflicting one.
    ///
    /// Returns the index of the last new entry, or `None` if (`index`, `log_term`) does not match.
    ///
    /// # Panics
    ///
    /// Panics if a committed entry would be overwritten: the log is corrupt.
    pub fn maybe_append(
        &mut self,
        index: u64,
        log_term: u64,
        committed: u64,
        ents: &[Entry],
    ) -> Option<u64> {
        let (last_new, start) = self.accept_from(index, log_term, ents)?;
        if let Some(start) = start {
            self.append(&ents[start..]);
        }
        self.commit_to(cmp::min(committed, last_new));
        Some(last_new)
    }

    /// [`RaftLog::maybe_append`] taking the entries by value, so that new entries move into the
    /// unstable log without being copied.
    pub fn maybe_append_owned(
        &mut self,
        index: u64,
        log_term: u64,
        committed: u64,
        mut ents: Vec<Entry>,
    ) -> Option<u64> {
        let (last_new, start) = self.accept_from(index, log_term, &ents)?;
        if let Some(start) = start {
            ents.drain(..start);
            self.append_owned(ents);
        }
        self.commit_to(cmp::min(committed, last_new));
        Some(last_new)
    }

    /// Whether entries following (`index`, `log_term`) can be appended: `None` if that entry is
    /// not in the log, else the last new index and the position in `ents` from which entries
    /// must be written (`None` if all are already present).
    fn accept_from(
        &self,
        index: u64,
        log_term: u64,
        ents: &[Entry],
    ) -> Option<(u64, Option<usize>)> {
        if !self.match_term(index, log_term) {
            return None;
        }
        debug_assert!(
            ents.first().is_none_or(|e| e.index == index + 1),
            "appended entries must follow index {index}"
        );
        let last_new = index + ents.len() as u64;
        let conflict = self.find_conflict(ents);
        if conflict == 0 {
            return Some((last_new, None));
        }
        assert!(
            conflict > self.committed,
            "entry {conflict} conflicts with a committed entry (committed {})",
            self.committed
        );
        let start = conflict - (index + 1);
        debug_assert!(
            start < ents.len() as u64,
            "conflict {conflict} beyond new entries"
        );
        Some((last_new, Some(start as usize)))
    }

    /// Appends `ents` after truncating the unstable log at `ents[0].index`; returns the new last
    /// index.
    ///
    /// # Panics
    ///
    /// Panics if a committed entry would be overwritten, or if `ents` would leave a gap.
    pub fn append(&mut self, ents: &[Entry]) -> u64 {
        let Some(head) = ents.first() else {
            return self.last_index();
        };
        self.check_append_after_committed(head.index);
        self.unstable.truncate_and_append(ents);
        self.last_index()
    }

    /// Like [`RaftLog::append`], but takes the entries by value: a leader appending its own
    /// proposals moves them in without copying.
    ///
    /// # Panics
    ///
    /// Panics if a committed entry would be overwritten, or if `ents` would leave a gap.
    pub fn append_owned(&mut self, ents: Vec<Entry>) -> u64 {
        let Some(head) = ents.first() else {
            return self.last_index();
        };
        self.check_append_after_committed(head.index);
        self.unstable.truncate_and_append_owned(ents);
        self.last_index()
    }

    /// The index of the first entry of `ents` that is not in the log with the same term: either
    /// a conflict (same index, other term) or the first new entry. 0 if every entry of `ents` is
    /// already in the log.
    ///
    /// `ents` must have contiguous indexes.
    pub fn find_conflict(&self, ents: &[Entry]) -> u64 {
        for ent in ents {
            if !self.match_term(ent.index, ent.term) {
                if ent.index <= self.last_index() {
                    info!(
                        index = ent.index,
                        existing_term = self.term(ent.index).unwrap_or(0),
                        conflicting_term = ent.term,
                        "found a conflicting entry"
                    );
                }
                return ent.index;
            }
        }
        0
    }

    /// The best guess of where this log stops matching another log of which only the entry
    /// (`index`, `term`) is known: the largest index `<= index` whose term is `<= term` or
    /// unknown (compacted or missing), with its term (0 if unknown).
    pub fn find_conflict_by_term(&self, index: u64, term: u64) -> (u64, u64) {
        let mut i = index;
        while i > 0 {
            match self.term_in_range(i) {
                Some(Ok(our_term)) if our_term > term => i -= 1,
                Some(Ok(our_term)) => return (i, our_term),
                // The term is unknown: assume the logs may match here.
                Some(Err(_)) | None => return (i, 0),
            }
        }
        (0, 0)
    }

    /// Whether a log ending at (`last_index`, `term`) is at least as up to date as this one: a
    /// later last term wins, and with equal last terms the longer log wins.
    pub fn is_up_to_date(&self, last_index: u64, term: u64) -> bool {
        let our_term = self.last_term();
        term > our_term || (term == our_term && last_index >= self.last_index())
    }

    /// The unstable entries not yet handed to storage.
    pub fn next_unstable_ents(&self) -> &[Entry] {
        self.unstable.next_entries()
    }

    /// Whether there are unstable entries not yet handed to storage.
    pub fn has_next_unstable_ents(&self) -> bool {
        !self.next_unstable_ents().is_empty()
    }

    /// Whether there are unstable entries, handed to storage or not.
    pub fn has_next_or_in_progress_unstable_ents(&self) -> bool {
        !self.unstable.entries.is_empty()
    }

    /// The unstable snapshot, if not yet handed to storage.
    pub fn next_unstable_snapshot(&self) -> Option<&Snapshot> {
        self.unstable.next_snapshot()
    }

    /// Whether there is an unstable snapshot not yet handed to storage.
    pub fn has_next_unstable_snapshot(&self) -> bool {
        self.unstable.next_snapshot().is_some()
    }

    /// Whether there is an unstable snapshot, handed to storage or not.
    pub fn has_next_or_in_progress_snapshot(&self) -> bool {
        self.unstable.snapshot.is_some()
    }

    /// The committed entries to hand to the application next: after `applying`, up to
    /// [`RaftLog::max_appliable_index`], within the bytes left under `max_applying_size` (but at
    /// least one entry). Empty while paused or while a snapshot is pending.
    ///
    /// # Panics
    ///
    /// Panics if committed entries cannot be read: the log is corrupt.
    pub fn next_committed_ents(&self, allow_unstable: bool) -> Vec<Entry> {
        if !self.has_next_committed_ents(allow_unstable) {
            return Vec::new();
        }
        let lo = self.applying + 1;
        let hi = self.max_appliable_index(allow_unstable) + 1;
        let max_size = self.max_applying_size.saturating_sub(self.applying_size);
        debug_assert!(
            max_size > 0,
            "handing out entries with no applying budget left"
        );
        match self.slice(lo, hi, max_size) {
            Ok(ents) => ents,
            Err(e) => panic!("cannot read committed entries [{lo}, {hi}): {e}"),
        }
    }

    /// Whether [`RaftLog::next_committed_ents`] has anything to return (a cheap check).
    pub fn has_next_committed_ents(&self, allow_unstable: bool) -> bool {
        // With a snapshot pending, applying entries too would leave the order of the two open.
        !self.applying_paused
            && !self.has_next_or_in_progress_snapshot()
            && self.applying < self.max_appliable_index(allow_unstable)
    }

    /// The highest committed index that may be applied: entries not yet durable locally count
    /// only if `allow_unstable`.
    pub fn max_appliable_index(&self, allow_unstable: bool) -> u64 {
        if allow_unstable {
            self.committed
        } else {
            cmp::min(self.committed, self.unstable.offset - 1)
        }
    }

    /// The snapshot to send to peer `to`: the unstable one if it is recent enough, or else one
    /// from storage at or after `request_index`.
    ///
    /// # Errors
    ///
    /// Passes on storage errors, such as `SnapshotTemporarilyUnavailable`.
    pub fn snapshot(&self, request_index: u64, to: u64) -> Result<Snapshot> {
        if let Some(snap) = self
            .unstable
            .snapshot
            .as_ref()
            .filter(|s| s.index() >= request_index)
        {
            return Ok((**snap).clone());
        }
        self.store.snapshot(request_index, to)
    }

    /// Raises the commit index to `to`; never lowers it.
    ///
    /// # Panics
    ///
    /// Panics if `to` is past the last entry: the log was corrupted, truncated or lost.
    pub fn commit_to(&mut self, to: u64) {
        if self.committed >= to {
            return;
        }
        let last = self.last_index();
        assert!(
            to <= last,
            "commit index {to} is past the last index {last}: \
             was the raft log corrupted, truncated, or lost?"
        );
        self.committed = to;
    }

    /// Records that the application applied everything up to `i`, which frees `size` bytes of
    /// the applying budget.
    ///
    /// # Panics
    ///
    /// Panics unless `applied <= i <= committed`.
    pub fn applied_to(&mut self, i: u64, size: u64) {
        assert!(
            self.applied <= i && i <= self.committed,
            "applied index {i} out of range [applied {}, committed {}]",
            self.applied,
            self.committed
        );
        self.applied = i;
        self.applying = cmp::max(self.applying, i);
        // A caller that over-reports sizes must not wrap the count around.
        self.applying_size = self.applying_size.saturating_sub(size);
        self.applying_paused = self.applying_size >= self.max_applying_size;
        self.debug_check_cursors();
    }

    /// Records that the committed entries up to `i`, of `size` bytes, were handed to the
    /// application, and pauses handing out more if the budget is spent or if the last batch was
    /// cut short by it.
    ///
    /// # Panics
    ///
    /// Panics if `i` is past the commit index.
    pub fn accept_applying(&mut self, i: u64, size: u64, allow_unstable: bool) {
        assert!(
            i <= self.committed,
            "applying index {i} out of range [applying {}, committed {}]",
            self.applying,
            self.committed
        );
        self.applying = i;
        self.applying_size = self.applying_size.saturating_add(size);
        // A batch that stopped short of the appliable index was cut by the size limit: the next
        // entry would overshoot the budget, so wait for some of it to come back first.
        self.applying_paused = self.applying_size >= self.max_applying_size
            || i < self.max_appliable_index(allow_unstable);
        self.debug_check_cursors();
    }

    /// The bytes of committed entries handed to the application and not yet applied.
    pub fn applying_size(&self) -> u64 {
        self.applying_size
    }

    /// Marks the unstable entries and snapshot as handed to storage.
    pub fn accept_unstable(&mut self) {
        self.unstable.accept_in_progress();
    }

    /// Records that the entries up to (`index`, `term`) are durable.
    ///
    /// The acknowledgement must come from a write issued in the current raft term; see
    /// [`Unstable::stable_to`] for why an older one can be wrong even when it matches.
    pub fn stable_to(&mut self, index: u64, term: u64) {
        self.unstable.stable_to(index, term);
        if self.unstable.offset == index + 1 {
            self.stable_tail = Some((index, term));
        }
    }

    /// Records that the snapshot at index `i` is durable.
    pub fn stable_snap_to(&mut self, i: u64) {
        self.unstable.stable_snap_to(i);
    }

    /// The entries from `i` to the last, within `max_size` bytes (at least one). Empty if `i` is
    /// past the last index.
    ///
    /// # Errors
    ///
    /// `Compacted` if `i` is below the first index; other storage errors are passed on.
    pub fn entries(&self, i: u64, max_size: u64) -> Result<Vec<Entry>> {
        let last = self.last_index();
        if i > last {
            return Ok(Vec::new());
        }
        self.slice(i, last + 1, max_size)
    }

    /// Every entry in the log.
    ///
    /// # Panics
    ///
    /// Panics if storage fails with anything but a racing compaction (which is retried).
    pub fn all_entries(&self) -> Vec<Entry> {
        let mut first = self.first_index();
        loop {
            match self.entries(first, NO_LIMIT) {
                Ok(ents) => return ents,
                Err(Error::Storage(StorageError::Compacted)) => {
                    // Retry only if storage really moved on; otherwise it contradicts itself.
                    let now = self.first_index();
                    assert!(
                        now > first,
                        "storage reports first index {first} yet compacted it"
                    );
                    first = now;
                }
                Err(e) => panic!("cannot read the log: {e}"),
            }
        }
    }

    /// Commits up to `max_index` if that entry has term `term` (a leader only commits entries of
    /// its own term by counting replicas). Returns whether the commit index moved.
    pub fn maybe_commit(&mut self, max_index: u64, term: u64) -> bool {
        // No leader has term 0, and 0 is also what `term` reports for unknown indexes.
        if max_index > self.committed && term != 0 && self.term(max_index).unwrap_or(0) == term {
            self.commit_to(max_index);
            return true;
        }
        false
    }

    /// Replaces the log with `snap`, which is committed by definition.
    pub fn restore(&mut self, snap: Snapshot) {
        info!(
            index = snap.index(),
            term = snap.term(),
            committed = self.committed,
            applied = self.applied,
            unstable_offset = self.unstable.offset,
            "log restores a snapshot"
        );
        self.committed = snap.index();
        self.stable_tail = None;
        self.unstable.restore(snap);
    }

    /// The entries with indexes in `[lo, hi)`, from storage and then the unstable tail, within
    /// `max_size` bytes but at least one.
    ///
    /// # Errors
    ///
    /// `Compacted` if `lo` is below the first index; other storage errors are passed on.
    ///
    /// # Panics
    ///
    /// Panics if `lo > hi` or `hi > last_index() + 1`, or if storage lost entries it reported.
    pub fn slice(&self, lo: u64, hi: u64, max_size: u64) -> Result<Vec<Entry>> {
        self.check_bounds(lo, hi)?;
        if lo == hi {
            return Ok(Vec::new());
        }
        let offset = self.unstable.offset;
        let mut ents = Vec::new();
        if lo < offset {
            let stored_hi = cmp::min(hi, offset);
            ents = match self.store.entries(lo, stored_hi, max_size) {
                Ok(ents) => ents,
                Err(Error::Storage(StorageError::Unavailable)) => {
                    panic!("entries [{lo}, {stored_hi}) are missing from storage")
                }
                Err(e) => return Err(e),
            };
            // Fewer entries than asked for means the size limit was reached.
            if (ents.len() as u64) < stored_hi - lo || hi <= offset {
                return Ok(ents);
            }
        }
        let unstable = self.unstable.slice(cmp::max(lo, offset), hi);
        let n = if ents.is_empty() {
            size_limited_len(unstable, max_size)
        } else {
            let used: u64 = ents.iter().map(Entry::size).sum();
            fitting_len(unstable, max_size.saturating_sub(used))
        };
        ents.reserve_exact(n);
        ents.extend_from_slice(&unstable[..n]);
        Ok(ents)
    }

    /// Calls `f` on the entries in `[lo, hi)`, in order, in pages of at most `page_size` bytes
    /// (a page holds at least one entry). Stops at the first error, which may be `f`'s own: `f`
    /// can return an error to end the scan early.
    ///
    /// # Errors
    ///
    /// Whatever [`RaftLog::slice`] or `f` return.
    pub fn scan(
        &self,
        lo: u64,
        hi: u64,
        page_size: u64,
        mut f: impl FnMut(&[Entry]) -> Result<()>,
    ) -> Result<()> {
        let mut lo = lo;
        while lo < hi {
            let ents = self.slice(lo, hi, page_size)?;
            if ents.is_empty() {
                return Err(Error::Storage(StorageError::Other(format!(
                    "got no entries in [{lo}, {hi})"
                ))));
            }
            f(&ents)?;
            lo += ents.len() as u64;
        }
        Ok(())
    }

    /// The term of entry `i` if `i` is in `[first_index() - 1, last_index()]`; `None` otherwise.
    fn term_in_range(&self, i: u64) -> Option<Result<u64>> {
        // An unstable hit is in range by construction, and saves asking storage for bounds.
        if let Some(t) = self.unstable.maybe_term(i) {
            return Some(Ok(t));
        }
        if let Some((index, term)) = self.stable_tail
            && index == i
            && index + 1 == self.unstable.offset
            && self.unstable.snapshot.is_none()
        {
            debug_assert_eq!(
                self.store.term(i).ok(),
                Some(term),
                "invariant: the cached stable tail matches storage"
            );
            return Some(Ok(term));
        }
        if self.unstable.snapshot.is_some() || i >= self.unstable.offset {
            // The unstable snapshot and entries cover every valid index from the offset on
            // (and, with a snapshot, every valid index at all).
            return None;
        }
        // Below the unstable entries storage alone is authoritative and checks its own bounds,
        // which saves asking it for them first.
        match self.store.term(i) {
            Err(Error::Storage(StorageError::Compacted | StorageError::Unavailable)) => None,
            other => Some(other),
        }
    }

    fn check_append_after_committed(&self, first_new: u64) {
        assert!(
            first_new > self.committed,
            "appending at index {first_new} would overwrite committed entries (committed {})",
            self.committed
        );
    }

    /// `Compacted` if `lo` is below the first index; panics unless `lo <= hi <= last_index + 1`.
    fn check_bounds(&self, lo: u64, hi: u64) -> Result<()> {
        assert!(lo <= hi, "invalid slice [{lo}, {hi})");
        // The first index never exceeds the unstable offset: skip asking storage for it when
        // the slice starts at or after the offset (the common case of replicating new entries).
        let first = if lo >= self.unstable.offset {
            lo
        } else {
            self.first_index()
        };
        if lo < first {
            return Err(Error::Storage(StorageError::Compacted));
        }
        let last = self.last_index();
        assert!(
            hi <= last + 1,
            "slice [{lo}, {hi}) out of bounds [{first}, {last}]"
        );
        Ok(())
    }

    fn debug_check_cursors(&self) {
        debug_assert!(
            self.applied <= self.applying && self.applying <= self.committed,
            "applied {} <= applying {} <= committed {}",
            self.applied,
            self.applying,
            self.committed
        );
        debug_assert!(
            self.committed <= self.last_index(),
            "committed past the last index"
        );
        debug_assert!(
            self.max_applying_size > 0,
            "an empty applying budget never refills"
        );
    }
}

/// The number of leading entries of `ents` whose sizes sum to at most `budget` (possibly none).
fn fitting_len(ents: &[Entry], budget: u64) -> usize {
    let mut size = 0u64;
    ents.iter()
        .take_while(|e| {
            size = size.saturating_add(e.size());
            size <= budget
        })
        .count()
}

#[cfg(test)]
mod tests;
