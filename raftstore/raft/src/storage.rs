//! The [`Storage`] trait through which the core reads the durable log, and [`MemStorage`], an
//! in-memory implementation for tests, the simulator and benchmarks.
//!
//! The core never writes to storage. The application persists what a `Ready` (or a
//! `MsgStorageAppend`) hands it, and the core then reads the durable log back through
//! [`Storage`]: `RaftLog` stitches those entries together with its own unstable tail.
//!
//! A storage holds a contiguous run of entries `[first_index, last_index]` plus the term of the
//! entry just before `first_index` (the *compaction point*): that entry's payload is gone, into a
//! snapshot, but its term is still needed to match appends that follow it. An empty log has
//! `last_index == first_index - 1`.
//!
//! ```text
//!   compacted ...  | point |  first ............ last |
//!   (in snapshot)  |  term |  entries                 |
//! ```

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use tracing::debug;

use crate::errors::{Error, Result, StorageError};
use crate::raftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};

/// The `max_size` that lets every entry through.
pub const NO_LIMIT: u64 = u64::MAX;

/// The persisted state a node restarts from: its hard state and its configuration.
#[derive(Clone, Default, Debug, PartialEq)]
pub struct RaftState {
    /// Term, vote and commit index as last persisted.
    pub hard_state: HardState,
    /// The membership the node starts with.
    pub conf_state: ConfState,
}

impl RaftState {
    /// A state made of the given parts.
    pub fn new(hard_state: HardState, conf_state: ConfState) -> RaftState {
        RaftState {
            hard_state,
            conf_state,
        }
    }
}

/// Read access to the durable part of a group's log.
///
/// If a method returns an error other than the ones documented, the node cannot go on: the core
/// stops (fail-stop) rather than guess, and recovery is up to the application.
pub trait Storage {
    /// The hard state and configuration persisted so far (both empty for a brand-new node).
    fn initial_state(&self) -> Result<RaftState>;

    /// The entries with indexes in `[low, high)`, at most `max_size` bytes by [`Entry::size`],
    /// but always at least one entry when the range is not empty.
    ///
    /// Returns `Compacted` if `low` is at or below the compaction point (`low < first_index`),
    /// and `Unavailable` if `high > last_index + 1`.
    fn entries(&self, low: u64, high: u64, max_size: u64) -> Result<Vec<Entry>>;

    /// The term of the entry at `index`, which must lie in `[first_index - 1, last_index]`: the
    /// term of the compaction point is kept for matching. Returns `Compacted` below that range and
    /// `Unavailable` above it.
    fn term(&self, index: u64) -> Result<u64>;

    /// The index of the first entry [`Storage::entries`] can return; one past the compaction
    /// point (1 for a log that was never compacted).
    fn first_index(&self) -> Result<u64>;

    /// The index of the last entry (`first_index - 1` when the log is empty).
    fn last_index(&self) -> Result<u64>;

    /// A snapshot at or after `request_index` to send to peer `to`.
    ///
    /// Returns `SnapshotTemporarilyUnavailable` if none is ready yet; the core asks again later.
    fn snapshot(&self, request_index: u64, to: u64) -> Result<Snapshot>;
}

/// The number of leading entries of `ents` whose [`Entry::size`] sum stays within `max_size`,
/// but at least one if `ents` is not empty.
pub fn size_limited_len(ents: &[Entry], max_size: u64) -> usize {
    if max_size == NO_LIMIT {
        return ents.len();
    }
    let mut size = 0u64;
    for (i, ent) in ents.iter().enumerate() {
        size = size.saturating_add(ent.size());
        if i > 0 && size > max_size {
            return i;
        }
    }
    ents.len()
}

/// Truncates `ents` to the prefix [`size_limited_len`] allows.
pub fn limit_size(ents: &mut Vec<Entry>, max_size: u64) {
    let len = size_limited_len(ents, max_size);
    ents.truncate(len);
}

/// Removes the first `n` entries of `ents`, giving memory back once the vector is mostly empty:
/// an idle group must not pin the buffer of a past burst.
pub(crate) fn drop_entries_prefix(ents: &mut Vec<Entry>, n: usize) {
    debug_assert!(n <= ents.len(), "dropping {n} of {} entries", ents.len());
    let remaining = ents.len() - n;
    if remaining == 0 {
        *ents = Vec::new();
    } else if remaining.saturating_mul(4) <= ents.capacity() {
        // Moving the tail into a right-sized buffer costs the same as shifting it in place.
        let mut kept = Vec::with_capacity(remaining * 2);
        kept.extend(ents.drain(n..));
        *ents = kept;
    } else {
        ents.drain(..n);
    }
}

