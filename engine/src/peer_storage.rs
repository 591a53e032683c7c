//! [`PeerStorage`]: the consensus core's [`raft::Storage`] for one region, over the engine.
//!
//! It keeps the region's raft state, apply state and entry cache in memory, so the core's reads
//! (`term`, `first_index`, `last_index`, and `entries` of the recent tail) touch no disk:
//!
//! ```text
//!            append(entries, hard_state, batch) ──► batch (raft CF) + cache + raft state
//!                (RaftLocalState into the batch only if the term or vote changed)
//! RawNode ──► entries(lo, hi) ──► [lo, cache first) from the engine, the rest from the cache
//!            compact(to, batch) ──► range delete + ApplyState into batch; cache trimmed
//! ```
//!
//! An append writes the entries (and deletes a conflicting suffix) but no raft state unless the
//! hard state's term or vote changed: the log end and the commit index are rebuilt on open by
//! [`recovery::recover_raft_state`] (the log's last entry; the commit raised to the applied
//! index). This halves the keys a group commit writes per region.
//!
//! Handles are cheap to clone and share one state: the peer keeps one to write through and hands
//! one to its `RawNode` to read through. In-memory state moves when a write is *prepared* (as in
//! TiKV): the peer must write the batch before it reports the entries persisted to the core.

use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use raft::raftpb::{Entry, HardState, Snapshot};
use raft::{RaftState, Storage, StorageError};

use crate::apply::{ApplyBatch, KvReader};
use crate::entry_cache::{CacheBudget, EntryCache};
use crate::error::{Error, Result};
use crate::raft_log::{RaftLogBatch, RaftLogReader};
use crate::recovery;
use crate::snapshot::{self, SnapshotMeta};
use crate::traits::{KvEngine, WriteBatch};
use crate::types::{ApplyState, PeerState, RaftLocalState, Region, RegionId, RegionLocalState};

/// The log index and term a region created from nothing starts at (as TiKV's
/// `RAFT_INIT_LOG_INDEX`): above zero, so a peer created by a message can tell it needs a
/// snapshot.
pub const INIT_LOG_INDEX: u64 = 5;
/// The term of the entry at [`INIT_LOG_INDEX`].
pub const INIT_LOG_TERM: u64 = 5;

/// One region's raft storage. Clones share state.
#[derive(Clone)]
pub struct PeerStorage<E: KvEngine> {
    engine: E,
    region_id: RegionId,
    core: Arc<RwLock<PeerStorageCore>>,
}

struct PeerStorageCore {
    /// Shared with the peer, its apply side, read delegate and the store's meta: one copy per
    /// replica, replaced whole on a change.
    region: Arc<Region>,
    /// Hard state and log end, as of the last prepared write.
    ///
    /// Invariant: the term and vote are those of the last raft state written to the engine (or
    /// prepared into a batch); the log end and commit index may be ahead of it, and recovery
    /// rebuilds them.
    raft_state: RaftLocalState,
    /// Applied index and compaction point, as the apply side last reported them.
    ///
    /// Invariant: `apply_state.truncated_index <= raft_state.last_index`.
    apply_state: ApplyState,
    cache: EntryCache,
    /// A snapshot generated for the core to send, once the store built one.
    generated_snapshot: Option<Box<Snapshot>>,
    /// Whether the core asked for a snapshot that is not ready.
    snapshot_requested: bool,
}

/// Writes the states of a region created from nothing (bootstrap, or a split child): its log
/// starts after [`INIT_LOG_INDEX`].
pub fn write_initial_states<W: WriteBatch>(batch: &mut W, region: &Region) {
    let id = region.region_id();
    batch.put_region_state(
        id,
        &RegionLocalState::new(PeerState::Normal, region.clone()),
    );
    batch.put_apply_state(
        id,
        &ApplyState {
            applied_index: INIT_LOG_INDEX,
            truncated_index: INIT_LOG_INDEX,
            truncated_term: INIT_LOG_TERM,
        },
    );
    let hard_state = HardState {
        term: INIT_LOG_TERM,
        vote: 0,
        commit: INIT_LOG_INDEX,
    };
    batch.put_raft_state(
        id,
        &RaftLocalState {
            hard_state: Some(hard_state),
            last_index: INIT_LOG_INDEX,
            last_term: INIT_LOG_TERM,
        },
    );
}

