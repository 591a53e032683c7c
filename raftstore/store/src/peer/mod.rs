//! [`PeerFsm`]: one replica of one region, owning its consensus node.
//!
//! The core runs with asynchronous storage writes, so handling a peer never blocks on disk:
//!
//! ```text
//! messages ──► RawNode ──ready()──┬─ MsgStorageAppend ─► WriteTask (store writer, one fsync
//!                                 │                       for many regions) ─► Persisted
//!                                 ├─ MsgStorageApply  ─► ApplyTask (apply pool) ─► Applied
//!                                 ├─ MsgApp, heartbeats… ─► transport, before the local write
//!                                 │                          is durable (thesis 10.2.1)
//!                                 └─ read states ─► pending reads, served once applied
//! ```
//!
//! Proposals wait in index order and travel with their committed entries to the apply side,
//! which answers them after the data is written; a proposal whose index now holds an entry of
//! another term was lost and is answered `StaleCommand`.

mod admin;
mod dormant;
mod hibernate;
pub mod lease;
mod log_gc;
pub mod pending;
pub(crate) mod read;
pub mod snapshot;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batch_system::Fsm;
use bytes::Bytes;
use engine::{CacheBudget, KvEngine, Peer, PeerStorage, Region, RegionEpoch, RegionId};
use prost::Message as _;
use raft::raftpb::Message;
use raft::{LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD, RawNode, StateRole};
use tracing::{debug, warn};

use crate::cmd::{CmdHeader, RaftCmd};
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::message::{
    AdminCommand, AdminRequest, ApplyMsg, ApplyResult, ApplyTask, Callback, PeerMsg, Proposal,
    RaftMessage, RegionRequest, Request,
};
use crate::poll::PollContext;
use crate::writer::WriteTask;
use lease::ReadDelegate;
use pending::{PendingProposals, PendingRead, PendingReads};

/// One replica of one region.
pub struct PeerFsm<E: KvEngine> {
    peer: Peer,
    /// Shared with the storage, the apply side, the read delegate and the store's meta.
    region: Arc<Region>,
    /// Absent while the peer is dormant (see [`dormant`]).
    raw: dormant::RaftNode<E>,
    storage: PeerStorage<E>,
    proposals: PendingProposals,
    reads: PendingReads,
    role: StateRole,
    leader_store: Option<u64>,
    /// Shared with callers' threads for lease reads.
    delegate: Arc<ReadDelegate>,
    /// Indexes of this term's proposals and when they were proposed: when one commits, a
    /// quorum heard the leader at that time, which renews the lease.
    lease_probes: VecDeque<(u64, Instant)>,
    /// Peers heard from that are not members of the region as this peer knows it (a peer
    /// created by a message, whose region lists no peers until its snapshot arrives, answers
    /// the senders through this). A handful at most, so a list.
    peer_cache: Vec<Peer>,
    /// Quiet (hibernating) or awake, and for how long it has been idle.
    hibernation: hibernate::Hibernation,
    /// The highest compaction point this leader proposed (log GC proposes each point once).
    gc_proposed: u64,
    stopped: bool,
}

impl<E: KvEngine> Fsm for PeerFsm<E> {
    type Message = PeerMsg;

    fn is_stopped(&self) -> bool {
        self.stopped
    }
}

impl<E: KvEngine> PeerFsm<E> {
    /// Opens the peer of `region_id` on store `store_id` from the engine's states.
    ///
    /// Returns an error if the region's states are missing or this store holds no peer of it.
    pub fn open(
        cfg: &StoreConfig,
        engine: E,
        region_id: RegionId,
        budget: Arc<CacheBudget>,
    ) -> Result<PeerFsm<E>> {
        let storage = PeerStorage::open(engine, region_id, budget)?;
        let region = storage.region();
        let peer = region
            .peers
            .iter()
            .find(|p| p.store_id == cfg.store_id)
            .cloned()
            .ok_or(Error::RegionNotFound {
                region_id: region_id.0,
                store_id: cfg.store_id,
            })?;
        PeerFsm::assemble(cfg, storage, peer, region)
    }

