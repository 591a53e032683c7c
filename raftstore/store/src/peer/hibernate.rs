//! Hibernation: a region with nothing in flight goes quiet.
//!
//! A leader that stayed idle for `hibernate_ticks` ticks (everything committed, applied and
//! replicated to every peer, no request waiting, no transfer) stops ticking and tells its
//! followers; a follower that is caught up to the same term and commit index stops ticking too.
//! Quiet peers leave the store's tick set, so they cost nothing until something happens:
//!
//! ```text
//! awake ──idle for hibernate_ticks (leader)──► quiet ──notice──► followers quiet
//!   ▲                                            │
//!   └── any request, raft message, or the store of its leader going silent ◄┘
//! ```
//!
//! A follower that missed the notice keeps ticking, campaigns after an election timeout and so
//! wakes the others; its pre-vote fails while the leader's store is alive (the woken peers have
//! not timed out), and the leader's heartbeats quiet it down again. A quiet follower whose
//! leader's store stops answering store heartbeats is woken by its store (see
//! [`crate::store_fsm`]) and campaigns.

use engine::KvEngine;
use raft::StateRole;
use raft::raftpb::MessageType;
use tracing::trace;

use super::PeerFsm;
use crate::message::{PeerMsg, RaftMessage};
use crate::poll::PollContext;

/// A peer's hibernation state.
#[derive(Debug, Default)]
pub(super) struct Hibernation {
    quiet: bool,
    idle_ticks: usize,
}

impl Hibernation {
    pub(super) fn is_quiet(&self) -> bool {
        self.quiet
    }
}

/// Whether a message wakes a quiet peer. Quiet peers still handle every message; waking only
/// means ticking again. Local storage responses, ticks and quiet notices do not wake; neither do
/// answers reaching a quiet leader (the followers' last heartbeat responses arrive after it went
/// quiet) nor heartbeats reaching a quiet follower (a read-index round of a woken leader needs
/// answers, not ticking followers; new entries come in `MsgApp`, which wakes).
pub(super) fn wakes(msg: &PeerMsg, role: StateRole) -> bool {
    match msg {
        PeerMsg::Raft(m) => {
            let kind = m.message.as_ref().map(raft::raftpb::Message::kind);
            let answer = kind.is_some_and(raft::is_response_msg);
            let heartbeat = kind == Some(MessageType::MsgHeartbeat);
            let ignored = m.quiet
                || m.stale_check
                || (role == StateRole::Leader && answer)
                || (role == StateRole::Follower && heartbeat);
            !ignored
        }
        PeerMsg::Request(_) | PeerMsg::Admin(_) | PeerMsg::Campaign | PeerMsg::Wake => true,
        PeerMsg::Persisted(_)
        | PeerMsg::Applied(_)
        | PeerMsg::Tick
        | PeerMsg::Sent { .. }
        | PeerMsg::CheckStale => false,
    }
}

impl<E: KvEngine> PeerFsm<E> {
    /// Whether nothing is in flight: everything committed is applied and, on a leader,
    /// replicated to every peer whose store is alive (a peer on a dead store catches up when
    /// its store returns: its election attempts wake the leader); no request waits.
    fn is_idle(&self, ctx: &PollContext<E>) -> bool {
        let raft = &self.raw.raft;
        let log = &raft.raft_log;
        let last = log.last_index();
        let settled = self.proposals.is_empty()
            && self.reads.is_empty()
            && log.committed == last
            && self.storage.apply_state().applied_index == last;
        if !settled {
            return false;
        }
        match self.role {
            StateRole::Leader => {
                let dead = ctx.store.dead_stores.read();
                let on_dead_store = |id: u64| {
                    self.region
                        .peers
                        .iter()
                        .any(|p| p.id == id && dead.contains(&p.store_id))
                };
                raft.lead_transferee == 0
                    && raft
                        .prs
                        .progress
                        .iter()
                        .all(|(id, pr)| pr.matched == last || on_dead_store(id))
            }
            StateRole::Follower => raft.leader_id != 0,
            _ => false,
        }
    }

