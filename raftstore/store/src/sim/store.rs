//! One simulated store: the real peers, apply side and store writer of a store, driven one step
//! at a time on one thread, with the queues between them made explicit.
//!
//! ```text
//! mailboxes ──raft round──► PeerFsm::handle ──► write queue ──writer round──► Persisted ─┐
//!     ▲                                     ├──► apply queue ──apply round──► Applied ───┤
//!     │                                     └──► network                                 │
//!     └──────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Each queue is first in, first out, as the channels of the threaded store are, so a region's
//! writes, applies and responses keep their order; a round takes a random prefix of its queue,
//! which models a writer or apply poller that started before the rest arrived.
//!
//! A crash drops everything in memory (peers, queues, callbacks: their clients see the
//! receivers cancelled) and crashes the engine, which forgets what no synced write covered,
//! possibly keeping a prefix of the unsynced batches. A restart rebuilds the peers from the
//! engine, as a real store's recovery does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use batch_system::{BatchSystem, Config as BatchConfig};
use engine::{CacheBudget, KvEngine, KvReader, MemEngine, PeerState, RegionId, recover_regions};
use rand::RngExt;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::apply::{ApplyControl, ApplyFsm, ApplyRound};
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::message::{ApplyMsg, PeerMsg, RaftMessage, RegionRequest, SentReport};
use crate::meta::StoreMeta;
use crate::peer::PeerFsm;
use crate::peer::read::try_local_read;
use crate::poll::{PollContext, StoreContext};
use crate::snapshot_pool::SnapshotBuilder;
use crate::store_fsm::StoreFsm;
use crate::transport::{Transport, TransportError};
use crate::writer::{WriteTask, WriterHandle, write_tasks};

/// User key-value pairs, in key order.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// A transport that refuses everything: simulated peers never flush their context, the
/// simulator takes their outbox itself.
struct NoTransport;

impl Transport for NoTransport {
    fn send(&self, msg: RaftMessage) -> std::result::Result<(), TransportError> {
        Err(TransportError::Unreachable(msg.to_store()))
    }
}

/// A simulated store, running or crashed.
pub struct SimStore {
    /// The store's id.
    pub id: u64,
    cfg: Arc<StoreConfig>,
    engine: MemEngine,
    /// What lives in memory; `None` while the store is down.
    running: Option<Running>,
    /// When the store's clock ticks next.
    pub next_tick_us: u64,
    /// When a crashed store comes back.
    pub restart_at_us: u64,
    /// Reads served under a lease, without the peer.
    pub local_reads: u64,
    /// Until when the store's pollers and writer are stuck (a long pause of its threads); its
    /// clock still ticks and callers' threads still serve lease reads.
    pub paused_until_us: u64,
}

/// The in-memory state of a running store.
struct Running {
    peers: BTreeMap<u64, PeerFsm<MemEngine>>,
    applies: BTreeMap<u64, ApplyFsm<MemEngine>>,
    /// Each peer's mailbox. Unbounded: the simulator's delivery weights keep it short, and the
    /// real store's bound only refuses client requests, which the simulator does not test.
    mailboxes: BTreeMap<u64, Vec<PeerMsg>>,
    /// Raft-log writes waiting for the store writer, in the order the peers made them.
    write_queue: VecDeque<WriteTask<MemEngine>>,
    /// Committed entries waiting for the apply side, in the order the peers made them.
    apply_queue: VecDeque<(u64, ApplyMsg)>,
    ctx: PollContext<MemEngine>,
    apply_round: ApplyRound<MemEngine>,
    write_batch: <MemEngine as KvEngine>::WriteBatch,
    meta: Arc<StoreMeta>,
    /// Set if a write fails; the mem engine has no injected faults here, so it never is.
    failed: AtomicBool,
}

