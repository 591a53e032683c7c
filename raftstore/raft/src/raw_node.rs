//! [`RawNode`]: the application's handle on one Raft node, and the [`Ready`] it hands out.
//!
//! Two storage contracts are supported, as in etcd-raft:
//!
//! * **Synchronous** (`Config::async_storage_writes == false`): take a [`Ready`], persist its
//!   entries, hard state and snapshot, send its messages, apply its committed entries, then call
//!   [`RawNode::advance`].
//! * **Asynchronous** (the store's mode): the `Ready`'s messages include one `MsgStorageAppend`
//!   for the local append thread and one `MsgStorageApply` for the local apply thread. Each
//!   carries the responses to deliver (by `step`) once its write is done. Messages to one thread
//!   must be processed in order; the two threads are independent. No `advance` call.
//!
//! ```text
//!  tick/step/propose ──► Raft ──► ready() ──► messages to peers (send now)
//!                                   │  └────► MsgStorageAppend ─► append thread ─┐ fsync,
//!                                   │                                           ▼ then responses
//!                                   └───────► MsgStorageApply ──► apply thread ──► step(resp)
//! ```

use bytes::Bytes;
use prost::Message as _;

use crate::config::{Config, LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD};
use crate::errors::{Error, Result};
use crate::raft::{
    AppliedEntries, Raft, SoftState, StateRole, is_local_msg, is_local_msg_target, is_response_msg,
};
use crate::raftpb::{
    ConfChange, ConfChangeV2, ConfState, Entry, EntryType, HardState, Message, MessageType,
    Snapshot,
};
use crate::read_only::ReadState;
use crate::status::{BasicStatus, Status};
use crate::storage::Storage;

/// Everything the application must do after the node's state changed: persist, send, apply.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ready {
    /// The new leader and role, if they changed.
    pub soft_state: Option<SoftState>,
    /// The new term, vote and commit index to persist, if they changed.
    pub hard_state: Option<HardState>,
    /// Answers to read-index requests.
    pub read_states: Vec<ReadState>,
    /// Entries to persist (before sending `messages` in the synchronous contract).
    pub entries: Vec<Entry>,
    /// A snapshot to persist and apply.
    pub snapshot: Option<Snapshot>,
    /// Entries committed and ready to apply.
    pub committed_entries: Vec<Entry>,
    /// Messages to send; in the asynchronous contract also the local storage messages.
    pub messages: Vec<Message>,
    /// Whether the hard state and entries must reach stable storage with an fsync (votes and
    /// entries must; a commit index alone need not).
    pub must_sync: bool,
}

/// The outcome of a snapshot sent to a follower, reported with [`RawNode::report_snapshot`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotStatus {
    /// The follower received and applied it.
    Finish,
    /// Sending or applying it failed; the follower goes back to probing.
    Failure,
}

/// A configuration change in either format.
pub trait ConfChangeI {
    /// The change as a v2 change.
    fn as_v2(&self) -> ConfChangeV2;
    /// The log entry that proposes the change.
    fn to_entry(&self) -> Entry;
}

impl ConfChangeI for ConfChange {
    fn as_v2(&self) -> ConfChangeV2 {
        self.clone().into_v2()
    }

    fn to_entry(&self) -> Entry {
        Entry {
            entry_type: EntryType::EntryConfChange as i32,
            data: Bytes::from(self.encode_to_vec()),
            ..Entry::default()
        }
    }
}

impl ConfChangeI for ConfChangeV2 {
    fn as_v2(&self) -> ConfChangeV2 {
        self.clone()
    }

    fn to_entry(&self) -> Entry {
        Entry {
            entry_type: EntryType::EntryConfChangeV2 as i32,
            data: Bytes::from(self.encode_to_vec()),
            ..Entry::default()
        }
    }
}

/// The application's handle on one Raft node; not thread-safe, drive it from one thread.
pub struct RawNode<S: Storage> {
    /// The state machine (public for inspection; drive it through the methods).
    pub raft: Raft<S>,
    async_storage_writes: bool,
    prev_soft_state: SoftState,
    prev_hard_state: HardState,
    /// Synchronous contract: local responses to step once the application calls `advance`.
    steps_on_advance: Vec<Message>,
    /// Synchronous contract: the committed entries handed out, accounted as applied on
    /// `advance` (after `steps_on_advance`).
    applied_on_advance: Option<AppliedEntries>,
}

