//! Read-index requests on the leader: when to answer, and how.
//!
//! A leader answers only after it has committed an entry of its own term (before that its
//! commit index may lag the group's: etcd#7331). Safe reads then wait for a heartbeat round
//! (see [`crate::read_only`]); lease reads are answered at once, except while a leadership
//! transfer is under way, when the lease cannot be trusted (the transferee may already lead:
//! raft-rs#234) and the read takes a heartbeat round instead.

use tracing::debug;

use super::Raft;
use crate::raftpb::{Message, MessageType};
use crate::read_only::{ReadOnlyOption, ReadState};
use crate::storage::Storage;

impl<S: Storage> Raft<S> {
    pub(super) fn on_read_index_at_leader(&mut self, m: Message) {
        if m.entries.len() != 1 {
            debug!(raft_id = self.id, from = m.from, "malformed MsgReadIndex");
            return;
        }
        // Also for a single-node group: its commit index is only proven durable once its own
        // entry of this term was acknowledged by its append thread.
        if !self.committed_entry_in_current_term() {
            self.pending_read_index_messages.push(m);
            return;
        }
        self.answer_read_index(m);
    }

    fn answer_read_index(&mut self, m: Message) {
        let committed = self.raft_log.committed;
        // Only the group's sole voter may answer at once: a leader removed from the voters
        // (leading on without `step_down_on_removal`, or handing off) is not that voter, and
        // another node may already lead a later term.
        if self.prs.is_singleton() && self.is_voter() {
            self.respond_to_read_index(m, committed);
            return;
        }
        match self.read_only.option {
            ReadOnlyOption::LeaseBased if self.lead_transferee == 0 => {
                self.respond_to_read_index(m, committed);
            }
            _ => self.read_only.add_request(m),
        }
    }

    /// Answers the reads held back until this leader's first commit in its term.
    pub(super) fn release_pending_read_index_messages(&mut self) {
        if self.pending_read_index_messages.is_empty() || !self.committed_entry_in_current_term() {
            return;
        }
        for m in std::mem::take(&mut self.pending_read_index_messages) {
            self.answer_read_index(m);
        }
    }

    /// Sends the heartbeats of the open read round, if any.
    pub(super) fn flush_read_round(&mut self) {
        let Some(ctx) = self.read_only.send_round(self.raft_log.committed, self.id) else {
            return;
        };
        // The configuration may have shrunk to this node since the requests arrived.
        if self.read_round_confirmed(self.id, &ctx) {
            return;
        }
        self.bcast_heartbeat_with_ctx(&ctx);
    }

    pub(super) fn on_read_round_ack(&mut self, from: u64, ctx: &[u8]) {
        // An acknowledgement of no pending round (a lease leader's, or a stale one) is ignored.
        self.read_round_confirmed(from, ctx);
    }

    /// Records an acknowledgement and answers the round's reads once a quorum acknowledged.
    fn read_round_confirmed(&mut self, from: u64, ctx: &[u8]) -> bool {
        let Some(acks) = self.read_only.recv_ack(from, ctx) else {
            return false;
        };
        let won = self
            .prs
            .config
            .voters
            .vote_result(|id| acks.contains(&id).then_some(true))
            == crate::quorum::VoteResult::Won;
        if !won {
            return false;
        }
        for read in self.read_only.advance(ctx) {
            self.respond_to_read_index(read.request, read.index);
        }
        true
    }

    /// A local request becomes a `ReadState`; a follower's gets a `MsgReadIndexResp`.
    fn respond_to_read_index(&mut self, request: Message, index: u64) {
        if request.from == 0 || request.from == self.id {
            let request_ctx = request.entries[0].data.clone();
            self.read_states.push(ReadState { index, request_ctx });
            return;
        }
        self.send(Message {
            to: request.from,
            index,
            entries: request.entries,
            ..Message::of_type(MessageType::MsgReadIndexResp)
        });
    }
}
