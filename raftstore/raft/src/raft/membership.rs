//! Configuration changes: validating proposals, applying committed changes, and leaving joint
//! configurations.
//!
//! A change takes effect when the application applies its entry and calls
//! `apply_conf_change`; until then the leader refuses another change (`pending_conf_index`).
//! Proposals are validated against the *current* configuration, which may lag the log; that is
//! why a new leader refuses changes until it has applied its whole log (etcd-io/raft#80).

use bytes::Bytes;
use prost::Message as _;
use tracing::info;

use super::{Raft, StateRole};
use crate::confchange::Changer;
use crate::errors::{Error, Result};
use crate::raftpb::{ConfChange, ConfChangeV2, ConfState, Entry, EntryType, Message, MessageType};
use crate::storage::Storage;
use crate::tracker::{ProgressMap, TrackerConfig};

impl<S: Storage> Raft<S> {
    /// Checks a proposed configuration change against the leader's state. Returns the reason
    /// to refuse it, if any.
    pub(super) fn check_conf_change_proposal(
        &self,
        e: &Entry,
        pending_conf_index: u64,
    ) -> std::result::Result<(), String> {
        let cc = decode_conf_change(e).map_err(|err| format!("undecodable change: {err}"))?;
        if self.disable_conf_change_validation {
            return Ok(());
        }
        let applied = self.raft_log.applied;
        if pending_conf_index > applied {
            return Err(format!(
                "possible unapplied conf change at {pending_conf_index} (applied to {applied})"
            ));
        }
        let joint = self.prs.config.voters.is_joint();
        let leaves_joint = cc.changes.is_empty();
        if joint && !leaves_joint {
            return Err("must transition out of joint config first".to_string());
        }
        if !joint && leaves_joint {
            return Err("not in joint state; refusing empty conf change".to_string());
        }
        Ok(())
    }

    /// Applies a committed configuration change and returns the resulting configuration.
    /// Nothing changes when the change is invalid.
    pub fn apply_conf_change(&mut self, cc: &ConfChangeV2) -> Result<ConfState> {
        let changer = Changer {
            tracker: &self.prs,
            last_index: self.raft_log.last_index(),
        };
        let (config, progress) = if cc.leave_joint() {
            changer.leave_joint()?
        } else if let Some(auto_leave) = cc.enter_joint() {
            changer.enter_joint(auto_leave, &cc.changes)?
        } else {
            changer.simple(&cc.changes)?
        };
        Ok(self.switch_to_config(config, progress))
    }

    /// Installs a configuration and reacts to it: a removed or demoted leader steps down
    /// (handing off to its most up-to-date voter), a leader commits what the new quorum allows
    /// and probes new peers, and a transfer to a removed node is abandoned.
    pub(crate) fn switch_to_config(
        &mut self,
        config: TrackerConfig,
        progress: ProgressMap,
    ) -> ConfState {
        self.prs.apply_conf(config, progress);
        info!(raft_id = self.id, config = %self.prs.config, "switched configuration");
        let cs = self.prs.conf_state();
        let own = self.prs.get(self.id).map(|pr| pr.is_learner);
        self.is_learner = own == Some(true);
        if own != Some(false) && self.state == StateRole::Leader {
            if self.step_down_on_removal {
                self.hand_off_after_removal();
            }
            return cs;
        }
        if self.state != StateRole::Leader || cs.voters.is_empty() {
            return cs;
        }
        if self.maybe_commit() {
            self.bcast_append();
        } else {
            for id in self.prs.progress.ids().collect::<Vec<_>>() {
                if id != self.id {
                    self.maybe_send_append(id, false);
                }
            }
        }
        if self.lead_transferee != 0 && !self.prs.config.voters.contains(self.lead_transferee) {
            self.abort_leader_transfer();
        }
        cs
    }

    /// A leader leaving the voters hands leadership to its most up-to-date voter, so the group
    /// does not wait out an election timeout without a leader (`CockroachDB` #107203). If that
    /// voter has the whole log, it is told to campaign at once and this node steps down.
    /// Otherwise this node leads on, as in a leadership transfer, until the voter has caught up:
    /// stepping down at once could leave no voter able to win an election, since a voter that
    /// has not learned that the change is committed still counts this node's vote, which this
    /// node refuses while its log is longer. A transfer that times out starts over.
    pub(crate) fn hand_off_after_removal(&mut self) {
        let last_index = self.raft_log.last_index();
        let successor = self
            .prs
            .config
            .voters
            .ids()
            .into_iter()
            .filter(|&id| id != self.id)
            .filter_map(|id| self.prs.get(id).map(|pr| (pr.matched, id)))
            .max();
        match successor {
            Some((matched, id)) if matched == last_index => {
                info!(
                    raft_id = self.id,
                    successor = id,
                    "removed leader hands off leadership"
                );
                self.send_timeout_now(id);
                self.become_follower(self.term, 0);
            }
            Some((_, id)) => {
                info!(
                    raft_id = self.id,
                    successor = id,
                    "removed leader catches up its successor before handing off"
                );
                self.election_elapsed = 0;
                self.lead_transferee = id;
                self.send_append(id);
            }
            None => self.become_follower(self.term, 0),
        }
    }

    /// Whether this node is a voter of its configuration.
    pub(crate) fn is_voter(&self) -> bool {
        self.prs.get(self.id).is_some_and(|pr| !pr.is_learner)
    }

    /// Proposes the empty change that leaves an automatic joint configuration.
    pub(super) fn propose_auto_leave(&mut self) {
        let entry = Entry {
            entry_type: EntryType::EntryConfChangeV2 as i32,
            data: Bytes::new(),
            ..Entry::default()
        };
        let m = Message {
            from: self.id,
            entries: vec![entry],
            ..Message::of_type(MessageType::MsgProp)
        };
        // Refused only during a transfer; this is retried on every applied entry, so either the
        // new leader leaves the joint state or this one does after the transfer fails.
        match self.step(m) {
            Ok(()) => {
                info!(raft_id = self.id, config = %self.prs.config, "leaving joint configuration");
            }
            Err(err) => {
                info!(raft_id = self.id, error = %err, "not leaving joint configuration yet");
            }
        }
    }
}

/// Decodes the configuration change an entry carries, as a v2 change.
///
/// # Errors
/// `ConfChangeInvalid` if the entry is not a change or does not decode.
pub fn decode_conf_change(e: &Entry) -> Result<ConfChangeV2> {
    let invalid = |reason: String| Error::ConfChangeInvalid { reason };
    if e.entry_type == EntryType::EntryConfChange as i32 {
        let cc = ConfChange::decode(e.data.as_ref()).map_err(|err| invalid(err.to_string()))?;
        Ok(cc.into_v2())
    } else if e.entry_type == EntryType::EntryConfChangeV2 as i32 {
        ConfChangeV2::decode(e.data.as_ref()).map_err(|err| invalid(err.to_string()))
    } else {
        Err(invalid("entry is not a configuration change".to_string()))
    }
}