    /// Creates the peer `peer` of `region_id` on this store, with no data: it exists to receive
    /// a snapshot from its leader (a membership change added it here).
    ///
    /// Its states are written as `Applying` (waiting for a snapshot): recovery skips such a
    /// region, and the leader's next message creates the peer again.
    pub fn create(
        cfg: &StoreConfig,
        engine: E,
        region: Region,
        peer: Peer,
        budget: Arc<CacheBudget>,
    ) -> Result<PeerFsm<E>> {
        let region_id = RegionId(region.id);
        let mut batch = engine.write_batch();
        engine::ApplyBatch::put_region_state(
            &mut batch,
            region_id,
            &engine::RegionLocalState::new(engine::PeerState::Applying, region),
        );
        engine::ApplyBatch::put_apply_state(&mut batch, region_id, &engine::ApplyState::default());
        engine::RaftLogBatch::put_raft_state(
            &mut batch,
            region_id,
            &engine::RaftLocalState::default(),
        );
        engine.write(&mut batch, true)?;
        let storage = PeerStorage::open(engine, region_id, budget)?;
        let region = storage.region();
        PeerFsm::assemble(cfg, storage, peer, region)
    }

    /// The peer over opened `storage`: its consensus node restarts from the storage's states
    /// (proposals are never forwarded: a client retries at the leader instead, so a proposal's
    /// fate is always known to the peer that took it).
    fn assemble(
        cfg: &StoreConfig,
        storage: PeerStorage<E>,
        peer: Peer,
        region: Arc<Region>,
    ) -> Result<PeerFsm<E>> {
        let applied = storage.apply_state().applied_index;
        let mut raft_cfg = cfg.raft_config(peer.id, applied);
        raft_cfg.disable_proposal_forwarding = true;
        let raw = RawNode::new(&raft_cfg, storage.clone()).map_err(|err| {
            Error::Engine(format!(
                "region {}: cannot start its raft node: {err}",
                region.id
            ))
        })?;
        Ok(PeerFsm {
            peer,
            region: Arc::clone(&region),
            raw: dormant::RaftNode::new(raw),
            storage,
            proposals: PendingProposals::default(),
            reads: PendingReads::default(),
            role: StateRole::Follower,
            leader_store: None,
            delegate: Arc::new(ReadDelegate::new(region)),
            lease_probes: VecDeque::new(),
            peer_cache: Vec::new(),
            hibernation: hibernate::Hibernation::default(),
            gc_proposed: 0,
            stopped: false,
        })
    }

    /// The region as this peer knows it.
    pub fn region(&self) -> &Arc<Region> {
        &self.region
    }

    /// The region's id.
    pub fn region_id(&self) -> u64 {
        self.region.id
    }

    /// This peer.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// The peer's read delegate, for lease reads on callers' threads.
    pub fn delegate(&self) -> &Arc<ReadDelegate> {
        &self.delegate
    }

    /// The peer's storage (shared with its apply side at creation).
    pub fn storage(&self) -> &PeerStorage<E> {
        &self.storage
    }