impl<S: Storage> RawNode<S> {
    /// Opens a node on `storage` (which holds its durable state, possibly empty).
    pub fn new(cfg: &Config, storage: S) -> Result<RawNode<S>> {
        let raft = Raft::new(cfg, storage)?;
        let prev_soft_state = raft.soft_state();
        let prev_hard_state = raft.hard_state();
        Ok(RawNode {
            raft,
            async_storage_writes: cfg.async_storage_writes,
            prev_soft_state,
            prev_hard_state,
            steps_on_advance: Vec::new(),
            applied_on_advance: None,
        })
    }

    /// Initializes an empty storage's group with `peers` as voters: one committed
    /// configuration-change entry per peer at term 1, which the first `Ready` persists.
    pub fn bootstrap(&mut self, peers: &[u64]) -> Result<()> {
        if peers.is_empty() {
            return Err(Error::RequestRefused {
                reason: "bootstrap needs at least one peer".into(),
            });
        }
        if self.raft.raft_log.last_index() != 0 {
            return Err(Error::RequestRefused {
                reason: "cannot bootstrap a non-empty log".into(),
            });
        }
        // Nothing is persisted yet: the first Ready must carry the hard state.
        self.prev_hard_state = HardState::default();
        self.raft.become_follower(1, 0);
        let entries: Vec<Entry> = peers
            .iter()
            .enumerate()
            .map(|(i, &id)| {
                let cc = ConfChange {
                    change_type: crate::raftpb::ConfChangeType::AddNode as i32,
                    node_id: id,
                    ..ConfChange::default()
                };
                Entry {
                    term: 1,
                    index: i as u64 + 1,
                    ..cc.to_entry()
                }
            })
            .collect();
        self.raft.raft_log.append(&entries);
        self.raft.raft_log.committed = entries.len() as u64;
        for &id in peers {
            let cc = ConfChange {
                change_type: crate::raftpb::ConfChangeType::AddNode as i32,
                node_id: id,
                ..ConfChange::default()
            };
            self.raft.apply_conf_change(&cc.into_v2())?;
        }
        Ok(())
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        self.raft.tick();
    }

    /// Advances the election clock only, for groups the application keeps quiet; see
    /// [`Raft::tick_quiesced`].
    pub fn tick_quiesced(&mut self) {
        self.raft.tick_quiesced();
    }

    /// Starts an election now (after pre-vote when enabled).
    pub fn campaign(&mut self) -> Result<()> {
        self.raft.step(Message::of_type(MessageType::MsgHup))
    }

    /// Proposes `data` to be appended to the log.
    ///
    /// # Errors
    /// `ProposalDropped` when there is no leader to take it, a transfer is in progress, the
    /// uncommitted size limit is reached, or forwarding is disabled.
    pub fn propose(&mut self, data: Bytes) -> Result<()> {
        let m = Message {
            from: self.raft.id,
            entries: vec![Entry {
                data,
                ..Entry::default()
            }],
            ..Message::of_type(MessageType::MsgProp)
        };
        self.raft.step(m)
    }

    /// Proposes several entries in one message (they are appended together or not at all).
    pub fn propose_batch(&mut self, data: impl IntoIterator<Item = Bytes>) -> Result<()> {
        let entries: Vec<Entry> = data
            .into_iter()
            .map(|data| Entry {
                data,
                ..Entry::default()
            })
            .collect();
        if entries.is_empty() {
            return Ok(());
        }
        let m = Message {
            from: self.raft.id,
            entries,
            ..Message::of_type(MessageType::MsgProp)
        };
        self.raft.step(m)
    }

    /// Proposes a configuration change (v1 or v2).
    ///
    /// # Errors
    /// `ConfChangeInvalid` when this leader refuses it (a change is pending, or it does not fit
    /// the joint state), or the errors of [`RawNode::propose`].
    pub fn propose_conf_change(&mut self, cc: &impl ConfChangeI) -> Result<()> {
        let m = Message {
            from: self.raft.id,
            entries: vec![cc.to_entry()],
            ..Message::of_type(MessageType::MsgProp)
        };
        self.raft.step(m)
    }

    /// Applies a committed configuration change; call it when applying its entry.
    pub fn apply_conf_change(&mut self, cc: &impl ConfChangeI) -> Result<ConfState> {
        self.raft.apply_conf_change(&cc.as_v2())
    }

    /// Steps a message received from a peer or a local storage thread.
    ///
    /// # Errors
    /// `StepLocalMsg` for a local message type from the network, `StepPeerNotFound` for a
    /// response from a node outside the configuration.
    pub fn step(&mut self, m: Message) -> Result<()> {
        let kind = m.kind();
        if is_local_msg(kind) && !is_local_msg_target(m.from) {
            return Err(Error::StepLocalMsg);
        }
        if is_response_msg(kind)
            && !is_local_msg_target(m.from)
            && self.raft.prs.get(m.from).is_none()
        {
            return Err(Error::StepPeerNotFound);
        }
        self.raft.step(m)
    }