impl SimStore {
    /// Store `id` on `engine` (bootstrapped already), started.
    pub fn start(id: u64, cfg: Arc<StoreConfig>, engine: MemEngine, now: Instant) -> SimStore {
        let mut store = SimStore {
            id,
            cfg,
            engine,
            running: None,
            next_tick_us: 0,
            restart_at_us: 0,
            local_reads: 0,
            paused_until_us: 0,
        };
        store.restart(now);
        store
    }

    /// Whether the store runs.
    pub fn is_up(&self) -> bool {
        self.running.is_some()
    }

    /// Crashes the store: memory is gone, and the engine keeps what was synced plus the first
    /// `unsynced_kept` unsynced batches (a prefix of the write-ahead log that reached the disk).
    pub fn crash(&mut self, unsynced_kept: usize) {
        self.running = None;
        self.engine = self.engine.crash_clone_keeping(unsynced_kept);
    }

    /// The number of unsynced batches a crash now could lose.
    pub fn unsynced_batches(&self) -> usize {
        self.engine.unsynced_batches()
    }

    /// Starts the store on its engine: every region is recovered from disk.
    ///
    /// # Panics
    ///
    /// If recovery fails: the engine only ever holds what the store wrote, so that is a bug.
    pub fn restart(&mut self, now: Instant) {
        let budget = CacheBudget::new(self.cfg.entry_cache_bytes);
        let meta = Arc::new(StoreMeta::default());
        let mut peers = BTreeMap::new();
        let mut applies = BTreeMap::new();
        let regions = recover_regions(&self.engine).expect("invariant: recovery of a mem engine");
        for local in regions {
            if local.peer_state() != PeerState::Normal {
                continue;
            }
            let peer = PeerFsm::open(
                &self.cfg,
                self.engine.clone(),
                local.region_id,
                Arc::clone(&budget),
            )
            .expect("invariant: a recovered region opens");
            let apply = ApplyFsm::for_peer(&peer);
            meta.update(peer.region(), None);
            meta.set_delegate(peer.region_id(), Arc::clone(peer.delegate()));
            applies.insert(peer.region_id(), apply);
            peers.insert(peer.region_id(), peer);
        }
        let mut ctx = PollContext::new(self.store_context(&budget, &meta));
        ctx.now = now;
        self.running = Some(Running {
            mailboxes: peers.keys().map(|&id| (id, Vec::new())).collect(),
            peers,
            applies,
            write_queue: VecDeque::new(),
            apply_queue: VecDeque::new(),
            ctx,
            apply_round: ApplyRound::new(self.engine.clone()),
            write_batch: self.engine.write_batch(),
            meta,
            failed: AtomicBool::new(false),
        });
    }

    /// The context the peers see. Its routers and writers are never used: the simulator takes
    /// the peers' work from the context after each round instead of flushing it.
    fn store_context(
        &self,
        budget: &Arc<CacheBudget>,
        meta: &Arc<StoreMeta>,
    ) -> StoreContext<MemEngine> {
        let batch_cfg = BatchConfig {
            pool_size: 1,
            max_batch_size: 1,
            messages_per_tick: 1,
            mailbox_capacity: 1,
            thread_name: format!("sim-{}", self.id),
        };
        let (raft_router, _) =
            BatchSystem::new(batch_cfg.clone(), Box::new(StoreFsm::new(self.id)))
                .expect("invariant: the batch config is valid");
        let (apply_router, _) = BatchSystem::new(batch_cfg, Box::new(ApplyControl))
            .expect("invariant: the batch config is valid");
        StoreContext {
            cfg: Arc::clone(&self.cfg),
            engine: self.engine.clone(),
            transport: Arc::new(NoTransport),
            apply_router,
            raft_router,
            meta: Arc::clone(meta),
            cache_budget: Arc::clone(budget),
            writers: WriterHandle::detached(),
            ticking: Arc::default(),
            dead_stores: Arc::default(),
            snapshots: SnapshotBuilder::Inline,
            counts: Arc::default(),
        }
    }