    /// Handles a batch of messages, then whatever the core has ready.
    pub fn handle(&mut self, msgs: &mut Vec<PeerMsg>, ctx: &mut PollContext<E>) {
        if self.raw.is_dormant() && self.handle_dormant(msgs, ctx) {
            return;
        }
        for msg in msgs.drain(..) {
            if self.hibernation.is_quiet() && hibernate::wakes(&msg, self.role) {
                self.wake(ctx);
            }
            match msg {
                PeerMsg::Raft(msg) => self.on_raft_message(*msg, ctx),
                PeerMsg::Persisted(responses) => {
                    let installed = responses.iter().any(|m| m.snapshot.is_some());
                    for m in responses {
                        self.step_local(m);
                    }
                    if installed {
                        self.on_snapshot_installed(ctx);
                    }
                }
                PeerMsg::Applied(result) => self.on_applied(*result, ctx),
                PeerMsg::Request(request) => self.on_request(*request, ctx.now),
                PeerMsg::Admin(admin) => {
                    let AdminCommand {
                        request,
                        header,
                        callback,
                    } = *admin;
                    self.on_admin(request, header, callback, ctx);
                }
                PeerMsg::Tick => self.on_tick(ctx),
                PeerMsg::Campaign => {
                    let _ = self.raw.campaign();
                }
                PeerMsg::Wake => {}
                PeerMsg::CheckStale => self.check_stale(ctx),
                PeerMsg::Sent {
                    to,
                    snapshot,
                    delivered,
                } => self.on_sent(to, snapshot, delivered),
            }
            if self.stopped {
                // Destroyed (removed from its region): nothing more of it may reach the
                // store's meta, the writers or the transport. The rest of the batch is dropped
                // with the drain.
                return;
            }
        }
        self.handle_ready(ctx);
        if self.storage.snapshot_requested() {
            self.generate_snapshot(ctx);
        }
        self.finish_going_quiet(ctx);
        if self.hibernation.is_quiet() {
            // A quiet region needs no entry cache. Released on every handling of a quiet peer,
            // not only when it goes quiet: a follower may go quiet with its last append still
            // at the writer, which fills the cache afterwards, and hears of that write here.
            self.storage.release_cache();
            self.maybe_go_dormant(ctx);
        }
    }

    /// Has the snapshot the core asked for built (see [`crate::snapshot_pool`]); the core sends
    /// it on its next try.
    fn generate_snapshot(&mut self, ctx: &PollContext<E>) {
        ctx.store
            .snapshots
            .request(&ctx.store.engine, &self.storage);
    }

    /// Asks a member of the region whether this peer still belongs to it: a follower removed
    /// while its store was cut off, whose removal notices were lost, would otherwise keep its
    /// data and memory for ever once quiet (nobody sends to a removed peer). A member of a
    /// newer configuration without this peer answers with a tombstone (see
    /// `on_raft_message`); a member that still lists it ignores the question without waking.
    /// The store asks every region once per `stale_peer_check_interval`, spread over its ticks.
    fn check_stale(&mut self, ctx: &mut PollContext<E>) {
        if self.role == StateRole::Leader {
            return;
        }
        let others = || self.region.peers.iter().filter(|p| p.id != self.peer.id);
        let Some(to) = others()
            .find(|p| Some(p.store_id) == self.leader_store)
            .or_else(|| others().next())
            .cloned()
        else {
            return;
        };
        ctx.outbox.push(RaftMessage {
            region_id: self.region.id,
            from_peer: Some(self.peer.clone()),
            to_peer: Some(to),
            epoch: self.region.epoch,
            stale_check: true,
            ..RaftMessage::default()
        });
    }

    /// Tells the core what became of a message it sent. A snapshot handed to the transport is
    /// reported finished: the follower answers once it installed it, and if it dropped it
    /// (corrupt, or lost on the way) the leader's next probe after a heartbeat finds the
    /// follower still behind and sends another. Without a report the follower's progress would
    /// wait for that snapshot forever.
    fn on_sent(&mut self, to: u64, snapshot: bool, delivered: bool) {
        if !delivered {
            self.raw.report_unreachable(to);
        }
        if snapshot {
            let status = if delivered {
                raft::SnapshotStatus::Finish
            } else {
                raft::SnapshotStatus::Failure
            };
            self.raw.report_snapshot(to, status);
        }
    }

    /// The writer installed a snapshot: the region, its apply state and the apply side follow.
    fn on_snapshot_installed(&mut self, ctx: &mut PollContext<E>) {
        let region = self.storage.region();
        let state = self.storage.apply_state();
        self.delegate.set_applied(state.applied_index);
        self.set_region(region.clone(), ctx);
        ctx.apply_tasks
            .push((self.region.id, ApplyMsg::Reset(Box::new((region, state)))));
    }