impl<E: KvEngine> PeerStorage<E> {
    /// Loads the region's storage from the engine (after [`write_initial_states`] or at
    /// recovery), with an entry cache charging `budget`. The raft state is rebuilt from the log
    /// by [`recovery::recover_raft_state`].
    ///
    /// Returns [`Error::RegionNotFound`] if a state is missing and [`Error::Corruption`] if the
    /// states and the log disagree.
    pub fn open(engine: E, region_id: RegionId, budget: Arc<CacheBudget>) -> Result<Self> {
        let not_found = || Error::RegionNotFound { region_id };
        let local = engine.region_state(region_id)?.ok_or_else(not_found)?;
        let region = local.region.ok_or_else(not_found)?;
        let apply_state = engine.apply_state(region_id)?.ok_or_else(not_found)?;
        let raft_state = recovery::recover_raft_state(&engine, region_id, &apply_state)?
            .ok_or_else(not_found)?;
        Ok(PeerStorage {
            engine,
            region_id,
            core: Arc::new(RwLock::new(PeerStorageCore {
                region: Arc::new(region),
                raft_state,
                apply_state,
                cache: EntryCache::new(budget),
                generated_snapshot: None,
                snapshot_requested: false,
            })),
        })
    }

    /// The region id.
    pub fn region_id(&self) -> RegionId {
        self.region_id
    }

    /// The region as last set.
    pub fn region(&self) -> Arc<Region> {
        Arc::clone(&self.core.read().region)
    }

    /// Replaces the in-memory region (after a conf change or split was applied).
    pub fn set_region(&self, region: Arc<Region>) {
        self.core.write().region = region;
    }

    /// The raft state as of the last prepared write.
    pub fn raft_state(&self) -> RaftLocalState {
        self.core.read().raft_state
    }

    /// The apply state as last reported.
    pub fn apply_state(&self) -> ApplyState {
        self.core.read().apply_state
    }

    /// Records how far the apply side got (the compaction point is kept).
    pub fn set_applied_index(&self, applied_index: u64) {
        let mut core = self.core.write();
        debug_assert!(applied_index >= core.apply_state.applied_index);
        core.apply_state.applied_index = applied_index;
    }

    /// Records a compaction the apply side wrote (its range delete and apply state went in the
    /// apply batch): the log now starts after `index`, and the cache drops what is below. An
    /// older or equal point is ignored.
    pub fn on_compacted(&self, index: u64, term: u64) {
        let mut core = self.core.write();
        if index <= core.apply_state.truncated_index {
            return;
        }
        debug_assert!(index <= core.apply_state.applied_index);
        core.apply_state.truncated_index = index;
        core.apply_state.truncated_term = term;
        core.cache.compact_to(index);
    }