    /// Puts `msg` in the mailbox of region `region_id`'s peer; returns it if the store is down
    /// or has no such peer.
    pub fn deliver(&mut self, region_id: u64, msg: PeerMsg) -> Option<PeerMsg> {
        let Some(running) = self.running.as_mut() else {
            return Some(msg);
        };
        match running.mailboxes.get_mut(&region_id) {
            Some(mailbox) => {
                mailbox.push(msg);
                None
            }
            None => Some(msg),
        }
    }

    /// Takes a client request: a read may be served at once under a lease valid at `now`;
    /// anything else goes to the peer's mailbox.
    pub fn request(&mut self, request: RegionRequest, now: Instant) {
        let Some(running) = self.running.as_mut() else {
            request
                .callback
                .done(Err(Error::StoreStopped { store_id: self.id }));
            return;
        };
        let Some(request) = try_local_read(&running.meta, &self.engine, request, now) else {
            self.local_reads += 1;
            return;
        };
        let region_id = request.header.region_id;
        match running.mailboxes.get_mut(&region_id) {
            Some(mailbox) => mailbox.push(PeerMsg::Request(Box::new(request))),
            None => request.callback.done(Err(Error::RegionNotFound {
                region_id,
                store_id: self.id,
            })),
        }
    }

    /// The clock ticked: every peer gets a tick.
    pub fn tick(&mut self) {
        if let Some(running) = self.running.as_mut() {
            for mailbox in running.mailboxes.values_mut() {
                mailbox.push(PeerMsg::Tick);
            }
        }
    }