    fn step_local(&mut self, m: Message) {
        if let Err(err) = self.raw.step(m) {
            debug!(region = self.region.id, %err, "local storage response refused");
        }
    }

    fn on_raft_message(&mut self, msg: RaftMessage, ctx: &mut PollContext<E>) {
        if msg.to_peer.as_ref().is_none_or(|p| p.id != self.peer.id) {
            debug!(
                region = self.region.id,
                "message for another peer id dropped"
            );
            return;
        }
        let their_conf_ver = msg.epoch.unwrap_or_default().conf_ver;
        let our_conf_ver = self.region.epoch.unwrap_or_default().conf_ver;
        if msg.is_tombstone {
            if their_conf_ver > our_conf_ver {
                self.destroy(msg.epoch, ctx);
            }
            return;
        }
        if msg.quiet {
            self.on_quiet_notice(&msg, ctx);
            return;
        }
        if let Some(from) = msg.from_peer {
            let member = self.region.peers.iter().any(|p| p.id == from.id);
            if !member && !self.region.peers.is_empty() && their_conf_ver < our_conf_ver {
                // A peer removed in a configuration it never learned of: tell it.
                ctx.outbox.push(self.tombstone_for(from));
                return;
            }
            if !member {
                // Members are found in the region; only strangers (a peer added by a
                // configuration this one has not applied yet) need remembering to be answered.
                if !self.peer_cache.iter().any(|p| p.id == from.id) {
                    self.peer_cache.push(from);
                }
            }
        }
        let Some(m) = msg.message else {
            return;
        };
        if let Err(err) = self.raw.step(m) {
            debug!(region = self.region.id, %err, "raft message refused");
        }
    }

    fn on_tick(&mut self, ctx: &mut PollContext<E>) {
        ctx.store.ticking.tick_handled(self.region.id);
        if self.hibernation.is_quiet() {
            return;
        }
        self.raw.tick();
        self.maybe_compact_log(ctx);
        self.count_idle_tick(ctx);
        let now = ctx.now;
        for proposal in self.proposals.take_expired(now) {
            proposal.callback.done(Err(Error::Timeout));
        }
        for read in self.reads.take_expired(now) {
            read.callback.done(Err(Error::Timeout));
        }
    }

    /// The error for a request sent to a peer that is not the leader.
    fn not_leader(&self) -> Error {
        Error::NotLeader {
            region_id: self.region.id,
            leader: self.leader_store,
        }
    }

    /// Checks a request's epoch and keys against the region.
    fn check_request(&self, header: &CmdHeader, request: &Request) -> Result<()> {
        let current = self.region.epoch.unwrap_or_default();
        let asked = header.epoch.unwrap_or_default();
        if asked.version != current.version {
            return Err(Error::EpochNotMatch {
                region_id: self.region.id,
                request: asked,
                current: Box::new(Region::clone(&self.region)),
            });
        }
        read::check_keys(&self.region, request)
    }

    fn on_request(&mut self, req: RegionRequest, now: Instant) {
        if self.role != StateRole::Leader {
            req.callback.done(Err(self.not_leader()));
            return;
        }
        if let Err(err) = self.check_request(&req.header, &req.request) {
            req.callback.done(Err(err));
            return;
        }
        match req.request {
            Request::Write(mutations) => {
                let cmd = RaftCmd {
                    header: Some(req.header),
                    mutations,
                    admin: None,
                };
                if self.propose(cmd.encode_to_vec().into(), req.callback, req.deadline) {
                    self.lease_probes
                        .push_back((self.raw.raft.raft_log.last_index(), now));
                }
            }
            request @ (Request::Get(_) | Request::Scan { .. }) => {
                metrics::counter!("flotilla_read_index_reads").increment(1);
                let id = self.reads.next_id();
                match self
                    .raw
                    .read_index(Bytes::copy_from_slice(&id.to_be_bytes()))
                {
                    Ok(()) => self.reads.push(PendingRead {
                        id,
                        request,
                        deadline: req.deadline,
                        asked_at: now,
                        callback: req.callback,
                        read_index: None,
                    }),
                    Err(err) => req.callback.done(Err(self.refusal(&err))),
                }
            }
        }
    }

