//! Executing one committed entry on the apply side.

use std::sync::Arc;

use engine::{
    ApplyBatch, KvEngine, Peer, PeerRole, PeerState, Region, RegionEpoch, RegionId,
    RegionLocalState,
};
use prost::Message as _;
use raft::ConfChangeI;
use raft::raftpb::{ConfChange, ConfChangeV2, Entry, EntryType};
use tracing::warn;

use super::ApplyFsm;
use crate::cmd::{AdminCmd, ChangePeers, MutationKind, PeerChangeKind, RaftCmd};
use crate::error::{Error, Result};
use crate::message::{ApplyResult, Response};

/// Applies `entry` into `batch`; returns the answer for its proposal, if it has one.
pub(super) fn apply_entry<E: KvEngine>(
    fsm: &mut ApplyFsm<E>,
    entry: &Entry,
    batch: &mut E::WriteBatch,
    result: &mut ApplyResult,
) -> Result<Response> {
    match entry.entry_type() {
        EntryType::EntryNormal => apply_normal(fsm, entry, batch, result),
        EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
            apply_conf_change(fsm, entry, batch, result)
        }
    }
}

fn apply_normal<E: KvEngine>(
    fsm: &mut ApplyFsm<E>,
    entry: &Entry,
    batch: &mut E::WriteBatch,
    result: &mut ApplyResult,
) -> Result<Response> {
    if entry.data.is_empty() {
        // The empty entry a new leader appends at the start of its term.
        return Ok(Response::Written);
    }
    let cmd = RaftCmd::decode(&entry.data[..]).map_err(|err| {
        // Every replica fails the same way on the same bytes, so skipping keeps them equal.
        Error::InvalidRequest(format!("undecodable command at {}: {err}", entry.index))
    })?;
    let epoch = cmd.header.and_then(|h| h.epoch).unwrap_or_default();
    let current = fsm.region.epoch.unwrap_or_default();
    if epoch.version != current.version {
        return Err(Error::EpochNotMatch {
            region_id: fsm.region.id,
            request: epoch,
            current: Box::new(Region::clone(&fsm.region)),
        });
    }
    if let Some(admin) = &cmd.admin {
        compact_log(fsm, admin, entry.index, batch, result);
        return Ok(Response::Written);
    }
    for m in &cmd.mutations {
        let inside = fsm.region.contains(&m.key)
            && (m.kind() != MutationKind::DeleteRange
                || fsm.region.end_key.is_empty()
                || (!m.value.is_empty() && m.value <= fsm.region.end_key));
        if !inside {
            return Err(Error::KeyNotInRegion {
                region_id: fsm.region.id,
                key: m.key.to_vec(),
            });
        }
    }
    for m in &cmd.mutations {
        match m.kind() {
            MutationKind::Put => batch.put_data(&m.key, &m.value),
            MutationKind::Delete => batch.delete_data(&m.key),
            MutationKind::DeleteRange => {
                let end = if m.value.is_empty() {
                    &fsm.region.end_key
                } else {
                    &m.value
                };
                batch.delete_data_range(&m.key, end);
            }
        }
    }
    Ok(Response::Written)
}

/// Log GC: deletes the region's log up to `admin.compact_index` (one range delete in this
/// batch, beside the apply state that records the new compaction point). Every replica does it
/// at the same log position; a point at or below the current one, or not below this entry, is
/// ignored (a replica that already compacted further, or a malformed command).
fn compact_log<E: KvEngine>(
    fsm: &mut ApplyFsm<E>,
    admin: &AdminCmd,
    entry_index: u64,
    batch: &mut E::WriteBatch,
    result: &mut ApplyResult,
) {
    let to = admin.compact_index;
    if to <= fsm.state.truncated_index || to >= entry_index {
        return;
    }
    let region = RegionId(fsm.region.id);
    engine::RaftLogBatch::compact_log(batch, region, fsm.state.truncated_index + 1, to);
    fsm.state.truncated_index = to;
    fsm.state.truncated_term = admin.compact_term;
    result.compacted_to = Some((to, admin.compact_term));
}