    /// Prepares the write of appended `entries` and a new `hard_state` into `batch`: the entries
    /// (deleting a conflicting suffix), then the raft state if and only if `hard_state` changes
    /// the term or the vote. A commit-only change is kept in memory; recovery gets it back from
    /// the applied index. The cache and the in-memory state move now.
    ///
    /// # Panics
    ///
    /// If `entries` leave a gap after the log or go back to or below the compaction point, or if
    /// `hard_state` lowers the term.
    pub fn append<W: WriteBatch>(
        &self,
        entries: &[Entry],
        hard_state: Option<HardState>,
        batch: &mut W,
    ) {
        let mut core = self.core.write();
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            assert!(
                first.index > core.apply_state.truncated_index,
                "region {}: append at {} at or below the compaction point {}",
                self.region_id,
                first.index,
                core.apply_state.truncated_index
            );
            batch.append_entries(self.region_id, entries, core.raft_state.last_index);
            core.cache.append(entries);
            core.raft_state.last_index = last.index;
            core.raft_state.last_term = last.term;
        }
        let Some(hs) = hard_state else {
            return;
        };
        let written = core.raft_state.hard_state();
        assert!(
            hs.term >= written.term,
            "region {}: hard state term {} below {}",
            self.region_id,
            hs.term,
            written.term
        );
        core.raft_state.hard_state = Some(hs);
        if (hs.term, hs.vote) != (written.term, written.vote) {
            batch.put_raft_state(self.region_id, &core.raft_state);
        }
    }

    /// Prepares a log compaction up to `compact_to` (inclusive) into `batch`: one range delete
    /// and the new apply state; returns the new apply state. A compaction at or below the
    /// current point is a no-op returning the current state.
    ///
    /// Returns [`Error::InvalidArgument`] if `compact_to` is past the applied index or the log.
    pub fn compact<W: WriteBatch>(&self, compact_to: u64, batch: &mut W) -> Result<ApplyState> {
        let term = {
            let core = self.core.read();
            if compact_to <= core.apply_state.truncated_index {
                return Ok(core.apply_state);
            }
            if compact_to > core.apply_state.applied_index
                || compact_to > core.raft_state.last_index
            {
                return Err(Error::InvalidArgument(format!(
                    "region {}: compact to {compact_to} past applied {} or last {}",
                    self.region_id, core.apply_state.applied_index, core.raft_state.last_index
                )));
            }
            self.term_locked(&core, compact_to)?
        };
        let mut core = self.core.write();
        let first = core.apply_state.truncated_index + 1;
        batch.compact_log(self.region_id, first, compact_to);
        core.apply_state.truncated_index = compact_to;
        core.apply_state.truncated_term = term;
        batch.put_apply_state(self.region_id, &core.apply_state);
        core.cache.compact_to(compact_to);
        Ok(core.apply_state)
    }

    /// Drops cached entries at or below `index` (applied and sent to every follower), giving
    /// the memory back before compaction does.
    pub fn evict_cache_to(&self, index: u64) {
        self.core.write().cache.compact_to(index);
    }

    /// Drops the whole entry cache and its buffer: the region went quiet, so nobody needs its
    /// recent entries soon, and a quiet region should cost little more than its states. Reads
    /// fall back to the engine, which holds every entry the cache held.
    pub fn release_cache(&self) {
        self.core.write().cache.clear();
    }

    /// Bytes of this region's entry cache.
    pub fn cache_bytes(&self) -> usize {
        self.core.read().cache.bytes()
    }

    /// Hands the core a snapshot the store built for it.
    pub fn set_generated_snapshot(&self, snapshot: Snapshot) {
        let mut core = self.core.write();
        core.generated_snapshot = Some(Box::new(snapshot));
        core.snapshot_requested = false;
    }

    /// Whether the core asked for a snapshot that is not ready; the store then builds one.
    pub fn snapshot_requested(&self) -> bool {
        self.core.read().snapshot_requested
    }

    /// Applies the region snapshot in `dir` (see [`snapshot::apply_region_snapshot`]) and moves
    /// the in-memory state to it. On error the region is as it was.
    pub fn apply_snapshot(&self, dir: &Path, hard_state: HardState) -> Result<SnapshotMeta> {
        let meta = snapshot::apply_region_snapshot(&self.engine, self.region_id, dir, hard_state)?;
        let mut core = self.core.write();
        let (raft_state, apply_state) = snapshot::states_after_apply(&meta, hard_state);
        core.raft_state = raft_state;
        core.apply_state = apply_state;
        if let Some(region) = &meta.region {
            core.region = Arc::new(region.clone());
        }
        core.cache.clear();
        Ok(meta)
    }

    fn term_locked(&self, core: &PeerStorageCore, index: u64) -> Result<u64> {
        let apply = &core.apply_state;
        if index == apply.truncated_index {
            return Ok(apply.truncated_term);
        }
        if index == core.raft_state.last_index {
            return Ok(core.raft_state.last_term);
        }
        if let Some(entry) = core.cache.entry(index) {
            return Ok(entry.term);
        }
        match self.engine.log_entry(self.region_id, index)? {
            Some(entry) => Ok(entry.term),
            None => Err(Error::Corruption(format!(
                "region {}: log entry {index} missing",
                self.region_id
            ))),
        }
    }

    fn entries_locked(
        &self,
        core: &PeerStorageCore,
        lo: u64,
        hi: u64,
        max_size: u64,
    ) -> Result<Vec<Entry>> {
        let mut out = Vec::with_capacity((hi - lo).min(1024) as usize);
        let cache_first = core.cache.first_index().unwrap_or(hi);
        if lo < cache_first {
            let disk_hi = hi.min(cache_first);
            self.engine
                .fetch_entries(self.region_id, lo, disk_hi, max_size, &mut out)?;
            if out.len() as u64 != disk_hi - lo || disk_hi == hi {
                return Ok(out);
            }
        }
        let mut size: u64 = out.iter().map(Entry::size).sum();
        core.cache
            .fetch(lo.max(cache_first), hi, max_size, &mut size, &mut out);
        Ok(out)
    }
}