    /// Whether a raft round has work: some mailbox holds a message.
    pub fn has_mail(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| r.mailboxes.values().any(|m| !m.is_empty()))
    }

    /// Whether a writer round has work.
    pub fn has_writes(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| !r.write_queue.is_empty())
    }

    /// Whether an apply round has work.
    pub fn has_applies(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|r| !r.apply_queue.is_empty())
    }

    /// Runs one raft round at `now`: every peer with mail handles it, as a poller's batch does.
    /// Returns how many messages the peers handled, and the messages for other stores.
    pub fn raft_round(&mut self, now: Instant) -> (usize, Vec<RaftMessage>) {
        let Some(running) = self.running.as_mut() else {
            return (0, Vec::new());
        };
        running.ctx.now = now;
        let mut handled = 0;
        for (region_id, mailbox) in &mut running.mailboxes {
            if mailbox.is_empty() {
                continue;
            }
            handled += mailbox.len();
            let peer = running
                .peers
                .get_mut(region_id)
                .expect("invariant: every mailbox belongs to a peer");
            peer.handle(mailbox, &mut running.ctx);
        }
        let ctx = &mut running.ctx;
        running.write_queue.extend(ctx.write_tasks.drain(..));
        running.apply_queue.extend(ctx.apply_tasks.drain(..));
        let outbox: Vec<RaftMessage> = ctx.outbox.drain(..).collect();
        // The simulated network takes every message (and may lose it later), as a transport
        // that accepted a snapshot reports it sent.
        for report in outbox.iter().filter_map(SentReport::of) {
            if let (Some(sent), Some(mailbox)) = (
                report.into_msg(true),
                running.mailboxes.get_mut(&report.region_id),
            ) {
                mailbox.push(sent);
            }
        }
        (handled, outbox)
    }

    /// Runs one store-writer round on a random prefix of the write queue, with an fsync; the
    /// local responses go to the mailboxes. Returns how many tasks were written, and the
    /// acknowledgements for other stores.
    ///
    /// # Panics
    ///
    /// If the write fails: the simulator injects no engine faults.
    pub fn writer_round(&mut self, rng: &mut Xoshiro256PlusPlus) -> (usize, Vec<RaftMessage>) {
        let Some(running) = self.running.as_mut() else {
            return (0, Vec::new());
        };
        if running.write_queue.is_empty() {
            return (0, Vec::new());
        }
        let count = rng.random_range(1..=running.write_queue.len());
        let tasks: Vec<_> = running.write_queue.drain(..count).collect();
        let released = write_tasks(&self.engine, &mut running.write_batch, true, tasks)
            .expect("invariant: the simulator injects no engine faults");
        let mut remote = Vec::new();
        for task in released {
            remote.extend(task.remote);
            if !task.local.is_empty() {
                running
                    .mailboxes
                    .get_mut(&task.region_id)
                    .expect("invariant: a write task comes from a peer of this store")
                    .push(PeerMsg::Persisted(task.local));
            }
        }
        (count, remote)
    }

    /// Runs one apply round on a random prefix of the apply queue; each region's result goes to
    /// its peer's mailbox. Returns how many tasks were applied.
    pub fn apply_round(&mut self, rng: &mut Xoshiro256PlusPlus) -> usize {
        let Some(running) = self.running.as_mut() else {
            return 0;
        };
        if running.apply_queue.is_empty() {
            return 0;
        }
        let count = rng.random_range(1..=running.apply_queue.len());
        for (region_id, msg) in running.apply_queue.drain(..count) {
            let fsm = running
                .applies
                .get_mut(&region_id)
                .expect("invariant: an apply task comes from a peer of this store");
            running.apply_round.apply(fsm, msg);
        }
        for (region_id, result) in running.apply_round.finish(&running.failed) {
            running
                .mailboxes
                .get_mut(&region_id)
                .expect("invariant: an applied region has a peer")
                .push(PeerMsg::Applied(Box::new(result)));
        }
        count
    }

    /// The peers of the running store.
    pub fn peers(&self) -> impl Iterator<Item = &PeerFsm<MemEngine>> {
        self.running.iter().flat_map(|r| r.peers.values())
    }

    /// The peer of `region_id`, if the store runs.
    pub fn peer(&self, region_id: u64) -> Option<&PeerFsm<MemEngine>> {
        self.running.as_ref()?.peers.get(&region_id)
    }

    /// The region's applied index and user data on this store, read from one engine snapshot
    /// (the peer's own applied index lags the engine until its `Applied` message is handled).
    ///
    /// # Errors
    ///
    /// If the store is down or has no peer of the region.
    pub fn region_data(&self, region_id: u64) -> Result<(u64, Pairs)> {
        let peer = self.peer(region_id).ok_or(Error::RegionNotFound {
            region_id,
            store_id: self.id,
        })?;
        let region = peer.region();
        let snapshot = self.engine.snapshot();
        let applied = snapshot
            .apply_state(RegionId(region_id))?
            .map_or(0, |state| state.applied_index);
        let mut pairs = Vec::new();
        snapshot.scan_data(&region.start_key, &region.end_key, &mut |k, v| {
            pairs.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok((applied, pairs))
    }

    /// The region's raft log on this store up to `last`, one `index:term:command` per entry,
    /// for a divergence report.
    pub fn log_summary(&self, region_id: u64, last: u64) -> String {
        use std::fmt::Write as _;

        use prost::Message as _;
        use raft::Storage as _;
        let Some(peer) = self.peer(region_id) else {
            return "down".into();
        };
        let storage = peer.storage();
        let first = storage.first_index().unwrap_or(1);
        let Ok(entries) = storage.entries(first, last + 1, u64::MAX) else {
            return format!("no entries {first}..={last}");
        };
        let mut out = String::new();
        for entry in entries {
            let cmd = crate::cmd::RaftCmd::decode(&entry.data[..]).ok();
            let what: Vec<String> = cmd
                .iter()
                .flat_map(|c| &c.mutations)
                .map(|m| format!("{:?}={:?}", m.kind(), m.value))
                .collect();
            let _ = write!(out, " {}:{}:{what:?}", entry.index, entry.term);
        }
        out
    }
}
