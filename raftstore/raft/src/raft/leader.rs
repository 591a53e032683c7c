//! What a leader does with each message: proposals, replication feedback, quorum checks,
//! snapshot reports and leadership transfers.

use tracing::{debug, info, warn};

use super::{Raft, StateRole};
use crate::errors::{DropReason, Error, Result};
use crate::raftpb::{Entry, Message, MessageType};
use crate::storage::Storage;
use crate::tracker::ProgressState;

impl<S: Storage> Raft<S> {
    pub(super) fn step_leader(&mut self, m: Message) -> Result<()> {
        match m.kind() {
            MessageType::MsgBeat => {
                self.bcast_heartbeat();
                return Ok(());
            }
            MessageType::MsgCheckQuorum => {
                self.on_check_quorum();
                return Ok(());
            }
            MessageType::MsgProp => return self.on_propose(m),
            MessageType::MsgReadIndex => {
                self.on_read_index_at_leader(m);
                return Ok(());
            }
            MessageType::MsgForgetLeader => return Ok(()),
            _ => {}
        }
        // Every other message concerns a peer's progress.
        if self.prs.get(m.from).is_none() {
            debug!(raft_id = self.id, from = m.from, "no progress for sender");
            return Ok(());
        }
        match m.kind() {
            MessageType::MsgAppResp => self.on_append_resp(&m),
            MessageType::MsgHeartbeatResp => self.on_heartbeat_resp(&m),
            MessageType::MsgSnapStatus => self.on_snap_status(&m),
            MessageType::MsgUnreachable => self.on_unreachable(m.from),
            MessageType::MsgTransferLeader => self.on_transfer_leader(m.from),
            _ => {}
        }
        Ok(())
    }

    fn on_check_quorum(&mut self) {
        if !self.prs.quorum_active() {
            warn!(
                raft_id = self.id,
                term = self.term,
                "stepped down: quorum is not active"
            );
            self.become_follower(self.term, 0);
        }
        // Everyone but this node must prove itself active again before the next check.
        let self_id = self.id;
        for (id, pr) in self.prs.progress.iter_mut() {
            if id != self_id {
                pr.recent_active = false;
            }
        }
    }

    /// Appends a proposal. Nothing changes when it is refused.
    fn on_propose(&mut self, m: Message) -> Result<()> {
        if m.entries.is_empty() {
            return Err(Error::RequestRefused {
                reason: "empty proposal".to_string(),
            });
        }
        if self.prs.get(self.id).is_none() {
            return Err(Error::ProposalDropped {
                reason: DropReason::LeaderRemoved,
            });
        }
        if self.lead_transferee != 0 {
            debug!(
                raft_id = self.id,
                transferee = self.lead_transferee,
                "dropping proposal"
            );
            return Err(Error::ProposalDropped {
                reason: DropReason::TransferInProgress,
            });
        }
        let local = m.from == 0 || m.from == self.id;
        let mut entries = m.entries;
        let mut pending_conf_index = self.pending_conf_index;
        let last_index = self.raft_log.last_index();
        for (i, e) in entries.iter_mut().enumerate() {
            if !super::is_conf_change_entry(e) {
                continue;
            }
            match self.check_conf_change_proposal(e, pending_conf_index) {
                Ok(()) => pending_conf_index = last_index + i as u64 + 1,
                Err(reason) if local => return Err(Error::ConfChangeInvalid { reason }),
                Err(reason) => {
                    // A forwarded change cannot be refused to its proposer; it becomes a no-op.
                    info!(raft_id = self.id, reason = %reason, "ignoring forwarded conf change");
                    *e = Entry::default();
                }
            }
        }
        if !self.append_entries(entries) {
            warn!(
                raft_id = self.id,
                "dropping proposal: uncommitted size limit"
            );
            return Err(Error::ProposalDropped {
                reason: DropReason::UncommittedSizeExceeded,
            });
        }
        self.pending_conf_index = pending_conf_index;
        self.pending_bcast_append = true;
        Ok(())
    }