    /// Proposes `data`; the callback is answered when the entry is applied (or lost). Returns
    /// whether the core took it (else the callback was answered with the refusal).
    fn propose(&mut self, data: Bytes, callback: Callback, deadline: Instant) -> bool {
        metrics::counter!("flotilla_proposals").increment(1);
        match self.raw.propose(data) {
            Ok(()) => {
                let proposal = Proposal {
                    index: self.raw.raft.raft_log.last_index(),
                    term: self.raw.raft.term,
                    callback,
                };
                self.proposals.push(proposal, deadline);
                true
            }
            Err(err) => {
                callback.done(Err(self.refusal(&err)));
                false
            }
        }
    }

    /// Translates the core's refusal of a proposal or read.
    fn refusal(&self, err: &raft::Error) -> Error {
        match err {
            raft::Error::ProposalDropped { reason } => match reason {
                raft::DropReason::UncommittedSizeExceeded => Error::ServerIsBusy {
                    reason: format!("region {}: too much uncommitted data", self.region.id),
                },
                _ => self.not_leader(),
            },
            other => Error::ServerIsBusy {
                reason: format!("region {}: {other}", self.region.id),
            },
        }
    }

    fn on_admin(
        &mut self,
        request: AdminRequest,
        header: CmdHeader,
        callback: Callback,
        ctx: &mut PollContext<E>,
    ) {
        admin::handle(self, request, header, callback, ctx);
    }

    fn on_applied(&mut self, result: ApplyResult, ctx: &mut PollContext<E>) {
        self.storage.set_applied_index(result.applied_index);
        self.delegate.set_applied(result.applied_index);
        if let Some((index, term)) = result.compacted_to {
            self.storage.on_compacted(index, term);
        }
        for cc in &result.conf_changes {
            if let Err(err) = self.raw.apply_conf_change(cc) {
                warn!(region = self.region.id, %err, "conf change refused by the core");
            }
        }
        if let Some(region) = result.region {
            self.set_region(region, ctx);
        }
        for m in result.responses {
            self.step_local(m);
        }
        self.serve_reads(ctx);
    }

    /// The message telling `removed` that it left the region.
    fn tombstone_for(&self, removed: Peer) -> RaftMessage {
        RaftMessage {
            region_id: self.region.id,
            from_peer: Some(self.peer.clone()),
            to_peer: Some(removed),
            epoch: self.region.epoch,
            is_tombstone: true,
            ..RaftMessage::default()
        }
    }

    fn set_region(&mut self, region: Arc<Region>, ctx: &mut PollContext<E>) {
        // Peers removed by this change may never hear of it (a leader stops replicating to
        // them at once): every replica that applies the removal tells them.
        for old in &self.region.peers {
            if old.id != self.peer.id && !region.peers.iter().any(|p| p.id == old.id) {
                let mut msg = self.tombstone_for(old.clone());
                msg.epoch = region.epoch;
                ctx.outbox.push(msg);
            }
        }
        let me = region.peers.iter().find(|p| p.id == self.peer.id).cloned();
        self.storage.set_region(Arc::clone(&region));
        self.delegate.set_region(Arc::clone(&region));
        self.region = region;
        match me {
            Some(me) => {
                self.peer = me;
                ctx.store.meta.update(&self.region, self.leader_store);
                ctx.store
                    .meta
                    .set_delegate(self.region.id, Arc::clone(&self.delegate));
            }
            None if !self.region.peers.is_empty() => self.destroy(None, ctx),
            None => {}
        }
    }

