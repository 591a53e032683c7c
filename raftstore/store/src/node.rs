//! [`Node`]: one running store, and [`StoreHandle`], what clients and transports hold of it.
//!
//! ```text
//!            ┌──── raft pollers (PeerFsm, StoreFsm) ────┐
//! transport ─┤  ticks ─► every peer                      ├─► store writers ─► engine (sync)
//! clients ───┘                                          └─► apply pollers ─► engine
//! ```
//!
//! Starting recovers every region from the engine; stopping answers every waiting request with
//! `StoreStopped`. Dropping a node without [`Node::stop`] models a crash: threads end, nothing is
//! flushed beyond what the engine already made durable.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use batch_system::{BatchSystem, Config as BatchConfig};
use engine::{CacheBudget, KvEngine, PeerState, recover_regions, write_initial_states};
use tracing::{info, info_span, warn};

use crate::apply::{ApplyControl, ApplyFsm, ApplyPoller};
use crate::cmd::CmdHeader;
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::message::{
    AdminCommand, AdminRequest, Callback, PeerMsg, RaftMessage, RegionRequest, ResponseReceiver,
    StoreMsg,
};
use crate::meta::{RegionInfo, StoreMeta};
use crate::peer::PeerFsm;
use crate::peer::read::try_local_read;
use crate::poll::{PollContext, RaftPoller, StoreContext, StoreCounts};
use crate::router::{ApplyRouter, RaftRouter};
use crate::snapshot_pool::{SnapshotBuilder, SnapshotPool};
use crate::store_fsm::StoreFsm;
use crate::ticker::{self, TickSet, TickerStop};
use crate::transport::{MessageSink, Transport};
use crate::writer::{StoreWriters, WriterStats};

/// What the client API needs of a store, independent of its engine type.
pub trait StoreEndpoint: Send + Sync + 'static {
    /// The store's id.
    fn store_id(&self) -> u64;
    /// Sends a request to the store's peer of a region.
    fn request(&self, request: RegionRequest);
    /// Sends an admin request to the store's peer of a region.
    fn admin(&self, region_id: u64, header: CmdHeader, request: AdminRequest, callback: Callback);
    /// The region holding `key`, as this store knows it.
    fn region_for_key(&self, key: &[u8]) -> Option<RegionInfo>;
    /// Region `region_id`, as this store knows it.
    fn region(&self, region_id: u64) -> Option<RegionInfo>;
    /// Every region of the store.
    fn regions(&self) -> Vec<RegionInfo>;
}

/// A cheap, cloneable handle on a running store.
pub type StoreHandle = Arc<dyn StoreEndpoint>;

struct Endpoint<E: KvEngine> {
    store_id: u64,
    engine: E,
    router: RaftRouter<E>,
    meta: Arc<StoreMeta>,
    stopped: Arc<AtomicBool>,
}

impl<E: KvEngine> StoreEndpoint for Endpoint<E> {
    fn store_id(&self) -> u64 {
        self.store_id
    }

    fn request(&self, request: RegionRequest) {
        let region_id = request.header.region_id;
        if self.stopped.load(Ordering::Acquire) {
            request.callback.done(Err(Error::StoreStopped {
                store_id: self.store_id,
            }));
            return;
        }
        let Some(request) = self.try_local_read(request) else {
            return;
        };
        if let Err(err) = self
            .router
            .send(region_id, PeerMsg::Request(Box::new(request)))
        {
            let busy = matches!(err, batch_system::SendError::Full(_));
            let PeerMsg::Request(request) = err.into_inner() else {
                unreachable!("invariant: the router hands back the message it was given");
            };
            let error = if busy {
                Error::ServerIsBusy {
                    reason: format!("region {region_id}: mailbox full"),
                }
            } else {
                Error::RegionNotFound {
                    region_id,
                    store_id: self.store_id,
                }
            };
            request.callback.done(Err(error));
        }
    }

