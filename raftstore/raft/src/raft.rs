//! The Raft state machine of one node: roles, terms, elections and the dispatch of messages.
//!
//! A [`Raft`] never performs I/O. Inputs arrive through [`Raft::tick`] and [`Raft::step`];
//! outputs accumulate in `msgs` (send now), `msgs_after_append` (send once everything unstable
//! is durable: appends acknowledgements and votes), the log's unstable part, and `read_states`.
//! [`crate::RawNode`] turns them into a `Ready`.
//!
//! The behaviour per role lives in submodules: `leader` (proposals, replication feedback,
//! transfers), `follower` (following and candidates' vote counting), `replication` (sending and
//! accepting appends, heartbeats and snapshots), `membership` (configuration changes) and
//! `read` (read-index requests).

mod follower;
mod leader;
pub mod membership;
mod read;
mod replication;

use std::fmt;

use bytes::Bytes;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::SplitMix64;
use tracing::{debug, info};

use crate::confchange;
use crate::config::{Config, LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD};
use crate::errors::{Error, Result};
use crate::quorum::VoteResult;
use crate::raft_log::RaftLog;
use crate::raftpb::{EntryType, HardState, Message, MessageType};
use crate::read_only::{ReadOnly, ReadState};
use crate::storage::Storage;
use crate::tracker::ProgressTracker;

/// The role a node plays in its group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum StateRole {
    /// Follows a leader (or waits for one).
    #[default]
    Follower,
    /// Campaigns for leadership in the current term.
    Candidate,
    /// Leads the group.
    Leader,
    /// Asks whether it could win an election before disturbing anyone's term (`PreVote`).
    PreCandidate,
}

impl fmt::Display for StateRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            StateRole::Follower => "StateFollower",
            StateRole::Candidate => "StateCandidate",
            StateRole::Leader => "StateLeader",
            StateRole::PreCandidate => "StatePreCandidate",
        };
        f.write_str(name)
    }
}

/// The volatile state worth reporting to the application: who leads and what this node is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SoftState {
    /// The known leader, 0 for none.
    pub leader_id: u64,
    /// This node's role.
    pub raft_state: StateRole,
}

/// Why a node campaigns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CampaignType {
    /// The pre-vote phase of a timed election.
    PreElection,
    /// A timed election (or its second phase after a won pre-vote).
    Election,
    /// An election ordered by the leader in a leadership transfer; skips pre-vote and is not
    /// ignored by followers still hearing from the old leader.
    Transfer,
}

/// What a batch of applied entries releases: the applying quota and the uncommitted budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct AppliedEntries {
    /// The last index applied.
    pub(crate) index: u64,
    /// The entries' size as counted against `max_committed_size_per_ready`.
    pub(crate) size: u64,
    /// Their payload bytes, as counted against `max_uncommitted_entries_size`.
    pub(crate) payload: u64,
}

impl AppliedEntries {
    pub(crate) fn of(entries: &[crate::raftpb::Entry], index: u64) -> AppliedEntries {
        AppliedEntries {
            index,
            size: entries.iter().map(crate::raftpb::Entry::size).sum(),
            payload: entries.iter().map(crate::raftpb::Entry::payload_size).sum(),
        }
    }
}

/// The context that marks a vote request as part of a leadership transfer.
pub(crate) const CAMPAIGN_TRANSFER: &[u8] = b"CampaignTransfer";