    fn on_append_resp(&mut self, m: &Message) {
        let Some(pr) = self.prs.get_mut(m.from) else {
            return;
        };
        pr.recent_active = true;
        if m.reject {
            self.on_append_rejected(m);
            return;
        }
        let Some(pr) = self.prs.get_mut(m.from) else {
            return;
        };
        // A response can move a probing peer to replicate even without news (a heartbeat
        // response made the leader probe at the follower's last index). Index 0 is no such
        // news: it is how a node at a higher term answers a stale append (`step_lower_term`),
        // and when this leader sent that append in an earlier term, the answer arrives in the
        // same term as this one. Taken as a match at 0, it would send the follower back to
        // index 1, past the compacted log: a snapshot for a follower that needs none.
        let updated = pr.maybe_update(m.index);
        if !updated && (m.index == 0 || pr.matched != m.index || pr.state != ProgressState::Probe) {
            return;
        }
        match pr.state {
            ProgressState::Probe => pr.become_replicate(),
            ProgressState::Snapshot if pr.matched + 1 >= self.raft_log.first_index() => {
                // Whatever snapshot got the follower here, the log can now catch it up.
                pr.become_probe();
                pr.become_replicate();
            }
            ProgressState::Replicate => pr.inflights.free_le(m.index),
            ProgressState::Snapshot => {}
        }
        let committed = self.raft_log.committed;
        if self.maybe_commit() {
            self.release_pending_read_index_messages();
            self.bcast_commit();
        } else if m.from != self.id
            && self
                .prs
                .get(m.from)
                .is_some_and(|pr| pr.can_bump_commit(committed))
        {
            self.send_append(m.from);
        }
        if m.from != self.id {
            // The window may have opened for several messages at once.
            while self.maybe_send_append(m.from, false) {}
        }
        let last_index = self.raft_log.last_index();
        if m.from == self.lead_transferee
            && self
                .prs
                .get(m.from)
                .is_some_and(|pr| pr.matched == last_index)
        {
            info!(
                raft_id = self.id,
                to = m.from,
                "transferee caught up; sending MsgTimeoutNow"
            );
            self.send_timeout_now(m.from);
        }
    }

    fn on_append_rejected(&mut self, m: &Message) {
        debug!(
            raft_id = self.id,
            from = m.from,
            index = m.index,
            reject_hint = m.reject_hint,
            log_term = m.log_term,
            "append rejected"
        );
        // The hint is where the follower's log may match. With its term, skip every index
        // whose term in this log is larger: the follower cannot match there either.
        let next_probe_index = if m.log_term > 0 {
            self.raft_log
                .find_conflict_by_term(m.reject_hint, m.log_term)
                .0
        } else {
            m.reject_hint
        };
        let Some(pr) = self.prs.get_mut(m.from) else {
            return;
        };
        if pr.maybe_decr_to(m.index, next_probe_index) {
            if pr.state == ProgressState::Replicate {
                pr.become_probe();
            }
            self.send_append(m.from);
        }
    }

    fn on_heartbeat_resp(&mut self, m: &Message) {
        let last_index = self.raft_log.last_index();
        let Some(pr) = self.prs.get_mut(m.from) else {
            return;
        };
        pr.recent_active = true;
        pr.msg_app_flow_paused = false;
        // A full window still gets an empty append through, so a follower whose appends were
        // all lost recovers; a caught-up follower stuck probing (after an unreachable report)
        // gets an append it can acknowledge to return to replicate.
        if pr.matched < last_index || pr.state == ProgressState::Probe {
            self.send_append(m.from);
        }
        if !m.context.is_empty() {
            self.on_read_round_ack(m.from, &m.context);
        }
    }

    fn on_snap_status(&mut self, m: &Message) {
        let Some(pr) = self.prs.get_mut(m.from) else {
            return;
        };
        if pr.state != ProgressState::Snapshot {
            return;
        }
        if m.reject {
            // Forget the snapshot first, or probing would start from its index although it
            // never arrived.
            pr.pending_snapshot = 0;
        }
        pr.become_probe();
        // After success wait for the follower's append response; after failure wait for a
        // heartbeat before trying again.
        pr.msg_app_flow_paused = true;
        debug!(
            raft_id = self.id,
            to = m.from,
            failed = m.reject,
            "snapshot status"
        );
    }

    fn on_unreachable(&mut self, from: u64) {
        let Some(pr) = self.prs.get_mut(from) else {
            return;
        };
        // Optimistic appends to an unreachable peer were probably lost: probe again.
        if pr.state == ProgressState::Replicate {
            pr.become_probe();
        }
        debug!(raft_id = self.id, to = from, "peer unreachable");
    }

    fn on_transfer_leader(&mut self, transferee: u64) {
        let Some(pr) = self.prs.get(transferee) else {
            return;
        };
        if pr.is_learner {
            debug!(
                raft_id = self.id,
                transferee, "ignored transfer to a learner"
            );
            return;
        }
        let caught_up = pr.matched == self.raft_log.last_index();
        if self.lead_transferee != 0 {
            if self.lead_transferee == transferee {
                info!(
                    raft_id = self.id,
                    transferee, "transfer already in progress"
                );
                return;
            }
            info!(
                raft_id = self.id,
                previous = self.lead_transferee,
                "aborted previous transfer"
            );
            self.abort_leader_transfer();
        }
        if transferee == self.id {
            debug!(
                raft_id = self.id,
                "already leader; ignored transfer to self"
            );
            return;
        }
        info!(
            raft_id = self.id,
            term = self.term,
            transferee,
            "starting leadership transfer"
        );
        // The transfer must finish within one election timeout.
        self.election_elapsed = 0;
        self.lead_transferee = transferee;
        if caught_up {
            self.send_timeout_now(transferee);
        } else {
            self.send_append(transferee);
        }
    }

    pub(super) fn send_timeout_now(&mut self, to: u64) {
        self.send(Message {
            to,
            ..Message::of_type(MessageType::MsgTimeoutNow)
        });
    }

    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.state == StateRole::Leader
    }
}