    fn admin(&self, region_id: u64, header: CmdHeader, request: AdminRequest, callback: Callback) {
        let msg = PeerMsg::Admin(Box::new(AdminCommand {
            request,
            header,
            callback,
        }));
        if let Err(err) = self.router.force_send(region_id, msg)
            && let PeerMsg::Admin(admin) = err.into_inner()
        {
            admin.callback.done(Err(Error::RegionNotFound {
                region_id,
                store_id: self.store_id,
            }));
        }
    }

    fn region_for_key(&self, key: &[u8]) -> Option<RegionInfo> {
        self.meta.region_for_key(key)
    }

    fn region(&self, region_id: u64) -> Option<RegionInfo> {
        self.meta.region(region_id)
    }

    fn regions(&self) -> Vec<RegionInfo> {
        self.meta.regions()
    }
}

impl<E: KvEngine> Endpoint<E> {
    /// Serves a read on this thread if the region's leader here holds a valid lease; hands the
    /// request back otherwise.
    fn try_local_read(&self, request: RegionRequest) -> Option<RegionRequest> {
        try_local_read(&self.meta, &self.engine, request, Instant::now())
    }
}

impl<E: KvEngine> MessageSink for Endpoint<E> {
    fn deliver(&self, msg: RaftMessage) {
        if msg.store_heartbeat {
            let from_store = msg.from_store();
            let _ = self
                .router
                .force_send_control(StoreMsg::StoreHeartbeat { from_store });
            return;
        }
        let region_id = msg.region_id;
        if let Err(err) = self
            .router
            .force_send(region_id, PeerMsg::Raft(Box::new(msg)))
            && let PeerMsg::Raft(msg) = err.into_inner()
        {
            let _ = self.router.force_send_control(StoreMsg::RaftToCreate(msg));
        }
    }
}

/// A running store.
pub struct Node<E: KvEngine> {
    cfg: Arc<StoreConfig>,
    engine: E,
    endpoint: Arc<Endpoint<E>>,
    raft_system: BatchSystem<PeerFsm<E>, StoreFsm<E>>,
    apply_system: BatchSystem<ApplyFsm<E>, ApplyControl>,
    writers: Option<StoreWriters>,
    snapshot_pool: Arc<SnapshotPool<E>>,
    cache_budget: Arc<CacheBudget>,
    counts: Arc<StoreCounts>,
    ticker: Option<JoinHandle<()>>,
    ticker_stop: Arc<TickerStop>,
    ticking: Arc<TickSet>,
    failed: Arc<AtomicBool>,
    writer_stats: Arc<WriterStats>,
}