    /// This peer was removed from its region: leave a tombstone (so late messages cannot
    /// recreate it), drop its log and data, answer what waits, and stop.
    fn destroy(&mut self, removed_in: Option<RegionEpoch>, ctx: &mut PollContext<E>) {
        let region_id = self.region.id;
        // The tombstone records the configuration that removed this peer, not the older one it
        // knew (when told by a notice): a leader's message of any configuration up to that one,
        // still in flight, must not create the peer again (it would wait for a snapshot that
        // never comes).
        let mut tombstone = Region::clone(&self.region);
        if let Some(epoch) = removed_in
            && epoch.conf_ver > tombstone.epoch.unwrap_or_default().conf_ver
        {
            tombstone.epoch = Some(epoch);
        }
        let engine = &ctx.store.engine;
        let mut batch = engine.write_batch();
        engine::ApplyBatch::put_region_state(
            &mut batch,
            RegionId(region_id),
            &engine::RegionLocalState::new(engine::PeerState::Tombstone, tombstone),
        );
        engine::RaftLogBatch::clear_raft(&mut batch, RegionId(region_id));
        engine::ApplyBatch::delete_data_range(
            &mut batch,
            &self.region.start_key,
            &self.region.end_key,
        );
        if let Err(err) = engine.write(&mut batch, true) {
            warn!(region = region_id, %err, "tombstone write failed");
        }
        ctx.store.meta.remove(region_id);
        ctx.store.ticking.remove(region_id);
        ctx.store.apply_router.close(region_id);
        ctx.store.raft_router.close(region_id);
        self.delegate.on_not_leader();
        self.stop(ctx.store.cfg.store_id);
        debug!(region = region_id, "peer destroyed after its removal");
    }

    fn serve_reads(&mut self, ctx: &PollContext<E>) {
        let applied = self.storage.apply_state().applied_index;
        let ready = self.reads.take_ready(applied);
        if ready.is_empty() {
            return;
        }
        let snapshot = ctx.store.engine.snapshot();
        for read in ready {
            let result = read::execute(&snapshot, &self.region, &read.request);
            read.callback.done(result);
        }
    }

    fn handle_ready(&mut self, ctx: &mut PollContext<E>) {
        if !self.raw.has_ready() {
            return;
        }
        let rd = self.raw.ready();
        if let Some(ss) = rd.soft_state {
            self.on_role_change(ss.raft_state, ss.leader_id, ctx);
        }
        for rs in rd.read_states {
            if let Ok(bytes) = <[u8; 8]>::try_from(&rs.request_ctx[..])
                && let Some(asked_at) = self.reads.confirm(u64::from_be_bytes(bytes), rs.index)
            {
                self.delegate
                    .renew(asked_at + ctx.store.cfg.lease_duration());
            }
        }
        if let Some(hs) = rd.hard_state {
            self.renew_lease_on_commit(hs.commit, ctx.store.cfg.lease_duration());
        }
        if self.raw.raft.lead_transferee != 0 {
            self.delegate.suspend_for_term();
        }
        for m in rd.messages {
            match m.to {
                LOCAL_APPEND_THREAD => self.submit_append(m, ctx),
                LOCAL_APPLY_THREAD => self.submit_apply(m, ctx),
                _ => {
                    if let Some(msg) = self.wrap(m) {
                        ctx.outbox.push(msg);
                    }
                }
            }
        }
        self.serve_reads(ctx);
    }

    /// A quorum acknowledged the entries up to `commit`: the latest of this term's proposals
    /// among them proves leadership when it was proposed.
    fn renew_lease_on_commit(&mut self, commit: u64, lease: Duration) {
        let mut proposed_at = None;
        while let Some(&(index, at)) = self.lease_probes.front() {
            if index > commit {
                break;
            }
            proposed_at = Some(at);
            self.lease_probes.pop_front();
        }
        if let Some(at) = proposed_at {
            self.delegate.renew(at + lease);
        }
    }

    /// The index of the first entry of the current term (the leader's empty entry).
    fn term_start_index(&self) -> u64 {
        let log = &self.raw.raft.raft_log;
        let term = self.raw.raft.term;
        let mut index = log.last_index();
        while index > 0 && log.term(index - 1).is_ok_and(|t| t == term) {
            index -= 1;
        }
        index
    }