    /// On a leader's tick: counts idle ticks. After `hibernate_ticks` of them the leader goes
    /// quiet at the end of this handling ([`PeerFsm::finish_going_quiet`]), after the tick's
    /// heartbeats are out, so that followers see the notice last.
    pub(super) fn count_idle_tick(&mut self, ctx: &PollContext<E>) {
        if !ctx.store.cfg.hibernate_regions || self.role != StateRole::Leader {
            return;
        }
        if !self.is_idle(ctx) {
            self.hibernation.idle_ticks = 0;
            return;
        }
        self.hibernation.idle_ticks += 1;
    }

    /// Goes quiet if the idle ticks reached `hibernate_ticks` and the leader is still idle,
    /// telling the followers.
    pub(super) fn finish_going_quiet(&mut self, ctx: &mut PollContext<E>) {
        if self.hibernation.quiet
            || self.role != StateRole::Leader
            || self.hibernation.idle_ticks < ctx.store.cfg.hibernate_ticks
            || !self.is_idle(ctx)
        {
            return;
        }
        let (term, commit) = (self.raw.raft.term, self.raw.raft.raft_log.committed);
        for peer in &self.region.peers {
            if peer.id == self.peer.id {
                continue;
            }
            ctx.outbox.push(RaftMessage {
                region_id: self.region.id,
                from_peer: Some(self.peer.clone()),
                to_peer: Some(peer.clone()),
                epoch: self.region.epoch,
                quiet: true,
                quiet_term: term,
                quiet_commit: commit,
                ..RaftMessage::default()
            });
        }
        self.go_quiet(ctx);
    }

    /// A leader's quiet notice: go quiet if caught up with it.
    pub(super) fn on_quiet_notice(&mut self, msg: &RaftMessage, ctx: &PollContext<E>) {
        let from_leader = msg
            .from_peer
            .as_ref()
            .is_some_and(|p| p.id == self.raw.raft.leader_id);
        let caught_up = self.raw.raft.term == msg.quiet_term
            && self.raw.raft.raft_log.committed == msg.quiet_commit;
        if ctx.store.cfg.hibernate_regions
            && self.role == StateRole::Follower
            && from_leader
            && caught_up
            && self.is_idle(ctx)
        {
            self.go_quiet(ctx);
        }
    }

    fn go_quiet(&mut self, ctx: &PollContext<E>) {
        self.hibernation.quiet = true;
        self.hibernation.idle_ticks = 0;
        ctx.store.ticking.remove(self.region.id);
        self.release_idle_memory();
        ctx.store
            .counts
            .quieted_since_release
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("flotilla_regions_quieted").increment(1);
        trace!(region = self.region.id, "quiet");
    }

    /// Gives back the spare room of the peer's queues, so that a quiet region costs little more
    /// than its states (the entry cache goes at the end of every handling of a quiet peer, see
    /// `PeerFsm::handle`). Everything comes back on demand when the region wakes.
    fn release_idle_memory(&mut self) {
        self.lease_probes.shrink_to_fit();
        self.proposals.shrink_to_fit();
        self.reads.shrink_to_fit();
        self.peer_cache.shrink_to_fit();
    }

    /// Ticks again from the next tick on.
    ///
    /// A leader counts every follower as recently active: they were quiet on purpose, not
    /// gone, and without this its next check-quorum would find nobody heard since it went
    /// quiet and step down, starting needless elections. It needs real answers by the check
    /// after that, one election timeout later.
    pub(super) fn wake(&mut self, ctx: &PollContext<E>) {
        if self.role == StateRole::Leader {
            for (_, pr) in self.raw.raft.prs.progress.iter_mut() {
                pr.recent_active = true;
            }
        }
        self.hibernation.quiet = false;
        self.hibernation.idle_ticks = 0;
        ctx.store.ticking.insert(self.region.id);
        trace!(region = self.region.id, "awake");
    }

    /// Whether the peer is quiet (for status and tests).
    pub fn is_quiet(&self) -> bool {
        self.hibernation.is_quiet()
    }
}