impl<E: KvEngine> Node<E> {
    /// Starts a store on `engine`: recovers every region, then starts the pollers, writers,
    /// apply pool and clock. `transport` carries messages to other stores; register
    /// [`Node::sink`] with it so messages reach this store.
    pub fn start(cfg: StoreConfig, engine: E, transport: &Arc<dyn Transport>) -> Result<Node<E>> {
        cfg.validate()?;
        let cfg = Arc::new(cfg);
        let store_id = cfg.store_id;
        let (raft_router, mut raft_system) = BatchSystem::new(
            batch_config(&cfg, cfg.raft_pollers, "raft"),
            Box::new(StoreFsm::new(store_id)),
        )
        .map_err(engine_error)?;
        let (apply_router, mut apply_system) = BatchSystem::new(
            batch_config(&cfg, cfg.apply_pollers, "apply"),
            Box::new(ApplyControl),
        )
        .map_err(engine_error)?;
        let meta = Arc::new(StoreMeta::default());
        let budget = CacheBudget::new(cfg.entry_cache_bytes);
        let (failed, writer_stats) = (Arc::new(AtomicBool::new(false)), Arc::default());
        let ticking = Arc::new(TickSet::default());
        let routers = (&raft_router, &apply_router);
        let recovered = recover_peers(&cfg, &engine, &budget, &meta, &ticking, routers)?;
        info!(store = store_id, regions = recovered, "store recovered");
        let (writer_handle, writers) = StoreWriters::start(
            cfg.store_writers,
            &engine,
            cfg.sync_log,
            &raft_router,
            transport,
            &failed,
            &writer_stats,
        );
        spawn_apply_pool(&mut apply_system, &engine, &raft_router, &failed)?;
        let snapshot_pool = SnapshotPool::start(&engine, cfg.snapshot_workers, store_id);
        let counts = Arc::new(StoreCounts::default());
        let store_ctx = StoreContext {
            cfg: Arc::clone(&cfg),
            engine: engine.clone(),
            transport: Arc::clone(transport),
            apply_router: apply_router.clone(),
            raft_router: raft_router.clone(),
            meta: Arc::clone(&meta),
            cache_budget: Arc::clone(&budget),
            writers: writer_handle,
            ticking: Arc::clone(&ticking),
            dead_stores: Arc::default(),
            snapshots: SnapshotBuilder::Pool(Arc::clone(&snapshot_pool)),
            counts: Arc::clone(&counts),
        };
        raft_system
            .spawn(move |_| RaftPoller {
                ctx: PollContext::new(store_ctx.clone()),
            })
            .map_err(engine_error)?;
        let ticker_stop = Arc::new(TickerStop::default());
        let ticker = ticker::start(
            cfg.tick_interval,
            raft_router.clone(),
            Arc::clone(&ticking),
            Arc::clone(&ticker_stop),
        );
        Ok(Node {
            endpoint: Arc::new(Endpoint {
                store_id,
                engine: engine.clone(),
                router: raft_router,
                meta,
                stopped: Arc::new(AtomicBool::new(false)),
            }),
            cfg,
            engine,
            raft_system,
            apply_system,
            writers: Some(writers),
            snapshot_pool,
            cache_budget: budget,
            counts,
            ticker: Some(ticker),
            ticker_stop,
            ticking,
            failed,
            writer_stats,
        })
    }

    /// The store's id.
    pub fn store_id(&self) -> u64 {
        self.cfg.store_id
    }

    /// The store's engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// The handle clients use.
    pub fn handle(&self) -> StoreHandle {
        Arc::clone(&self.endpoint) as StoreHandle
    }

    /// Where the transport delivers this store's messages.
    pub fn sink(&self) -> Arc<dyn MessageSink> {
        Arc::clone(&self.endpoint) as Arc<dyn MessageSink>
    }

    /// The store writers' counters (batches are fsyncs when logs are synced).
    pub fn writer_stats(&self) -> &WriterStats {
        &self.writer_stats
    }

    /// Bytes held by the entry caches of every region of this store (quiet regions hold
    /// none).
    pub fn entry_cache_bytes(&self) -> usize {
        self.cache_budget.used_bytes()
    }

    /// How many peers here are dormant: quiet followers that dropped their consensus node
    /// until something needs it.
    pub fn dormant_peers(&self) -> usize {
        self.counts.dormant_peers.load(Ordering::Relaxed)
    }

    /// The regions whose peers here are awake (tick), in id order; the others are quiet.
    pub fn ticking_regions(&self) -> Vec<u64> {
        self.ticking.regions()
    }

    /// Whether this store's peer of `region_id` holds a read lease now.
    pub fn has_lease(&self, region_id: u64) -> bool {
        self.endpoint
            .meta
            .delegate(region_id)
            .is_some_and(|d| d.has_lease(Instant::now()))
    }

    /// Whether an engine write failed, stopping the store.
    pub fn has_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Asks one region's peer to campaign.
    pub fn campaign(&self, region_id: u64) {
        let _ = self
            .endpoint
            .router
            .force_send(region_id, PeerMsg::Campaign);
    }