    fn on_role_change(&mut self, role: StateRole, leader_id: u64, ctx: &PollContext<E>) {
        let was_leader = self.role == StateRole::Leader;
        self.role = role;
        self.lease_probes.clear();
        if role == StateRole::Leader {
            metrics::counter!("flotilla_leaders_elected").increment(1);
            self.delegate.on_leader(self.term_start_index());
        } else {
            self.delegate.on_not_leader();
        }
        self.leader_store = self
            .region
            .peers
            .iter()
            .find(|p| p.id == leader_id)
            .map(|p| p.store_id);
        ctx.store.meta.update(&self.region, self.leader_store);
        if was_leader && role != StateRole::Leader {
            // Reads not yet confirmed never will be by this peer; nothing happened for them, so
            // the caller may retry elsewhere. Proposals stay: they may still commit.
            let err = self.not_leader();
            for read in self.reads.take_unconfirmed() {
                read.callback.done(Err(err.clone()));
            }
        }
        debug!(region = self.region.id, ?role, leader_id, "role changed");
    }

    fn submit_append(&mut self, mut m: Message, ctx: &mut PollContext<E>) {
        let hard_state = (m.term > 0).then_some(raft::raftpb::HardState {
            term: m.term,
            vote: m.vote,
            commit: m.commit,
        });
        let mut local = Vec::new();
        let mut remote = Vec::new();
        for r in std::mem::take(&mut m.responses) {
            if r.to == self.peer.id {
                local.push(r);
            } else if let Some(msg) = self.wrap(r) {
                remote.push(msg);
            }
        }
        ctx.write_tasks.push(WriteTask {
            storage: self.storage.clone(),
            entries: std::mem::take(&mut m.entries),
            hard_state,
            snapshot: m.snapshot.take().map(|s| *s),
            local,
            remote,
        });
    }

    fn submit_apply(&mut self, mut m: Message, ctx: &mut PollContext<E>) {
        let last = m.entries.last().map_or(0, |e| e.index);
        let task = ApplyTask {
            entries: std::mem::take(&mut m.entries),
            proposals: self.proposals.take_up_to(last),
            responses: std::mem::take(&mut m.responses),
        };
        ctx.apply_tasks
            .push((self.region.id, ApplyMsg::Apply(Box::new(task))));
    }

    /// Wraps a message for another peer with what its store needs to route it.
    fn wrap(&self, m: Message) -> Option<RaftMessage> {
        let to = self
            .region
            .peers
            .iter()
            .find(|p| p.id == m.to)
            .or_else(|| self.peer_cache.iter().find(|p| p.id == m.to))?;
        Some(RaftMessage {
            region_id: self.region.id,
            from_peer: Some(self.peer.clone()),
            to_peer: Some(to.clone()),
            epoch: self.region.epoch,
            message: Some(m),
            start_key: self.region.start_key.clone(),
            end_key: self.region.end_key.clone(),
            ..RaftMessage::default()
        })
    }

    /// Answers every waiting request (the store is stopping).
    pub fn stop(&mut self, store_id: u64) {
        self.stopped = true;
        // A proposal may still commit through the other replicas: its outcome is unknown.
        for proposal in self.proposals.take_all() {
            proposal.callback.done(Err(Error::OutcomeUnknown {
                region_id: self.region.id,
                reason: "the store stopped",
            }));
        }
        for read in self.reads.take_all() {
            read.callback.done(Err(Error::StoreStopped { store_id }));
        }
    }

    /// Whether the peer leads its region.
    pub fn is_leader(&self) -> bool {
        self.role == StateRole::Leader
    }

    /// The peer's current term (for status, and the simulator's one-leader-per-term check).
    pub fn term(&self) -> u64 {
        if self.raw.is_dormant() {
            return self.dormant_term();
        }
        self.raw.raft.term
    }
}