/// The consensus state machine of one node.
///
/// Fields are public for inspection by tests and status reporting; mutate them only through
/// the methods, which keep the invariants below.
pub struct Raft<S: Storage> {
    /// This node's id.
    pub id: u64,
    /// The current term.
    ///
    /// Invariant: never decreases.
    pub term: u64,
    /// Whom this node voted for in `term`, 0 for nobody.
    pub vote: u64,
    /// Read requests answered since the last `Ready`.
    pub read_states: Vec<ReadState>,
    /// The log: stable entries in storage plus the unstable tail.
    pub raft_log: RaftLog<S>,
    /// The membership and every peer's replication progress.
    pub prs: ProgressTracker,
    /// This node's role.
    pub state: StateRole,
    /// Messages to send at once.
    ///
    /// Invariant: none is addressed to this node.
    pub msgs: Vec<Message>,
    /// Messages to send only after everything unstable at the time they were created is
    /// durable: `MsgAppResp`, `MsgVoteResp` and `MsgPreVoteResp`, possibly to this node.
    pub msgs_after_append: Vec<Message>,
    /// The leader of `term` as far as this node knows, 0 for none.
    pub leader_id: u64,
    /// The node leadership is being handed to, 0 when no transfer is in progress.
    pub lead_transferee: u64,
    /// Whether this node is a learner in the current configuration.
    pub is_learner: bool,
    /// An index at or above the latest configuration change in the log that may be unapplied;
    /// a leader refuses a new change until it has applied past it.
    pending_conf_index: u64,
    /// The payload bytes of uncommitted entries a leader has appended (an estimate that never
    /// overestimates), bounded by `max_uncommitted_size`.
    uncommitted_size: u64,
    /// Pending read-index rounds (leader only).
    pub(crate) read_only: ReadOnly,
    /// Read requests that arrived before this leader committed an entry of its term.
    pending_read_index_messages: Vec<Message>,
    /// Whether proposals were appended since the last broadcast of appends; the broadcast
    /// happens once, when the next `Ready` is built, so a burst of proposals goes out in one
    /// `MsgApp` per follower.
    pending_bcast_append: bool,
    /// Ticks since the last election timeout (follower, candidate) or since the leader last
    /// checked its quorum.
    election_elapsed: usize,
    /// Ticks since the last heartbeat (leader only).
    heartbeat_elapsed: usize,
    /// The timeout drawn for this term.
    ///
    /// Invariant: in `[election_timeout, 2 * election_timeout)`.
    randomized_election_timeout: usize,
    max_msg_size: u64,
    max_uncommitted_size: u64,
    check_quorum: bool,
    pre_vote: bool,
    heartbeat_timeout: usize,
    election_timeout: usize,
    disable_proposal_forwarding: bool,
    disable_conf_change_validation: bool,
    step_down_on_removal: bool,
    rng: SplitMix64,
}

impl<S: Storage> Raft<S> {
    /// Builds a node from its configuration and the state found in `storage`.
    ///
    /// # Errors
    /// An invalid config, unreadable storage, or a stored configuration that cannot be
    /// restored.
    pub fn new(cfg: &Config, storage: S) -> Result<Raft<S>> {
        cfg.validate()?;
        let initial = storage.initial_state()?;
        let raft_log = RaftLog::new(storage, cfg.committed_size_limit())?;
        let seed = cfg.seed ^ cfg.id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut r = Raft {
            id: cfg.id,
            term: 0,
            vote: 0,
            read_states: Vec::new(),
            raft_log,
            prs: ProgressTracker::new(cfg.max_inflight_msgs, cfg.inflight_bytes_limit()),
            state: StateRole::Follower,
            msgs: Vec::new(),
            msgs_after_append: Vec::new(),
            leader_id: 0,
            lead_transferee: 0,
            is_learner: false,
            pending_conf_index: 0,
            uncommitted_size: 0,
            read_only: ReadOnly::new(cfg.read_only_option),
            pending_read_index_messages: Vec::new(),
            pending_bcast_append: false,
            election_elapsed: 0,
            heartbeat_elapsed: 0,
            randomized_election_timeout: cfg.election_tick,
            max_msg_size: cfg.max_size_per_msg,
            max_uncommitted_size: cfg.uncommitted_size_limit(),
            check_quorum: cfg.check_quorum,
            pre_vote: cfg.pre_vote,
            heartbeat_timeout: cfg.heartbeat_tick,
            election_timeout: cfg.election_tick,
            disable_proposal_forwarding: cfg.disable_proposal_forwarding,
            disable_conf_change_validation: cfg.disable_conf_change_validation,
            step_down_on_removal: cfg.step_down_on_removal,
            rng: SplitMix64::seed_from_u64(seed),
        };
        let changer = confchange::Changer {
            tracker: &r.prs,
            last_index: r.raft_log.last_index(),
        };
        let (config, progress) = confchange::restore(changer, &initial.conf_state)?;
        r.switch_to_config(config, progress);
        if !initial.hard_state.is_empty() {
            r.load_state(initial.hard_state)?;
        }
        if cfg.applied > 0 {
            r.raft_log.applied_to(cfg.applied, 0);
        }
        r.become_follower(r.term, 0);
        info!(
            raft_id = r.id,
            term = r.term,
            commit = r.raft_log.committed,
            applied = r.raft_log.applied,
            last_index = r.raft_log.last_index(),
            last_term = r.raft_log.last_term(),
            "new raft node"
        );
        Ok(r)
    }