impl<E: KvEngine> Storage for PeerStorage<E> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let core = self.core.read();
        Ok(RaftState::new(
            core.raft_state.hard_state(),
            core.region.conf_state(),
        ))
    }

    fn entries(&self, low: u64, high: u64, max_size: u64) -> raft::Result<Vec<Entry>> {
        let core = self.core.read();
        if low <= core.apply_state.truncated_index {
            return Err(StorageError::Compacted.into());
        }
        if high > core.raft_state.last_index + 1 {
            return Err(StorageError::Unavailable.into());
        }
        if low >= high {
            return Ok(Vec::new());
        }
        self.entries_locked(&core, low, high, max_size)
            .map_err(|err| storage_error(&err))
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        let core = self.core.read();
        if index < core.apply_state.truncated_index {
            return Err(StorageError::Compacted.into());
        }
        if index > core.raft_state.last_index {
            return Err(StorageError::Unavailable.into());
        }
        self.term_locked(&core, index)
            .map_err(|err| storage_error(&err))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.core.read().apply_state.truncated_index + 1)
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.core.read().raft_state.last_index)
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let mut core = self.core.write();
        if let Some(snap) = &core.generated_snapshot
            && snap
                .metadata
                .as_ref()
                .is_some_and(|m| m.index >= request_index)
        {
            return Ok(Snapshot::clone(snap));
        }
        core.snapshot_requested = true;
        Err(StorageError::SnapshotTemporarilyUnavailable.into())
    }
}

fn storage_error(err: &Error) -> raft::Error {
    StorageError::Other(err.to_string()).into()
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::mem::MemEngine;
    use crate::traits::KvEngine;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            data: Bytes::from_static(b"x"),
            ..Entry::default()
        }
    }

    /// Goal: recovery starts a peer whose durable apply state is ahead of its durable commit.
    /// Method: the order the store produces: entries synced with an old commit, applied (no
    /// sync), then a synced write of a hard state prepared before the new commit was learned;
    /// crash and reopen.
    #[test]
    fn recovery_forwards_a_commit_index_behind_the_applied_index() {
        let engine = MemEngine::new();
        let region = Region {
            id: 1,
            ..Region::default()
        };
        let mut batch = engine.write_batch();
        write_initial_states(&mut batch, &region);
        engine.write(&mut batch, true).unwrap();
        let budget = CacheBudget::new(1 << 20);
        let storage = PeerStorage::open(engine.clone(), RegionId(1), Arc::clone(&budget)).unwrap();
        let stale = HardState {
            term: 6,
            vote: 1,
            commit: INIT_LOG_INDEX,
        };
        let entries = [entry(6, 6), entry(7, 6)];
        storage.append(&entries, Some(stale), &mut batch);
        engine.write(&mut batch, true).unwrap();
        batch.put_apply_state(
            RegionId(1),
            &ApplyState {
                applied_index: 7,
                ..storage.apply_state()
            },
        );
        engine.write(&mut batch, false).unwrap();
        storage.append(&[], Some(stale), &mut batch);
        engine.write(&mut batch, true).unwrap();
        engine.crash();

        let reopened = PeerStorage::open(engine.clone(), RegionId(1), budget).unwrap();
        let state = reopened.initial_state().unwrap();
        assert_eq!(
            state.hard_state.commit, 7,
            "commit forwarded to the applied index"
        );
        assert_eq!(reopened.apply_state().applied_index, 7);
    }
}