    /// Stops the store: clocks, pollers, apply pool, writers, in that order.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.endpoint.stopped.store(true, Ordering::Release);
        self.ticker_stop.stop();
        if let Some(ticker) = self.ticker.take() {
            let _ = ticker.join();
        }
        self.raft_system.shutdown();
        self.snapshot_pool.stop();
        self.apply_system.shutdown();
        if let Some(writers) = self.writers.take() {
            writers.join();
        }
    }
}

impl<E: KvEngine> Drop for Node<E> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Waits for a response; a dropped callback reads as a timeout.
pub fn wait(rx: ResponseReceiver) -> crate::Result<crate::message::Response> {
    futures_executor::block_on(rx).unwrap_or(Err(Error::Timeout))
}

/// Starts the apply pollers.
fn spawn_apply_pool<E: KvEngine>(
    system: &mut BatchSystem<ApplyFsm<E>, ApplyControl>,
    engine: &E,
    raft_router: &RaftRouter<E>,
    failed: &Arc<AtomicBool>,
) -> Result<()> {
    let (engine, raft_router, failed) = (engine.clone(), raft_router.clone(), Arc::clone(failed));
    system
        .spawn(move |_| ApplyPoller::new(engine.clone(), raft_router.clone(), Arc::clone(&failed)))
        .map_err(|err| Error::Engine(err.to_string()))
}

/// The batch-system configuration of one of the store's pools.
fn batch_config(cfg: &StoreConfig, pool_size: usize, name: &str) -> BatchConfig {
    BatchConfig {
        pool_size,
        max_batch_size: cfg.max_batch_size,
        messages_per_tick: cfg.messages_per_tick,
        mailbox_capacity: cfg.mailbox_capacity,
        thread_name: format!("{name}-{}", cfg.store_id),
    }
}

/// A batch system's setup error, as the store reports it.
#[allow(
    clippy::needless_pass_by_value,
    reason = "used as map_err(engine_error)"
)]
fn engine_error(err: batch_system::Error) -> Error {
    Error::Engine(err.to_string())
}

/// Opens a peer and its apply side for every live region of the engine; returns how many.
fn recover_peers<E: KvEngine>(
    cfg: &StoreConfig,
    engine: &E,
    budget: &Arc<CacheBudget>,
    meta: &StoreMeta,
    ticking: &TickSet,
    (raft_router, apply_router): (&RaftRouter<E>, &ApplyRouter<E>),
) -> Result<usize> {
    let _span = info_span!("recover_peers", store = cfg.store_id).entered();
    let mut recovered = 0usize;
    for region in recover_regions(engine)? {
        if region.peer_state() != PeerState::Normal {
            continue;
        }
        let peer = match PeerFsm::open(cfg, engine.clone(), region.region_id, Arc::clone(budget)) {
            Ok(peer) => peer,
            // A region state that no longer lists this store (its removal was applied but the
            // tombstone was not written): nothing to run here; the region's members hold it.
            Err(Error::RegionNotFound { .. }) => {
                warn!(
                    region = region.region_id.0,
                    store = cfg.store_id,
                    "region state without a peer on this store; not opened"
                );
                continue;
            }
            Err(err) => return Err(err),
        };
        let apply = ApplyFsm::for_peer(&peer);
        meta.update(peer.region(), None);
        meta.set_delegate(peer.region_id(), Arc::clone(peer.delegate()));
        let id = peer.region_id();
        ticking.insert(id);
        apply_router
            .register(id, Box::new(apply))
            .map_err(|err| Error::Engine(err.to_string()))?;
        raft_router
            .register(id, Box::new(peer))
            .map_err(|err| Error::Engine(err.to_string()))?;
        recovered += 1;
    }
    Ok(recovered)
}

/// Writes the initial states of `regions` on a fresh engine: each region starts with its peers
/// as voters, at the initial log index (all replicas agree without a leader).
pub fn bootstrap<E: KvEngine>(engine: &E, regions: &[engine::Region]) -> Result<()> {
    let mut batch = engine.write_batch();
    for region in regions {
        write_initial_states(&mut batch, region);
    }
    engine.write(&mut batch, true)?;
    Ok(())
}