    /// The volatile state: leader and role.
    pub fn soft_state(&self) -> SoftState {
        SoftState {
            leader_id: self.leader_id,
            raft_state: self.state,
        }
    }

    /// The state that must be durable: term, vote and commit index.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: self.vote,
            commit: self.raft_log.committed,
        }
    }

    /// The election timeout in ticks.
    pub fn election_timeout(&self) -> usize {
        self.election_timeout
    }

    /// The heartbeat interval in ticks.
    pub fn heartbeat_timeout(&self) -> usize {
        self.heartbeat_timeout
    }

    /// Ticks since the election clock was last reset.
    pub fn election_elapsed(&self) -> usize {
        self.election_elapsed
    }

    /// The timeout drawn for the current term, in `[election, 2 * election)` ticks.
    pub fn randomized_election_timeout(&self) -> usize {
        self.randomized_election_timeout
    }

    /// Bytes of uncommitted payloads the leader holds.
    pub fn uncommitted_size(&self) -> u64 {
        self.uncommitted_size
    }

    /// The configuration-change index a leader waits to apply before accepting another change.
    pub fn pending_conf_index(&self) -> u64 {
        self.pending_conf_index
    }

    /// Advances the logical clock by one tick.
    pub fn tick(&mut self) {
        match self.state {
            StateRole::Leader => self.tick_heartbeat(),
            _ => self.tick_election(),
        }
    }

    /// Advances the election clock without acting on it, for groups the application keeps
    /// quiet (no heartbeats, no elections). The clock keeps counting, so a follower that wakes
    /// after a long quiet period campaigns on its next ordinary tick unless it hears from its
    /// leader first; the application decides when waking is due.
    pub fn tick_quiesced(&mut self) {
        self.election_elapsed += 1;
    }

    fn tick_election(&mut self) {
        self.election_elapsed += 1;
        if self.promotable() && self.past_election_timeout() {
            self.election_elapsed = 0;
            let hup = Message {
                from: self.id,
                ..Message::of_type(MessageType::MsgHup)
            };
            let _ = self.step(hup);
        }
    }

    fn tick_heartbeat(&mut self) {
        self.heartbeat_elapsed += 1;
        self.election_elapsed += 1;
        if self.election_elapsed >= self.election_timeout {
            self.election_elapsed = 0;
            if self.check_quorum {
                let check = Message {
                    from: self.id,
                    ..Message::of_type(MessageType::MsgCheckQuorum)
                };
                let _ = self.step(check);
            }
            // A transfer that did not finish within an election timeout is abandoned and the
            // leader takes proposals again; a removed leader starts its hand-off over.
            if self.state == StateRole::Leader && self.lead_transferee != 0 {
                self.abort_leader_transfer();
                if self.step_down_on_removal && !self.is_voter() {
                    self.hand_off_after_removal();
                }
            }
        }
        if self.state != StateRole::Leader {
            return;
        }
        if self.heartbeat_elapsed >= self.heartbeat_timeout {
            self.heartbeat_elapsed = 0;
            let beat = Message {
                from: self.id,
                ..Message::of_type(MessageType::MsgBeat)
            };
            let _ = self.step(beat);
        }
    }

    /// Whether the election clock has run past this term's randomized timeout.
    pub fn past_election_timeout(&self) -> bool {
        self.election_elapsed >= self.randomized_election_timeout
    }

    fn reset_randomized_election_timeout(&mut self) {
        let timeout = self.election_timeout;
        self.randomized_election_timeout = timeout + self.rng.random_range(0..timeout);
        debug_assert!(
            (timeout..2 * timeout).contains(&self.randomized_election_timeout),
            "invariant: randomized timeout within [election, 2 * election)"
        );
    }

    /// Resets the per-term state when entering `term` (or re-entering the same term as another
    /// role).
    fn reset(&mut self, term: u64) {
        if self.term != term {
            self.term = term;
            self.vote = 0;
        }
        self.leader_id = 0;
        self.election_elapsed = 0;
        self.heartbeat_elapsed = 0;
        self.reset_randomized_election_timeout();
        self.abort_leader_transfer();
        self.prs.reset_votes();
        let last_index = self.raft_log.last_index();
        let (max_inflight, max_bytes) = (self.prs.max_inflight, self.prs.max_inflight_bytes);
        let self_id = self.id;
        for (id, pr) in self.prs.progress.iter_mut() {
            let is_learner = pr.is_learner;
            *pr = crate::tracker::Progress::new(last_index + 1, max_inflight, max_bytes);
            pr.is_learner = is_learner;
            if id == self_id {
                pr.matched = last_index;
            }
        }
        self.pending_conf_index = 0;
        self.uncommitted_size = 0;
        self.pending_bcast_append = false;
        self.read_only.reset();
    }

    /// Becomes a follower of `leader_id` (0 if unknown) in `term`.
    pub fn become_follower(&mut self, term: u64, leader_id: u64) {
        self.reset(term);
        self.leader_id = leader_id;
        self.state = StateRole::Follower;
        self.pending_read_index_messages.clear();
        info!(raft_id = self.id, term = self.term, "became follower");
    }

    /// Becomes a candidate: a new term, a vote for itself.
    ///
    /// # Panics
    /// If called on a leader (a programmer error).
    pub fn become_candidate(&mut self) {
        assert_ne!(
            self.state,
            StateRole::Leader,
            "invalid transition [leader -> candidate]"
        );
        self.reset(self.term + 1);
        self.vote = self.id;
        self.state = StateRole::Candidate;
        info!(raft_id = self.id, term = self.term, "became candidate");
    }

    /// Becomes a pre-candidate: asks for pre-votes without changing term or vote. The known
    /// leader is forgotten (etcd#8334): a pre-candidate that kept it would refuse votes.
    ///
    /// # Panics
    /// If called on a leader (a programmer error).
    pub fn become_pre_candidate(&mut self) {
        assert_ne!(
            self.state,
            StateRole::Leader,
            "invalid transition [leader -> pre-candidate]"
        );
        self.prs.reset_votes();
        self.leader_id = 0;
        self.state = StateRole::PreCandidate;
        info!(raft_id = self.id, term = self.term, "became pre-candidate");
    }

    /// Becomes the leader of the current term and appends the empty entry through which
    /// entries of earlier terms get committed (Raft paper, figure 8).
    ///
    /// # Panics
    /// If called on a follower (a programmer error).
    pub fn become_leader(&mut self) {
        assert_ne!(
            self.state,
            StateRole::Follower,
            "invalid transition [follower -> leader]"
        );
        self.reset(self.term);
        self.leader_id = self.id;
        self.state = StateRole::Leader;
        let self_id = self.id;
        let pr = self
            .prs
            .get_mut(self_id)
            .expect("invariant: a leader has its own progress");
        pr.become_replicate();
        pr.recent_active = true;
        // Changes already in the log may be unapplied; refuse new ones until all is applied.
        self.pending_conf_index = self.raft_log.last_index();
        let empty = crate::raftpb::Entry::default();
        let appended = self.append_entries(vec![empty]);
        debug_assert!(appended, "invariant: an empty entry is never refused");
        info!(raft_id = self.id, term = self.term, "became leader");
    }

    /// Whether this node may campaign: it is a voter and has no snapshot being installed.
    pub fn promotable(&self) -> bool {
        self.prs.get(self.id).is_some_and(|pr| !pr.is_learner)
            && !self.raft_log.has_next_or_in_progress_snapshot()
    }

    /// Queues `m` for sending, stamping sender and term.
    ///
    /// # Panics
    /// On a vote message without a term, another message with one, or a message to itself that
    /// is not a response: all programmer errors.
    pub(crate) fn send(&mut self, mut m: Message) {
        if m.from == 0 {
            m.from = self.id;
        }
        let kind = m.kind();
        if matches!(
            kind,
            MessageType::MsgVote
                | MessageType::MsgVoteResp
                | MessageType::MsgPreVote
                | MessageType::MsgPreVoteResp
        ) {
            assert_ne!(m.term, 0, "term must be set when sending {kind:?}");
        } else {
            assert_eq!(m.term, 0, "term must not be set when sending {kind:?}");
            // Proposals and read requests are forwarded as if local; they carry no term.
            if kind != MessageType::MsgProp && kind != MessageType::MsgReadIndex {
                m.term = self.term;
            }
        }
        if matches!(
            kind,
            MessageType::MsgAppResp
                | MessageType::MsgVoteResp
                | MessageType::MsgPreVoteResp
                | MessageType::MsgVote
        ) {
            // Acknowledging an append or casting a vote promises durability: these wait for
            // everything unstable to be persisted (thesis 3.8). So does asking for votes: a
            // candidate that crashed before its term was durable could campaign again in the
            // same term with a shorter log, and count the votes its earlier request won with
            // entries it has since lost.
            self.msgs_after_append.push(m);
        } else {
            assert_ne!(
                m.to, self.id,
                "message must not be addressed to self: {kind:?}"
            );
            self.msgs.push(m);
        }
    }

    /// Processes one message. Errors leave the state unchanged.
    pub fn step(&mut self, m: Message) -> Result<()> {
        if m.term == 0 {
            // A local message (or a proposal/read forwarded without a term).
        } else if m.term > self.term {
            if !self.step_higher_term(&m) {
                return Ok(());
            }
        } else if m.term < self.term {
            self.step_lower_term(&m);
            return Ok(());
        }
        match m.kind() {
            MessageType::MsgHup => {
                let kind = if self.pre_vote {
                    CampaignType::PreElection
                } else {
                    CampaignType::Election
                };
                self.hup(kind);
            }
            MessageType::MsgStorageAppendResp => self.on_storage_append_resp(&m),
            MessageType::MsgStorageApplyResp => self.on_storage_apply_resp(&m),
            MessageType::MsgVote | MessageType::MsgPreVote => self.on_vote_request(&m),
            _ => {
                return match self.state {
                    StateRole::Leader => self.step_leader(m),
                    StateRole::Candidate | StateRole::PreCandidate => self.step_candidate(m),
                    StateRole::Follower => self.step_follower(m),
                };
            }
        }
        Ok(())
    }

    /// Handles a message from a higher term. Returns whether to go on processing it.
    fn step_higher_term(&mut self, m: &Message) -> bool {
        let kind = m.kind();
        if kind == MessageType::MsgVote || kind == MessageType::MsgPreVote {
            let force = m.context.as_ref() == CAMPAIGN_TRANSFER;
            let in_lease = self.check_quorum
                && self.leader_id != 0
                && self.election_elapsed < self.election_timeout;
            if !force && in_lease {
                // Leader stickiness: while a leader was heard from within the election timeout,
                // a vote request neither bumps the term nor gets a vote.
                info!(
                    raft_id = self.id,
                    term = self.term,
                    from = m.from,
                    msg_type = ?kind,
                    remaining_ticks = self.election_timeout - self.election_elapsed,
                    "ignored vote request: lease is not expired"
                );
                return false;
            }
        }
        match kind {
            // A pre-vote never changes the term; a granted pre-vote response carries the term
            // this node will campaign for.
            MessageType::MsgPreVote => {}
            MessageType::MsgPreVoteResp if !m.reject => {}
            _ => {
                info!(
                    raft_id = self.id,
                    term = self.term,
                    from = m.from,
                    msg_term = m.term,
                    msg_type = ?kind,
                    "received a message with higher term"
                );
                let leader = if matches!(
                    kind,
                    MessageType::MsgApp | MessageType::MsgHeartbeat | MessageType::MsgSnap
                ) {
                    m.from
                } else {
                    0
                };
                self.become_follower(m.term, leader);
            }
        }
        true
    }

    /// Handles a message from a lower term (never processed further).
    fn step_lower_term(&mut self, m: &Message) {
        let kind = m.kind();
        if (self.check_quorum || self.pre_vote)
            && matches!(kind, MessageType::MsgHeartbeat | MessageType::MsgApp)
        {
            // A stale leader (or this node after a partition raised its term) would otherwise
            // never learn the new term: answer so the stale side catches up.
            self.send(Message {
                to: m.from,
                ..Message::of_type(MessageType::MsgAppResp)
            });
        } else if kind == MessageType::MsgPreVote {
            // A node stuck at a lower term must learn the higher one, or PreVote deadlocks
            // (etcd#8243).
            self.send(Message {
                to: m.from,
                term: self.term,
                reject: true,
                ..Message::of_type(MessageType::MsgPreVoteResp)
            });
        } else if kind == MessageType::MsgStorageAppendResp {
            // Entries acknowledged under an older term may since have been replaced in the
            // unstable log (the ABA race): do not mark anything stable. A snapshot carries
            // committed state and is valid under any term.
            if let Some(snap) = &m.snapshot {
                self.applied_snapshot(snap.index());
            }
        } else {
            debug!(
                raft_id = self.id,
                term = self.term,
                from = m.from,
                msg_term = m.term,
                msg_type = ?kind,
                "ignored a message with lower term"
            );
        }
    }

    fn on_storage_append_resp(&mut self, m: &Message) {
        if m.index != 0 {
            self.raft_log.stable_to(m.index, m.log_term);
        }
        if let Some(snap) = &m.snapshot {
            self.applied_snapshot(snap.index());
        }
    }

    fn on_storage_apply_resp(&mut self, m: &Message) {
        let Some(last) = m.entries.last() else { return };
        self.on_entries_applied(AppliedEntries::of(&m.entries, last.index));
    }

    /// Accounts for entries the application finished applying.
    pub(crate) fn on_entries_applied(&mut self, applied: AppliedEntries) {
        self.applied_to(applied.index, applied.size);
        self.reduce_uncommitted_size(applied.payload);
    }

    fn applied_snapshot(&mut self, index: u64) {
        self.raft_log.stable_snap_to(index);
        self.applied_to(index, 0);
    }

    /// Records that the application applied up to `index`, and leaves an automatic joint
    /// configuration once its entering change is applied.
    pub(crate) fn applied_to(&mut self, index: u64, size: u64) {
        let applied = index.max(self.raft_log.applied);
        self.raft_log.applied_to(applied, size);
        if self.prs.config.auto_leave
            && applied >= self.pending_conf_index
            && self.state == StateRole::Leader
        {
            self.propose_auto_leave();
        }
    }

    /// Starts an election unless this node leads, cannot lead, or has configuration changes
    /// still to apply (campaigning on a stale configuration could elect a wrong quorum).
    pub(crate) fn hup(&mut self, kind: CampaignType) {
        if self.state == StateRole::Leader {
            debug!(raft_id = self.id, "ignoring MsgHup because already leader");
            return;
        }
        if !self.promotable() {
            info!(raft_id = self.id, "is unpromotable and cannot campaign");
            return;
        }
        if self.has_unapplied_conf_changes() {
            info!(
                raft_id = self.id,
                term = self.term,
                "cannot campaign: configuration changes are committed but not applied"
            );
            return;
        }
        info!(
            raft_id = self.id,
            term = self.term,
            "starting a new election"
        );
        self.campaign(kind);
    }

    /// Whether a committed but unapplied configuration change is in the log. Reads the
    /// unapplied tail in pages bounded like the apply path, so memory stays bounded.
    fn has_unapplied_conf_changes(&self) -> bool {
        let (mut lo, hi) = (self.raft_log.applied + 1, self.raft_log.committed + 1);
        while lo < hi {
            let page = match self.raft_log.slice(lo, hi, self.raft_log.max_applying_size) {
                Ok(page) => page,
                Err(err) => {
                    crate::fatal!(self, "cannot read unapplied entries [{lo}, {hi}): {err}")
                }
            };
            if page.is_empty() {
                break;
            }
            if page.iter().any(is_conf_change_entry) {
                return true;
            }
            lo += page.len() as u64;
        }
        false
    }

    /// Campaigns: becomes (pre-)candidate and asks every voter for its vote.
    pub(crate) fn campaign(&mut self, kind: CampaignType) {
        let (term, vote_msg) = if kind == CampaignType::PreElection {
            self.become_pre_candidate();
            // Pre-votes ask for the next term without taking it.
            (self.term + 1, MessageType::MsgPreVote)
        } else {
            self.become_candidate();
            (self.term, MessageType::MsgVote)
        };
        let resp_type = vote_resp_msg_type(vote_msg);
        let (last_index, last_term) = (self.raft_log.last_index(), self.raft_log.last_term());
        for id in self.prs.voter_ids() {
            if id == self.id {
                // The own vote counts once it is durable, like every other vote.
                self.send(Message {
                    to: id,
                    term,
                    ..Message::of_type(resp_type)
                });
                continue;
            }
            info!(
                raft_id = self.id,
                term = self.term,
                log_term = last_term,
                index = last_index,
                to = id,
                msg_type = ?vote_msg,
                "sent vote request"
            );
            let context = if kind == CampaignType::Transfer {
                Bytes::from_static(CAMPAIGN_TRANSFER)
            } else {
                Bytes::new()
            };
            self.send(Message {
                to: id,
                term,
                index: last_index,
                log_term: last_term,
                context,
                ..Message::of_type(vote_msg)
            });
        }
    }

    /// Records a vote and returns the tally.
    fn poll(&mut self, from: u64, kind: MessageType, granted: bool) -> VoteResult {
        let term = self.term;
        info!(raft_id = self.id, term, from, granted, msg_type = ?kind, "received vote");
        self.prs.record_vote(from, granted);
        let (granted, rejected, result) = self.prs.tally_votes();
        info!(raft_id = self.id, granted, rejected, msg_type = ?kind, "vote tally");
        result
    }

    fn on_vote_request(&mut self, m: &Message) {
        let kind = m.kind();
        // A node may vote for whom it already voted, when it has not voted and knows no leader,
        // or in a pre-vote for a later term.
        let can_vote = self.vote == m.from
            || (self.vote == 0 && self.leader_id == 0)
            || (kind == MessageType::MsgPreVote && m.term > self.term);
        // Learners vote too: the candidate may know a configuration in which they are voters
        // (etcd#10998).
        if can_vote && self.raft_log.is_up_to_date(m.index, m.log_term) {
            info!(
                raft_id = self.id,
                term = self.term,
                from = m.from,
                msg_type = ?kind,
                "cast vote"
            );
            // Answer with the request's term: a pre-vote is for a future term, and a stale
            // local term would make the candidate ignore the answer.
            self.send(Message {
                to: m.from,
                term: m.term,
                ..Message::of_type(vote_resp_msg_type(kind))
            });
            if kind == MessageType::MsgVote {
                self.election_elapsed = 0;
                self.vote = m.from;
            }
        } else {
            info!(
                raft_id = self.id,
                term = self.term,
                from = m.from,
                msg_type = ?kind,
                vote = self.vote,
                "rejected vote"
            );
            self.send(Message {
                to: m.from,
                term: self.term,
                reject: true,
                ..Message::of_type(vote_resp_msg_type(kind))
            });
        }
    }

    fn load_state(&mut self, hs: HardState) -> Result<()> {
        if hs.commit < self.raft_log.committed || hs.commit > self.raft_log.last_index() {
            return Err(Error::Storage(crate::StorageError::Other(format!(
                "hard state commit {} outside [{}, {}]",
                hs.commit,
                self.raft_log.committed,
                self.raft_log.last_index()
            ))));
        }
        self.raft_log.committed = hs.commit;
        self.term = hs.term;
        self.vote = hs.vote;
        Ok(())
    }

    pub(crate) fn abort_leader_transfer(&mut self) {
        self.lead_transferee = 0;
    }

    /// Whether this leader has committed an entry of its own term (only then is its commit
    /// index known to be the group's).
    pub fn committed_entry_in_current_term(&self) -> bool {
        self.raft_log.term(self.raft_log.committed).unwrap_or(0) == self.term
    }

    /// Leader only: tries to advance the commit index from the quorum's matches. Only an entry
    /// of the current term can be committed by counting (Raft paper, figure 8).
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let committed = self.prs.committed();
        self.raft_log.maybe_commit(committed, self.term)
    }

    fn reduce_uncommitted_size(&mut self, size: u64) {
        // The estimate never overestimates, so saturate instead of wrapping.
        self.uncommitted_size = self.uncommitted_size.saturating_sub(size);
    }

    /// Sends whatever was deferred until the next `Ready`: one append broadcast for the
    /// proposals of this batch and the heartbeats of the open read round.
    pub fn flush_deferred(&mut self) {
        if self.state != StateRole::Leader {
            self.pending_bcast_append = false;
            return;
        }
        if std::mem::take(&mut self.pending_bcast_append) {
            self.bcast_append();
        }
        self.flush_read_round();
    }

    /// Whether [`Raft::flush_deferred`] would send something.
    pub fn has_deferred(&self) -> bool {
        self.state == StateRole::Leader
            && (self.pending_bcast_append || self.read_only.has_unsent_round())
    }
}

