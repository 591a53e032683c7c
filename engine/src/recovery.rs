//! Recovery on open: every region this store hosts, with the states it restarts from.
//!
//! ```text
//! scan meta CF ─► RegionLocalState of every region (8-byte keys)
//!   per region ─► ApplyState, RaftLocalState ─► log bounds checked at both ends
//! ```
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
    /// Its raft state; `None` exactly when `apply_state` is, except for a tombstone.
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
/// missing only while a first snapshot is `Applying`), if its log ends before its compaction
/// point, or if the first or last entry of its log is missing.
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

fn recover_region<P: Peekable>(
    engine: &P,
    region_id: RegionId,
    local_state: RegionLocalState,
) -> Result<RecoveredRegion> {
    let apply_state = engine.apply_state(region_id)?;
    let raft_state = engine.raft_state(region_id)?;
    let recovered = RecoveredRegion {
        region_id,
        local_state,
        apply_state,
        raft_state,
    };
    let corrupt = |what: String| Error::Corruption(format!("region {region_id}: {what}"));
    let (apply, raft) = match (recovered.peer_state(), apply_state, raft_state) {
        (PeerState::Tombstone, ..) | (PeerState::Applying, None, None) => return Ok(recovered),
        (_, Some(apply), Some(raft)) => (apply, raft),
        _ => return Err(corrupt("apply state or raft state missing".to_owned())),
    };
    if raft.last_index < apply.truncated_index {
        return Err(corrupt(format!(
            "log ends at {} before the compaction point {}",
            raft.last_index, apply.truncated_index
        )));
    }
    if raft.last_index > apply.truncated_index {
        for index in [apply.truncated_index + 1, raft.last_index] {
            let entry = engine.log_entry(region_id, index)?;
            if entry.is_none() {
                return Err(corrupt(format!("log entry {index} missing")));
            }
        }
    }
    Ok(recovered)
}