    /// Asks for a linearizable read; the answer arrives as a `ReadState` with `ctx`.
    ///
    /// # Errors
    /// `ProposalDropped` when no leader is known; the caller retries later.
    pub fn read_index(&mut self, ctx: Bytes) -> Result<()> {
        if self.raft.state != StateRole::Leader && self.raft.leader_id == 0 {
            return Err(Error::ProposalDropped {
                reason: crate::DropReason::NoLeader,
            });
        }
        let m = Message {
            entries: vec![Entry {
                data: ctx,
                ..Entry::default()
            }],
            ..Message::of_type(MessageType::MsgReadIndex)
        };
        self.raft.step(m)
    }

    /// Asks the leader to hand leadership to `transferee`.
    pub fn transfer_leader(&mut self, transferee: u64) -> Result<()> {
        self.raft.step(Message {
            from: transferee,
            ..Message::of_type(MessageType::MsgTransferLeader)
        })
    }

    /// A follower forgets its leader so it can grant votes before its election timeout
    /// (needed under partial partitions with `CheckQuorum` and `PreVote`).
    ///
    /// # Errors
    /// `RequestRefused` with lease-based reads, where it would break the lease.
    pub fn forget_leader(&mut self) -> Result<()> {
        self.raft
            .step(Message::of_type(MessageType::MsgForgetLeader))
    }

    /// Reports that `id` could not be reached; its replication falls back to probing.
    pub fn report_unreachable(&mut self, id: u64) {
        let _ = self.raft.step(Message {
            from: id,
            ..Message::of_type(MessageType::MsgUnreachable)
        });
    }

    /// Reports the outcome of a snapshot sent to `id`.
    pub fn report_snapshot(&mut self, id: u64, status: SnapshotStatus) {
        let reject = status == SnapshotStatus::Failure;
        let _ = self.raft.step(Message {
            from: id,
            reject,
            ..Message::of_type(MessageType::MsgSnapStatus)
        });
    }

    /// Whether [`RawNode::ready`] has anything to hand out.
    pub fn has_ready(&self) -> bool {
        let r = &self.raft;
        if r.soft_state() != self.prev_soft_state {
            return true;
        }
        let hs = r.hard_state();
        if !hs.is_empty() && hs != self.prev_hard_state {
            return true;
        }
        r.raft_log.has_next_unstable_snapshot()
            || !r.msgs.is_empty()
            || !r.msgs_after_append.is_empty()
            || r.raft_log.has_next_unstable_ents()
            || r.raft_log
                .has_next_committed_ents(!self.async_storage_writes)
            || !r.read_states.is_empty()
            || r.has_deferred()
    }

    /// Collects what the application must do now and accepts it as handed out.
    pub fn ready(&mut self) -> Ready {
        self.raft.flush_deferred();
        let rd = self.ready_without_accept();
        self.accept_ready(&rd);
        rd
    }

    fn ready_without_accept(&mut self) -> Ready {
        let apply_unstable = !self.async_storage_writes;
        let r = &mut self.raft;
        let mut rd = Ready {
            entries: r.raft_log.next_unstable_ents().to_vec(),
            committed_entries: r.raft_log.next_committed_ents(apply_unstable),
            messages: std::mem::take(&mut r.msgs),
            ..Ready::default()
        };
        let ss = r.soft_state();
        if ss != self.prev_soft_state {
            rd.soft_state = Some(ss);
        }
        let hs = r.hard_state();
        if hs != self.prev_hard_state {
            rd.hard_state = Some(hs);
        }
        rd.snapshot = r.raft_log.next_unstable_snapshot().cloned();
        rd.read_states = std::mem::take(&mut r.read_states);
        // A snapshot replaces the log: losing it after acknowledging it would lose entries the
        // leader counts as replicated (etcd leaves this out).
        rd.must_sync = !rd.entries.is_empty()
            || rd.snapshot.is_some()
            || hs.vote != self.prev_hard_state.vote
            || hs.term != self.prev_hard_state.term;
        if self.async_storage_writes {
            if !rd.entries.is_empty()
                || rd.hard_state.is_some()
                || rd.snapshot.is_some()
                || !self.raft.msgs_after_append.is_empty()
            {
                let m = self.storage_append_msg(&rd);
                rd.messages.push(m);
            }
            if !rd.committed_entries.is_empty() {
                let m = self.storage_apply_msg(&rd);
                rd.messages.push(m);
            }
        } else {
            // The contract sends messages only after the Ready is persisted, so these may go
            // out with it; the node's own acknowledgements are stepped on `advance`.
            assert!(
                self.steps_on_advance.is_empty(),
                "ready() called twice without advance()"
            );
            let id = self.raft.id;
            for m in std::mem::take(&mut self.raft.msgs_after_append) {
                if m.to == id {
                    self.steps_on_advance.push(m);
                } else {
                    rd.messages.push(m);
                }
            }
        }
        rd
    }

