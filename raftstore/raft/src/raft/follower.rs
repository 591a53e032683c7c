//! What followers and (pre-)candidates do with each message.

use tracing::{debug, info};

use super::{CampaignType, Raft, StateRole};
use crate::errors::{DropReason, Error, Result};
use crate::quorum::VoteResult;
use crate::raftpb::{Message, MessageType};
use crate::read_only::{ReadOnlyOption, ReadState};
use crate::storage::Storage;

impl<S: Storage> Raft<S> {
    /// Candidates and pre-candidates share this: they differ only in which vote responses
    /// count (a candidate may still receive pre-vote responses of its pre-candidacy).
    pub(super) fn step_candidate(&mut self, m: Message) -> Result<()> {
        let my_vote_resp = if self.state == StateRole::PreCandidate {
            MessageType::MsgPreVoteResp
        } else {
            MessageType::MsgVoteResp
        };
        match m.kind() {
            MessageType::MsgProp | MessageType::MsgReadIndex
                if m.from == 0 || m.from == self.id =>
            {
                info!(
                    raft_id = self.id,
                    term = self.term,
                    "no leader; dropping request"
                );
                return Err(Error::ProposalDropped {
                    reason: DropReason::NoLeader,
                });
            }
            MessageType::MsgApp => {
                self.become_follower(m.term, m.from);
                self.handle_append_entries(m);
            }
            MessageType::MsgHeartbeat => {
                self.become_follower(m.term, m.from);
                self.handle_heartbeat(&m);
            }
            MessageType::MsgSnap => {
                self.become_follower(m.term, m.from);
                self.handle_snapshot(m);
            }
            kind if kind == my_vote_resp => self.on_vote_resp(&m),
            kind => debug!(raft_id = self.id, state = %self.state, msg_type = ?kind, "ignored"),
        }
        Ok(())
    }

    fn on_vote_resp(&mut self, m: &Message) {
        match self.poll(m.from, m.kind(), !m.reject) {
            VoteResult::Won => {
                if self.state == StateRole::PreCandidate {
                    self.campaign(CampaignType::Election);
                } else {
                    self.become_leader();
                    self.bcast_append();
                }
            }
            // A rejected pre-vote carries a later term than ours; stay in our own.
            VoteResult::Lost => self.become_follower(self.term, 0),
            VoteResult::Pending => {}
        }
    }

    pub(super) fn step_follower(&mut self, mut m: Message) -> Result<()> {
        match m.kind() {
            MessageType::MsgProp => {
                if self.leader_id == 0 {
                    info!(
                        raft_id = self.id,
                        term = self.term,
                        "no leader; dropping proposal"
                    );
                    return Err(Error::ProposalDropped {
                        reason: DropReason::NoLeader,
                    });
                }
                if self.disable_proposal_forwarding {
                    return Err(Error::ProposalDropped {
                        reason: DropReason::ForwardingDisabled,
                    });
                }
                m.to = self.leader_id;
                self.send(m);
            }
            MessageType::MsgApp => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_append_entries(m);
            }
            MessageType::MsgHeartbeat => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_heartbeat(&m);
            }
            MessageType::MsgSnap => {
                self.election_elapsed = 0;
                self.leader_id = m.from;
                self.handle_snapshot(m);
            }
            MessageType::MsgTransferLeader => self.forward_to_leader(m, "leader transfer")?,
            MessageType::MsgForgetLeader => self.on_forget_leader()?,
            MessageType::MsgTimeoutNow => {
                info!(
                    raft_id = self.id,
                    term = self.term,
                    from = m.from,
                    "campaigning on MsgTimeoutNow"
                );
                // A transfer never uses pre-vote: there is no partition to recover from.
                self.hup(CampaignType::Transfer);
            }
            MessageType::MsgReadIndex => self.forward_to_leader(m, "read index")?,
            MessageType::MsgReadIndexResp => {
                if m.entries.len() != 1 {
                    debug!(
                        raft_id = self.id,
                        from = m.from,
                        "malformed MsgReadIndexResp"
                    );
                    return Ok(());
                }
                let request_ctx = m.entries[0].data.clone();
                self.read_states.push(ReadState {
                    index: m.index,
                    request_ctx,
                });
            }
            _ => {}
        }
        Ok(())
    }

    fn forward_to_leader(&mut self, mut m: Message, what: &'static str) -> Result<()> {
        if self.leader_id == 0 {
            info!(
                raft_id = self.id,
                term = self.term,
                what,
                "no leader; dropping"
            );
            return Err(Error::ProposalDropped {
                reason: DropReason::NoLeader,
            });
        }
        m.to = self.leader_id;
        self.send(m);
        Ok(())
    }

    fn on_forget_leader(&mut self) -> Result<()> {
        if self.read_only.option == ReadOnlyOption::LeaseBased {
            // The old leader may still serve lease reads; voting for someone else now could
            // let two leaders serve reads at once.
            return Err(Error::RequestRefused {
                reason: "cannot forget the leader with lease-based reads".to_string(),
            });
        }
        if self.leader_id != 0 {
            info!(
                raft_id = self.id,
                term = self.term,
                leader = self.leader_id,
                "forgetting leader"
            );
            self.leader_id = 0;
        }
        Ok(())
    }
}