/// Whether the entry carries a configuration change (v1 or v2).
pub fn is_conf_change_entry(e: &crate::raftpb::Entry) -> bool {
    e.entry_type == EntryType::EntryConfChange as i32
        || e.entry_type == EntryType::EntryConfChangeV2 as i32
}

/// The response type for a vote request type.
///
/// # Panics
/// For any other type (a programmer error).
pub fn vote_resp_msg_type(kind: MessageType) -> MessageType {
    match kind {
        MessageType::MsgVote => MessageType::MsgVoteResp,
        MessageType::MsgPreVote => MessageType::MsgPreVoteResp,
        other => panic!("not a vote message: {other:?}"),
    }
}

/// Whether messages of this type are created by the core for itself or its storage threads
/// and must never arrive from the network.
pub fn is_local_msg(kind: MessageType) -> bool {
    matches!(
        kind,
        MessageType::MsgHup
            | MessageType::MsgBeat
            | MessageType::MsgUnreachable
            | MessageType::MsgSnapStatus
            | MessageType::MsgCheckQuorum
            | MessageType::MsgStorageAppend
            | MessageType::MsgStorageAppendResp
            | MessageType::MsgStorageApply
            | MessageType::MsgStorageApplyResp
    )
}

/// Whether messages of this type answer a request.
pub fn is_response_msg(kind: MessageType) -> bool {
    matches!(
        kind,
        MessageType::MsgAppResp
            | MessageType::MsgVoteResp
            | MessageType::MsgHeartbeatResp
            | MessageType::MsgUnreachable
            | MessageType::MsgReadIndexResp
            | MessageType::MsgPreVoteResp
            | MessageType::MsgStorageAppendResp
            | MessageType::MsgStorageApplyResp
    )
}

/// Whether `id` names a local storage thread rather than a node.
pub fn is_local_msg_target(id: u64) -> bool {
    id == LOCAL_APPEND_THREAD || id == LOCAL_APPLY_THREAD
}