/// The state behind a [`MemStorage`]: a log, a snapshot, a hard state and a configuration.
#[derive(Default, Debug)]
pub struct MemStorageCore {
    /// What [`Storage::initial_state`] reports as the hard state.
    hard_state: HardState,
    /// What [`Storage::initial_state`] reports as the configuration.
    conf_state: ConfState,
    /// The latest snapshot, created here or applied from a leader; `None` until there is one
    /// (boxed: most groups of a store never hold one, and an idle group should stay small).
    snapshot: Option<Box<Snapshot>>,
    /// The index of the compaction point: the last entry removed from the log.
    compacted_index: u64,
    /// The term of the entry at `compacted_index`.
    compacted_term: u64,
    /// The log. `entries[i]` has index `compacted_index + 1 + i`.
    ///
    /// Invariant: indexes are contiguous from `compacted_index + 1`.
    entries: Vec<Entry>,
    /// Whether the next [`Storage::snapshot`] call fails with `SnapshotTemporarilyUnavailable`.
    snapshot_unavailable_once: bool,
}

impl MemStorageCore {
    /// Records the hard state that [`Storage::initial_state`] reports.
    pub fn set_hard_state(&mut self, hs: HardState) {
        self.hard_state = hs;
    }

    /// The hard state recorded last.
    pub fn hard_state(&self) -> &HardState {
        &self.hard_state
    }

    /// Records the configuration that [`Storage::initial_state`] reports.
    pub fn set_conf_state(&mut self, cs: ConfState) {
        self.conf_state = cs;
    }

    /// The index of the first entry in the log.
    pub fn first_index(&self) -> u64 {
        self.compacted_index + 1
    }

    /// The index of the last entry in the log (`first_index() - 1` when it is empty).
    pub fn last_index(&self) -> u64 {
        self.compacted_index + self.entries.len() as u64
    }

    /// Writes `ents` to the log, replacing every entry at or after `ents[0].index`.
    ///
    /// Entries at or below the compaction point are skipped: they are already in the snapshot.
    /// On error the log is unchanged.
    ///
    /// # Errors
    ///
    /// `Other` if `ents` would leave a gap after the last entry.
    pub fn append(&mut self, ents: &[Entry]) -> Result<()> {
        let Some(skip) = self.prepare_append(ents)? else {
            return Ok(());
        };
        self.entries.extend_from_slice(&ents[skip..]);
        self.debug_check();
        Ok(())
    }

    /// [`MemStorageCore::append`] taking the entries by value, so they move into the log
    /// without being copied (a `Ready`'s entries, once the node no longer needs them).
    ///
    /// # Errors
    ///
    /// `Other` if `ents` would leave a gap after the last entry.
    pub fn append_owned(&mut self, mut ents: Vec<Entry>) -> Result<()> {
        let Some(skip) = self.prepare_append(&ents)? else {
            return Ok(());
        };
        ents.drain(..skip);
        self.entries.append(&mut ents);
        self.debug_check();
        Ok(())
    }

    /// Checks where `ents` go and truncates the log for them. Returns how many leading entries
    /// to skip (already covered by the snapshot), or `None` if all of them are.
    fn prepare_append(&mut self, ents: &[Entry]) -> Result<Option<usize>> {
        let Some(head) = ents.first() else {
            return Ok(None);
        };
        debug_assert!(
            is_contiguous(ents),
            "appended entries must have contiguous indexes"
        );
        let first = self.first_index();
        let ents_last = head.index + ents.len() as u64 - 1;
        if ents_last < first {
            return Ok(None);
        }
        let skip = first.saturating_sub(head.index) as usize;
        let start = ents[skip].index;
        if start > self.last_index() + 1 {
            return Err(Error::Storage(StorageError::Other(format!(
                "log gap: appending at index {start} after last index {}",
                self.last_index()
            ))));
        }
        let keep = (start - first) as usize;
        if keep < self.entries.len() {
            debug!(
                index = start,
                last_index = self.last_index(),
                "storage truncates its log"
            );
        }
        self.entries.truncate(keep);
        if self.entries.is_empty() {
            // An idle group's log holds a handful of entries: size it exactly rather than by
            // the growth policy's minimum.
            self.entries.reserve_exact(ents.len() - skip);
        }
        Ok(Some(skip))
    }