    /// The message for the append thread: what to persist, then the responses to deliver.
    fn storage_append_msg(&mut self, rd: &Ready) -> Message {
        let mut m = Message {
            to: LOCAL_APPEND_THREAD,
            from: self.raft.id,
            entries: rd.entries.clone(),
            snapshot: rd.snapshot.clone().map(Box::new),
            ..Message::of_type(MessageType::MsgStorageAppend)
        };
        if let Some(hs) = rd.hard_state {
            m.term = hs.term;
            m.vote = hs.vote;
            m.commit = hs.commit;
        }
        // The leader's own append acknowledgements come before the append response, so they
        // are handled while the entries are still in the unstable log (cheap term lookups).
        m.responses = std::mem::take(&mut self.raft.msgs_after_append);
        if let Some(resp) = self.storage_append_resp_msg(rd) {
            m.responses.push(resp);
        }
        m
    }

    /// The self-addressed response that marks persisted entries stable, stamped with the
    /// current term so that it is dropped if the term changes before it returns (the unstable
    /// log may then hold other entries at those indexes).
    fn storage_append_resp_msg(&self, rd: &Ready) -> Option<Message> {
        let r = &self.raft;
        let has_entries = r.raft_log.has_next_or_in_progress_unstable_ents();
        if !has_entries && rd.snapshot.is_none() {
            return None;
        }
        let mut m = Message {
            to: r.id,
            from: LOCAL_APPEND_THREAD,
            term: r.term,
            snapshot: rd.snapshot.clone().map(Box::new),
            ..Message::of_type(MessageType::MsgStorageAppendResp)
        };
        if has_entries {
            m.index = r.raft_log.last_index();
            m.log_term = r.raft_log.last_term();
        }
        Some(m)
    }

    fn storage_apply_msg(&self, rd: &Ready) -> Message {
        let entries = rd.committed_entries.clone();
        let resp = Message {
            to: self.raft.id,
            from: LOCAL_APPLY_THREAD,
            entries: entries.clone(),
            ..Message::of_type(MessageType::MsgStorageApplyResp)
        };
        Message {
            to: LOCAL_APPLY_THREAD,
            from: self.raft.id,
            entries,
            responses: vec![resp],
            ..Message::of_type(MessageType::MsgStorageApply)
        }
    }

    fn accept_ready(&mut self, rd: &Ready) {
        if let Some(ss) = rd.soft_state {
            self.prev_soft_state = ss;
        }
        if let Some(hs) = rd.hard_state {
            self.prev_hard_state = hs;
        }
        if !self.async_storage_writes {
            if let Some(resp) = self.storage_append_resp_msg(rd) {
                self.steps_on_advance.push(resp);
            }
            if let Some(last) = rd.committed_entries.last() {
                let applied = AppliedEntries::of(&rd.committed_entries, last.index);
                self.applied_on_advance = Some(applied);
            }
        }
        // Taken, not cleared: an idle node keeps no message buffer.
        self.raft.msgs_after_append = Vec::new();
        self.raft.raft_log.accept_unstable();
        if let Some(last) = rd.committed_entries.last() {
            let size: u64 = rd.committed_entries.iter().map(Entry::size).sum();
            self.raft
                .raft_log
                .accept_applying(last.index, size, !self.async_storage_writes);
        }
    }

    /// Synchronous contract: everything in the last `Ready` was persisted, sent and applied.
    ///
    /// # Panics
    /// In asynchronous mode, where progress is reported by the storage responses instead.
    pub fn advance(&mut self) {
        assert!(
            !self.async_storage_writes,
            "advance() is not used with async storage writes"
        );
        for m in std::mem::take(&mut self.steps_on_advance) {
            let _ = self.raft.step(m);
        }
        if let Some(applied) = self.applied_on_advance.take() {
            self.raft.on_entries_applied(applied);
        }
    }

    /// Term, vote, commit, role, leader and applied index.
    pub fn basic_status(&self) -> BasicStatus {
        BasicStatus::of(&self.raft)
    }

    /// The basic status plus the configuration and, on a leader, every peer's progress.
    pub fn status(&self) -> Status {
        Status::of(&self.raft)
    }

    /// Whether the node is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.state == StateRole::Leader
    }
}