fn apply_conf_change<E: KvEngine>(
    fsm: &mut ApplyFsm<E>,
    entry: &Entry,
    batch: &mut E::WriteBatch,
    result: &mut ApplyResult,
) -> Result<Response> {
    let cc = match decode_conf_change(entry) {
        Ok(cc) => cc,
        Err(err) => {
            result.conf_changes.push(ConfChange::default().as_v2());
            return Err(err);
        }
    };
    match change_region(&fsm.region, &cc) {
        Ok(region) => {
            // A change that removes this replica records its tombstone right here: the peer
            // destroys itself when it hears of the change, but a removal notice may have
            // destroyed it already, and a region state written after that tombstone must not
            // say Normal (a restart would then open a region this store holds no peer of).
            let removed = !region.peers.iter().any(|p| p.id == fsm.peer_id);
            let state = if removed {
                PeerState::Tombstone
            } else {
                PeerState::Normal
            };
            batch.put_region_state(
                RegionId(region.id),
                &RegionLocalState::new(state, region.clone()),
            );
            fsm.region = Arc::new(region);
            result.region = Some(Arc::clone(&fsm.region));
            result.conf_changes.push(cc);
            Ok(Response::Written)
        }
        Err(err) => {
            warn!(region = fsm.region.id, %err, "conf change refused on apply");
            // The core still has to hear about the entry: an empty change is a no-op.
            result.conf_changes.push(ConfChange::default().as_v2());
            Err(err)
        }
    }
}

fn decode_conf_change(entry: &Entry) -> Result<ConfChangeV2> {
    let bad =
        |err: String| Error::InvalidRequest(format!("bad conf change at {}: {err}", entry.index));
    if entry.entry_type() == EntryType::EntryConfChange {
        return ConfChange::decode(&entry.data[..])
            .map(|cc| cc.as_v2())
            .map_err(|e| bad(e.to_string()));
    }
    ConfChangeV2::decode(&entry.data[..]).map_err(|e| bad(e.to_string()))
}

/// The region after conf change `cc` (its context names the peers), or why it is refused.
///
/// An empty change leaves a joint configuration: incoming voters become voters and demoting
/// voters learners. A change with several steps enters a joint configuration.
pub(crate) fn change_region(region: &Region, cc: &ConfChangeV2) -> Result<Region> {
    let refuse = |reason: String| Error::ConfChangeRefused {
        region_id: region.id,
        reason,
    };
    let mut next = region.clone();
    let mut epoch: RegionEpoch = next.epoch.unwrap_or_default();
    if cc.changes.is_empty() {
        for peer in &mut next.peers {
            match peer.role() {
                PeerRole::IncomingVoter => peer.role = PeerRole::Voter as i32,
                PeerRole::DemotingVoter => peer.role = PeerRole::Learner as i32,
                _ => {}
            }
        }
    } else {
        let ctx = ChangePeers::decode(&cc.context[..])
            .map_err(|e| refuse(format!("undecodable context: {e}")))?;
        let asked = ctx.header.and_then(|h| h.epoch).unwrap_or_default();
        if asked.conf_ver != epoch.conf_ver {
            return Err(refuse(format!(
                "proposed at conf_ver {}, region is at {}",
                asked.conf_ver, epoch.conf_ver
            )));
        }
        let joint = ctx.changes.len() > 1;
        for change in &ctx.changes {
            let peer = change
                .peer
                .clone()
                .ok_or_else(|| refuse("no peer".into()))?;
            apply_peer_change(&mut next, &peer, change.kind(), joint).map_err(refuse)?;
        }
    }
    epoch.conf_ver += 1;
    next.epoch = Some(epoch);
    Ok(next)
}

fn apply_peer_change(
    region: &mut Region,
    peer: &Peer,
    kind: PeerChangeKind,
    joint: bool,
) -> std::result::Result<(), String> {
    let existing = region.peers.iter().position(|p| p.id == peer.id);
    if existing.is_none()
        && kind != PeerChangeKind::Remove
        && region.peers.iter().any(|p| p.store_id == peer.store_id)
    {
        return Err(format!("store {} already holds a peer", peer.store_id));
    }
    match (kind, existing) {
        (PeerChangeKind::Remove, None) => Err(format!("peer {} is not a member", peer.id)),
        (PeerChangeKind::Remove, Some(i)) => {
            if joint && region.peers[i].role() != PeerRole::Learner {
                return Err(format!(
                    "peer {}: demote a voter to learner before removing it in a joint change",
                    peer.id
                ));
            }
            region.peers.remove(i);
            Ok(())
        }
        (PeerChangeKind::AddVoter, existing) => {
            let role = if joint {
                PeerRole::IncomingVoter
            } else {
                PeerRole::Voter
            };
            set_role(region, existing, peer, role);
            Ok(())
        }
        (PeerChangeKind::AddLearner, existing) => {
            let role =
                if joint && existing.is_some_and(|i| region.peers[i].role() == PeerRole::Voter) {
                    PeerRole::DemotingVoter
                } else {
                    PeerRole::Learner
                };
            set_role(region, existing, peer, role);
            Ok(())
        }
    }
}

fn set_role(region: &mut Region, existing: Option<usize>, peer: &Peer, role: PeerRole) {
    match existing {
        Some(i) => region.peers[i].role = role as i32,
        None => region.peers.push(Peer {
            role: role as i32,
            ..peer.clone()
        }),
    }
}