    /// Replaces the whole log with `snap`: the log becomes empty after the snapshot's index,
    /// and the configuration becomes the snapshot's.
    ///
    /// A snapshot at index 0 (a configuration only, as when bootstrapping) is accepted as long as
    /// no real snapshot was stored yet.
    ///
    /// # Errors
    ///
    /// `SnapshotOutOfDate` if the stored snapshot is at or after `snap`'s index.
    pub fn apply_snapshot(&mut self, snap: Snapshot) -> Result<()> {
        let current = self.snapshot_index();
        if current != 0 && current >= snap.index() {
            return Err(Error::Storage(StorageError::SnapshotOutOfDate));
        }
        self.compacted_index = snap.index();
        self.compacted_term = snap.term();
        self.entries = Vec::new();
        self.conf_state = snap
            .metadata
            .as_ref()
            .and_then(|m| m.conf_state.clone())
            .unwrap_or_default();
        self.snapshot = Some(Box::new(snap));
        Ok(())
    }

    /// Stores and returns a snapshot of the state machine at `index`, holding `data`.
    ///
    /// With `cs`, the snapshot carries that configuration, which also becomes the one
    /// [`Storage::initial_state`] reports; without, it keeps the previous snapshot's. The log is
    /// not compacted: call [`MemStorageCore::compact`] for that.
    ///
    /// # Errors
    ///
    /// `SnapshotOutOfDate` if `index` is not after the stored snapshot, `Compacted` if the term of
    /// `index` is no longer known, `Unavailable` if `index` is past the last entry.
    pub fn create_snapshot(
        &mut self,
        index: u64,
        cs: Option<ConfState>,
        data: Bytes,
    ) -> Result<Snapshot> {
        if index <= self.snapshot_index() {
            return Err(Error::Storage(StorageError::SnapshotOutOfDate));
        }
        let term = self.term(index)?;
        let conf_state = match cs {
            Some(cs) => {
                self.conf_state = cs.clone();
                Some(cs)
            }
            None => match self.snapshot.take() {
                Some(previous) => previous.metadata.and_then(|m| m.conf_state),
                None => Some(self.conf_state.clone()),
            },
        };
        let snapshot = Snapshot {
            data,
            metadata: Some(SnapshotMetadata {
                conf_state,
                index,
                term,
            }),
        };
        self.snapshot = Some(Box::new(snapshot.clone()));
        Ok(snapshot)
    }

    /// Discards the entries up to and including `compact_index`, which becomes the compaction
    /// point: its term stays known, and `first_index()` becomes `compact_index + 1`.
    ///
    /// The application must not compact past what it has applied and snapshotted.
    ///
    /// # Errors
    ///
    /// `Compacted` if `compact_index` is at or below the current compaction point, `Unavailable`
    /// if it is past the last entry.
    pub fn compact(&mut self, compact_index: u64) -> Result<()> {
        if compact_index <= self.compacted_index {
            return Err(Error::Storage(StorageError::Compacted));
        }
        if compact_index > self.last_index() {
            return Err(Error::Storage(StorageError::Unavailable));
        }
        let n = (compact_index - self.compacted_index) as usize;
        self.compacted_term = self.entries[n - 1].term;
        self.compacted_index = compact_index;
        drop_entries_prefix(&mut self.entries, n);
        self.debug_check();
        Ok(())
    }

    /// The stored snapshot (the empty snapshot if none was ever stored).
    pub fn snapshot(&self) -> Snapshot {
        match &self.snapshot {
            Some(snapshot) => (**snapshot).clone(),
            // No snapshot yet: the empty one, carrying the initial configuration.
            None => Snapshot {
                data: Bytes::new(),
                metadata: Some(SnapshotMetadata {
                    conf_state: Some(self.conf_state.clone()),
                    index: 0,
                    term: 0,
                }),
            },
        }
    }

