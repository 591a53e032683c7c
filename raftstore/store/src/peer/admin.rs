//! Admin requests on the leader: membership changes and leadership transfer.

use engine::{KvEngine, Region};
use prost::Message as _;
use raft::raftpb::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2};

use super::PeerFsm;
use crate::cmd::{ChangePeers, CmdHeader, PeerChangeKind};
use crate::error::Error;
use crate::message::{AdminRequest, Callback, Response};
use crate::poll::PollContext;

pub(super) fn handle<E: KvEngine>(
    peer: &mut PeerFsm<E>,
    request: AdminRequest,
    header: CmdHeader,
    callback: Callback,
    ctx: &PollContext<E>,
) {
    if !peer.is_leader() {
        callback.done(Err(peer.not_leader()));
        return;
    }
    match request {
        AdminRequest::TransferLeader { to_store } => {
            let Some(target) = peer.region.peers.iter().find(|p| p.store_id == to_store) else {
                callback.done(Err(Error::InvalidRequest(format!(
                    "region {} has no peer on store {to_store}",
                    peer.region.id
                ))));
                return;
            };
            let target = target.id;
            // Pitfall 4: the transferee may win before the lease would end.
            peer.delegate.suspend_for_term();
            let answer = match peer.raw.transfer_leader(target) {
                Ok(()) => Ok(Response::Written),
                Err(err) => Err(peer.refusal(&err)),
            };
            callback.done(answer);
        }
        AdminRequest::ChangePeers(mut change) => {
            let current = peer.region.epoch.unwrap_or_default();
            if header.epoch.unwrap_or_default().conf_ver != current.conf_ver {
                callback.done(Err(Error::EpochNotMatch {
                    region_id: peer.region.id,
                    request: header.epoch.unwrap_or_default(),
                    current: Box::new(Region::clone(&peer.region)),
                }));
                return;
            }
            change.header = Some(header);
            let cc = match to_conf_change(&change) {
                Ok(cc) => cc,
                Err(reason) => {
                    callback.done(Err(Error::ConfChangeRefused {
                        region_id: peer.region.id,
                        reason,
                    }));
                    return;
                }
            };
            match peer.raw.propose_conf_change(&cc) {
                Ok(()) => {
                    let proposal = crate::message::Proposal {
                        index: peer.raw.raft.raft_log.last_index(),
                        term: peer.raw.raft.term,
                        callback,
                    };
                    let deadline = ctx.now + ctx.store.cfg.request_timeout;
                    peer.proposals.push(proposal, deadline);
                }
                Err(raft::Error::ConfChangeInvalid { reason })
                    if reason.contains("unapplied conf change") =>
                {
                    // The previous change (or the automatic leave of a joint configuration) is
                    // not applied on this leader yet: nothing happened, try again shortly.
                    callback.done(Err(Error::ServerIsBusy {
                        reason: format!("region {}: {reason}", peer.region.id),
                    }));
                }
                Err(raft::Error::ConfChangeInvalid { reason }) => {
                    callback.done(Err(Error::ConfChangeRefused {
                        region_id: peer.region.id,
                        reason,
                    }));
                }
                Err(err) => callback.done(Err(peer.refusal(&err))),
            }
        }
    }
}

/// The core's conf change for `change`; its context carries the full peers.
fn to_conf_change(change: &ChangePeers) -> Result<ConfChangeV2, String> {
    if change.changes.is_empty() {
        return Err("no change asked".into());
    }
    let mut changes = Vec::with_capacity(change.changes.len());
    for c in &change.changes {
        let peer = c.peer.as_ref().ok_or("a change names no peer")?;
        if peer.id == 0 || peer.store_id == 0 {
            return Err("a changed peer needs a peer id and a store id".into());
        }
        let change_type = match c.kind() {
            PeerChangeKind::AddVoter => ConfChangeType::AddNode,
            PeerChangeKind::AddLearner => ConfChangeType::AddLearnerNode,
            PeerChangeKind::Remove => ConfChangeType::RemoveNode,
        };
        changes.push(ConfChangeSingle {
            change_type: change_type as i32,
            node_id: peer.id,
        });
    }
    Ok(ConfChangeV2 {
        transition: ConfChangeTransition::Auto as i32,
        changes,
        context: change.encode_to_vec().into(),
    })
}
