//! Dormant followers: a quiet follower drops its consensus node and rebuilds it on demand.
//!
//! A `RawNode` with its progress tracker is most of what a replica costs in memory (about a
//! kilobyte), and two replicas in three are followers. A quiet follower whose node holds
//! nothing its storage does not (every entry, the term, vote and commit index are in the
//! storage's in-memory state; nothing unapplied, nothing waiting) loses nothing by dropping it:
//! rebuilding from the storage gives the same node a restart would, and the leader it followed
//! is put back (`become_follower` in the same term keeps the vote), so it still refuses the
//! votes of a stray candidate while its leader is quiet, as the node it replaced did.
//!
//! ```text
//! quiet follower, node == storage ──► dormant (no RawNode)
//! any message but CheckStale / Sent ──► RawNode::new(storage) + become_follower(term, leader)
//! ```

use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;

use engine::{KvEngine, PeerStorage};
use raft::{RawNode, StateRole};
use tracing::{error, trace};

use super::PeerFsm;
use crate::error::{Error, Result};
use crate::message::PeerMsg;
use crate::poll::PollContext;

/// The peer's consensus node, absent while the peer is dormant.
///
/// Dereferencing a dormant node is a bug: [`PeerFsm::handle`] rebuilds it before handling any
/// message that reaches the core.
pub(super) struct RaftNode<E: KvEngine> {
    node: Option<Box<RawNode<PeerStorage<E>>>>,
    /// The leader and term the node followed when it was dropped.
    followed: (u64, u64),
}

impl<E: KvEngine> RaftNode<E> {
    pub(super) fn new(node: RawNode<PeerStorage<E>>) -> RaftNode<E> {
        RaftNode {
            node: Some(Box::new(node)),
            followed: (0, 0),
        }
    }

    pub(super) fn is_dormant(&self) -> bool {
        self.node.is_none()
    }
}

impl<E: KvEngine> Deref for RaftNode<E> {
    type Target = RawNode<PeerStorage<E>>;

    fn deref(&self) -> &Self::Target {
        self.node
            .as_deref()
            .expect("invariant: a dormant peer's node is rebuilt before any use (PeerFsm::handle)")
    }
}

impl<E: KvEngine> DerefMut for RaftNode<E> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.node
            .as_deref_mut()
            .expect("invariant: a dormant peer's node is rebuilt before any use (PeerFsm::handle)")
    }
}

/// Whether handling `msg` needs the consensus node. The stale-peer check and transport reports
/// do not (a follower sends no snapshot, and an unreachable peer means nothing to it).
pub(super) fn needs_node(msg: &PeerMsg) -> bool {
    !matches!(msg, PeerMsg::CheckStale | PeerMsg::Sent { .. })
}

impl<E: KvEngine> PeerFsm<E> {
    /// Drops the node of a quiet follower whose node holds nothing its storage does not.
    pub(super) fn maybe_go_dormant(&mut self, ctx: &PollContext<E>) {
        if !ctx.store.cfg.dormant_followers
            || self.raw.is_dormant()
            || !self.hibernation.is_quiet()
            || !self.can_go_dormant()
        {
            return;
        }
        self.raw.followed = (self.raw.raft.leader_id, self.raw.raft.term);
        self.raw.node = None;
        ctx.store
            .counts
            .dormant_peers
            .fetch_add(1, Ordering::Relaxed);
        trace!(region = self.region.id, "dormant");
    }

    fn can_go_dormant(&self) -> bool {
        let raft = &self.raw.raft;
        let log = &raft.raft_log;
        let stored = self.storage.raft_state();
        let hard_state = stored.hard_state();
        self.role == StateRole::Follower
            && raft.state == StateRole::Follower
            && raft.leader_id != 0
            && !self.raw.has_ready()
            && log.unstable.entries.is_empty()
            && log.unstable.snapshot.is_none()
            && log.last_index() == stored.last_index
            && (raft.term, raft.vote, log.committed)
                == (hard_state.term, hard_state.vote, hard_state.commit)
            && log.applied == log.committed
            && self.storage.apply_state().applied_index == log.applied
            && self.proposals.is_empty()
            && self.reads.is_empty()
    }

    /// Rebuilds the node of a dormant peer from its storage, following the leader it followed.
    pub(super) fn wake_node(&mut self, ctx: &PollContext<E>) -> Result<()> {
        let applied = self.storage.apply_state().applied_index;
        let mut cfg = ctx.store.cfg.raft_config(self.peer.id, applied);
        cfg.disable_proposal_forwarding = true;
        let mut node = RawNode::new(&cfg, self.storage.clone()).map_err(|err| {
            Error::Engine(format!(
                "region {}: cannot rebuild its raft node: {err}",
                self.region.id
            ))
        })?;
        let (leader, term) = self.raw.followed;
        if node.raft.term == term {
            node.raft.become_follower(term, leader);
        }
        self.raw.node = Some(Box::new(node));
        ctx.store
            .counts
            .dormant_peers
            .fetch_sub(1, Ordering::Relaxed);
        trace!(region = self.region.id, "node rebuilt");
        Ok(())
    }

    /// Handles `msgs` of a dormant peer that need no node; rebuilds the node first otherwise.
    /// Returns whether the messages were handled here.
    pub(super) fn handle_dormant(
        &mut self,
        msgs: &mut Vec<PeerMsg>,
        ctx: &mut PollContext<E>,
    ) -> bool {
        if msgs.iter().any(needs_node) {
            if let Err(err) = self.wake_node(ctx) {
                error!(%err, "messages dropped");
                msgs.clear();
                return true;
            }
            return false;
        }
        for msg in msgs.drain(..) {
            if let PeerMsg::CheckStale = msg {
                self.check_stale(ctx);
            }
        }
        true
    }

    /// The term of a dormant peer's node, from its storage.
    pub(super) fn dormant_term(&self) -> u64 {
        self.storage.raft_state().hard_state().term
    }
}