    /// The index of the latest snapshot, 0 if there is none.
    fn snapshot_index(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.index())
    }

    /// The entries of the log, from `first_index()` to `last_index()`.
    pub fn entries_vec(&self) -> &[Entry] {
        &self.entries
    }

    /// Makes the next [`Storage::snapshot`] call fail once with `SnapshotTemporarilyUnavailable`.
    pub fn trigger_snapshot_unavailable(&mut self) {
        self.snapshot_unavailable_once = true;
    }

    /// Sets the commit index of the hard state.
    ///
    /// # Errors
    ///
    /// `Unavailable` if `index` is past the last entry.
    pub fn commit_to(&mut self, index: u64) -> Result<()> {
        if index > self.last_index() {
            return Err(Error::Storage(StorageError::Unavailable));
        }
        self.hard_state.commit = index;
        Ok(())
    }

    fn term(&self, index: u64) -> Result<u64> {
        if index < self.compacted_index {
            return Err(Error::Storage(StorageError::Compacted));
        }
        if index == self.compacted_index {
            return Ok(self.compacted_term);
        }
        match self.entries.get((index - self.first_index()) as usize) {
            Some(ent) => Ok(ent.term),
            None => Err(Error::Storage(StorageError::Unavailable)),
        }
    }

    fn entries(&self, low: u64, high: u64, max_size: u64) -> Result<Vec<Entry>> {
        assert!(low <= high, "invalid entries range [{low}, {high})");
        if low <= self.compacted_index {
            return Err(Error::Storage(StorageError::Compacted));
        }
        if high > self.last_index() + 1 {
            return Err(Error::Storage(StorageError::Unavailable));
        }
        let first = self.first_index();
        let range = &self.entries[(low - first) as usize..(high - first) as usize];
        Ok(range[..size_limited_len(range, max_size)].to_vec())
    }

    fn snapshot_for(&mut self, request_index: u64) -> Result<Snapshot> {
        if std::mem::take(&mut self.snapshot_unavailable_once) {
            return Err(Error::Storage(StorageError::SnapshotTemporarilyUnavailable));
        }
        if self.snapshot_index() < request_index {
            // The application has not made a recent enough snapshot yet.
            return Err(Error::Storage(StorageError::SnapshotTemporarilyUnavailable));
        }
        Ok(self.snapshot())
    }

    fn debug_check(&self) {
        debug_assert!(
            self.entries
                .first()
                .is_none_or(|e| e.index == self.compacted_index + 1)
                && self
                    .entries
                    .last()
                    .is_none_or(|e| e.index == self.last_index()),
            "the log must be contiguous from index {}",
            self.compacted_index + 1
        );
    }
}

fn is_contiguous(ents: &[Entry]) -> bool {
    ents.windows(2).all(|w| w[0].index + 1 == w[1].index)
}

/// A thread-safe in-memory [`Storage`]; clones share the same state.
///
/// It keeps the log only: "applying" a snapshot records it but there is no state machine, and
/// [`Storage::snapshot`] returns the stored snapshot as is.
#[derive(Clone, Default, Debug)]
pub struct MemStorage {
    core: Arc<RwLock<MemStorageCore>>,
}

impl MemStorage {
    /// An empty storage: no entries, no snapshot, first index 1.
    pub fn new() -> MemStorage {
        MemStorage::default()
    }

    /// The storage of a fresh group whose initial configuration is `cs`: the stored snapshot is at
    /// index 0 and carries `cs`, which [`Storage::initial_state`] reports. Every member of a new
    /// group must start from the same configuration.
    pub fn new_with_conf_state(cs: ConfState) -> MemStorage {
        let storage = MemStorage::new();
        {
            let mut core = storage.wl();
            core.conf_state = cs;
        }
        storage
    }

    /// Locks the state for writing.
    ///
    /// # Panics
    ///
    /// Panics if a thread panicked while holding the lock.
    pub fn wl(&self) -> RwLockWriteGuard<'_, MemStorageCore> {
        self.core
            .write()
            .expect("invariant: no thread panics while holding the storage lock")
    }

    /// Locks the state for reading.
    ///
    /// # Panics
    ///
    /// Panics if a thread panicked while holding the lock.
    pub fn rl(&self) -> RwLockReadGuard<'_, MemStorageCore> {
        self.core
            .read()
            .expect("invariant: no thread panics while holding the storage lock")
    }
}

impl Storage for MemStorage {
    fn initial_state(&self) -> Result<RaftState> {
        let core = self.rl();
        Ok(RaftState::new(core.hard_state, core.conf_state.clone()))
    }

    fn entries(&self, low: u64, high: u64, max_size: u64) -> Result<Vec<Entry>> {
        self.rl().entries(low, high, max_size)
    }

    fn term(&self, index: u64) -> Result<u64> {
        self.rl().term(index)
    }

    fn first_index(&self) -> Result<u64> {
        Ok(self.rl().first_index())
    }

    fn last_index(&self) -> Result<u64> {
        Ok(self.rl().last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> Result<Snapshot> {
        self.wl().snapshot_for(request_index)
    }
}

#[cfg(test)]
pub(crate) mod tests;
