//! Recovery on open: every region this store hosts, with the states it restarts from.
//!
//! ```text
//! scan meta CF ─► RegionLocalState of every region (8-byte keys)
//!   per region ─► ApplyState, persisted RaftLocalState, last log entry (one reverse seek)
//!             ─► raft state rebuilt (below) ─► log bounds checked at both ends
//! ```
//!
//! The persisted [`RaftLocalState`] is written only when it carries what the log cannot give
//! back: initial states, a term or vote change, an applied snapshot. Its log end and commit index
//! may therefore be stale, and [`recover_raft_state`] rebuilds them (as etcd and TiKV do):
//!
//! - `last_index`, `last_term`: the last entry of the region's log. Every append deletes any
//!   older entry after its new end in the same batch, so the log's last key is its end. An empty
//!   log (compacted whole, or just after a snapshot) ends at the compaction point
//!   (`truncated_index`, `truncated_term`).
//! - `commit`: the maximum of the persisted commit and the applied index. Applied entries are
//!   committed, and only durable entries are applied, so this never claims an entry the log
//!   lacks; the core learns any newer commit index from its leader.
//! - `term`, `vote`: as persisted; every change of either is written in the batch that carries
//!   it.
//!
//! Tombstones come back too (their ids must not be reused for new peers), without log checks.
//! A region in [`PeerState::Applying`] comes back with the states it had before the snapshot
//! apply was interrupted, checked as usual, or with none if that snapshot was its first; the
//! store then applies a snapshot again (the recovery rule of [`crate::snapshot`]).

use crate::apply::KvReader;
use crate::error::{Error, Result};
use crate::keys;
use crate::raft_log::RaftLogReader;
use crate::traits::{Cf, Peekable, decode_msg};
use crate::types::{ApplyState, PeerState, RaftLocalState, RegionId, RegionLocalState};

/// One region found on open.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredRegion {
    /// The region's id.
    pub region_id: RegionId,
    /// Its local state (peer state and region).
    pub local_state: RegionLocalState,
    /// Its apply state; `None` only for a tombstone, or for a region in [`PeerState::Applying`]
    /// whose first snapshot was interrupted.
    pub apply_state: Option<ApplyState>,
    /// Its raft state, rebuilt by [`recover_raft_state`]; `None` exactly when `apply_state` is,
    /// except for a tombstone.
    pub raft_state: Option<RaftLocalState>,
}

impl RecoveredRegion {
    /// The peer state.
    pub fn peer_state(&self) -> PeerState {
        self.local_state.state()
    }

    /// The first index in the log (one past the compaction point).
    pub fn first_index(&self) -> u64 {
        self.apply_state.map_or(0, |s| s.truncated_index + 1)
    }

    /// The last index in the log.
    pub fn last_index(&self) -> u64 {
        self.raft_state.map_or(0, |s| s.last_index)
    }
}

/// Every region with a local state, in id order, checked.
///
/// Returns [`Error::Corruption`] if a live region lacks its apply or raft state (both may be
/// missing only while a first snapshot is `Applying`), or if its raft state cannot be rebuilt
/// ([`recover_raft_state`]).
pub fn recover_regions<P: Peekable>(engine: &P) -> Result<Vec<RecoveredRegion>> {
    let mut states = Vec::new();
    engine.scan_cf(Cf::Meta, &[], &[0xff; 9], &mut |key, value| {
        if let Some(region_id) = keys::decode_region_state_key(key) {
            states.push((
                region_id,
                decode_msg::<RegionLocalState>(value, Cf::Meta, key)?,
            ));
        }
        Ok(true)
    })?;
    states
        .into_iter()
        .map(|(region_id, local_state)| recover_region(engine, region_id, local_state))
        .collect()
}

/// The raft state `region_id` restarts from: the persisted hard state, the log end read from
/// the log, and the commit index raised to the applied index (see the module docs). `None` if the
/// region has no persisted raft state.
///
/// Returns [`Error::Corruption`] if the log ends before the compaction point, if the entry after
/// the compaction point is missing from a non-empty log, or if the commit index is past the log
/// end.
pub fn recover_raft_state<P: Peekable>(
    engine: &P,
    region_id: RegionId,
    apply: &ApplyState,
) -> Result<Option<RaftLocalState>> {
    let Some(persisted) = engine.raft_state(region_id)? else {
        return Ok(None);
    };
    let corrupt = |what: String| Err(Error::Corruption(format!("region {region_id}: {what}")));
    let (last_index, last_term) = match engine.last_log_entry(region_id)? {
        Some(last) => (last.index, last.term),
        None => (apply.truncated_index, apply.truncated_term),
    };
    if last_index < apply.truncated_index {
        return corrupt(format!(
            "log ends at {last_index} before the compaction point {}",
            apply.truncated_index
        ));
    }
    let first_index = apply.truncated_index + 1;
    if last_index >= first_index && engine.log_entry(region_id, first_index)?.is_none() {
        return corrupt(format!("log entry {first_index} missing"));
    }
    let mut hard_state = persisted.hard_state();
    hard_state.commit = hard_state.commit.max(apply.applied_index);
    if hard_state.commit > last_index {
        return corrupt(format!(
            "commit index {} past the log end {last_index}",
            hard_state.commit
        ));
    }
    Ok(Some(RaftLocalState {
        hard_state: Some(hard_state),
        last_index,
        last_term,
    }))
}

fn recover_region<P: Peekable>(
    engine: &P,
    region_id: RegionId,
    local_state: RegionLocalState,
) -> Result<RecoveredRegion> {
    let apply_state = engine.apply_state(region_id)?;
    if local_state.state() == PeerState::Tombstone {
        let raft_state = engine.raft_state(region_id)?;
        return Ok(RecoveredRegion {
            region_id,
            local_state,
            apply_state,
            raft_state,
        });
    }
    let raft_state = match &apply_state {
        Some(apply) => recover_raft_state(engine, region_id, apply)?,
        None => None,
    };
    let first_snapshot_interrupted = local_state.state() == PeerState::Applying
        && apply_state.is_none()
        && engine.raft_state(region_id)?.is_none();
    if !first_snapshot_interrupted && (apply_state.is_none() || raft_state.is_none()) {
        return Err(Error::Corruption(format!(
            "region {region_id}: apply state or raft state missing"
        )));
    }
    Ok(RecoveredRegion {
        region_id,
        local_state,
        apply_state,
        raft_state,
    })
}
