//! [`StoreFsm`]: store-wide work on the raft pollers (the control FSM of the raft batch system).

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::Instant;

use std::sync::Arc;

use batch_system::Fsm;
use bytes::Bytes;
use engine::{KvEngine, KvReader, Peer, PeerState, Region, RegionId};
use raft::raftpb::MessageType;
use tracing::{debug, info, warn};

use crate::apply::ApplyFsm;
use crate::memory;
use crate::message::{PeerMsg, RaftMessage, StoreMsg};
use crate::peer::PeerFsm;
use crate::poll::PollContext;

/// The store's control machine.
pub struct StoreFsm<E: KvEngine> {
    store_id: u64,
    liveness: Liveness,
    /// Where the stale-peer scan goes on (a start key; empty: from the beginning).
    stale_scan_from: Bytes,
    /// When the store last gave free memory back to the operating system.
    last_release: Option<Instant>,
    _engine: PhantomData<E>,
}

/// What this store knows of the other stores' liveness.
#[derive(Default)]
struct Liveness {
    /// When each store sharing a region with this one was last heard from.
    last_heard: HashMap<u64, Instant>,
    /// Stores considered dead (silent for an election timeout).
    dead: HashSet<u64>,
    ticks: u64,
}

impl<E: KvEngine> Fsm for StoreFsm<E> {
    type Message = StoreMsg;
}

impl<E: KvEngine> StoreFsm<E> {
    /// The control machine of store `store_id`.
    pub fn new(store_id: u64) -> StoreFsm<E> {
        StoreFsm {
            store_id,
            liveness: Liveness::default(),
            stale_scan_from: Bytes::new(),
            last_release: None,
            _engine: PhantomData,
        }
    }

    /// Handles store-wide messages.
    pub fn handle(&mut self, msgs: &mut Vec<StoreMsg>, ctx: &mut PollContext<E>) {
        for msg in msgs.drain(..) {
            match msg {
                StoreMsg::RaftToCreate(msg) => self.maybe_create_peer(*msg, ctx),
                StoreMsg::Tick => self.on_tick(ctx),
                StoreMsg::StoreHeartbeat { from_store } => {
                    self.liveness.last_heard.insert(from_store, ctx.now);
                    if self.liveness.dead.remove(&from_store) {
                        ctx.store.dead_stores.write().remove(&from_store);
                        info!(
                            store = self.store_id,
                            peer_store = from_store,
                            "store is back"
                        );
                    }
                }
            }
        }
    }

    /// Sends a liveness heartbeat to every store sharing a region with this one, and wakes the
    /// quiet followers whose leader's store fell silent (only those: a dead store never wakes
    /// regions it does not lead).
    fn on_tick(&mut self, ctx: &mut PollContext<E>) {
        self.scan_for_stale_peers(ctx);
        self.maybe_release_memory(ctx);
        let live = &mut self.liveness;
        live.ticks += 1;
        if live.ticks % 16 == 1 {
            let mut stores: HashSet<u64> = ctx.store.meta.peer_stores().into_iter().collect();
            stores.remove(&self.store_id);
            live.last_heard.retain(|s, _| stores.contains(s));
            for store in stores {
                live.last_heard.entry(store).or_insert(ctx.now);
            }
        }
        let me = Peer {
            store_id: self.store_id,
            ..Peer::default()
        };
        let timeout = ctx.store.cfg.election_timeout();
        let mut newly_dead = Vec::new();
        for (&store, &heard) in &live.last_heard {
            ctx.outbox.push(RaftMessage {
                from_peer: Some(me.clone()),
                to_peer: Some(Peer {
                    store_id: store,
                    ..Peer::default()
                }),
                store_heartbeat: true,
                ..RaftMessage::default()
            });
            if ctx.now.saturating_duration_since(heard) > timeout && live.dead.insert(store) {
                newly_dead.push(store);
            }
        }
        if !newly_dead.is_empty() {
            ctx.store
                .dead_stores
                .write()
                .extend(newly_dead.iter().copied());
        }
        for dead in newly_dead {
            warn!(
                store = self.store_id,
                peer_store = dead,
                "store silent; waking its regions"
            );
            for info in ctx.store.meta.regions() {
                if info.leader_store == Some(dead) {
                    let _ = ctx
                        .store
                        .raft_router
                        .force_send(info.region.id, PeerMsg::Wake);
                }
            }
        }
    }

    /// Gives free memory back to the operating system once enough regions went quiet since the
    /// last time (a burst is over), at most every [`memory::RELEASE_INTERVAL`]. Runs on this
    /// poller for the tens of milliseconds the allocator takes.
    fn maybe_release_memory(&mut self, ctx: &PollContext<E>) {
        let threshold = ctx.store.cfg.release_memory_after_quiet;
        let quieted = &ctx.store.counts.quieted_since_release;
        if threshold == 0 || quieted.load(Ordering::Relaxed) < threshold {
            return;
        }
        if self
            .last_release
            .is_some_and(|at| ctx.now.saturating_duration_since(at) < memory::RELEASE_INTERVAL)
        {
            return;
        }
        quieted.store(0, Ordering::Relaxed);
        self.last_release = Some(ctx.now);
        let started = Instant::now();
        let released = memory::release_free_memory();
        let took = started.elapsed();
        metrics::histogram!("flotilla_memory_release_seconds").record(took.as_secs_f64());
        debug!(
            store = self.store_id,
            released,
            ?took,
            "free memory given back"
        );
    }

    /// Asks this tick's share of the store's regions to check their membership
    /// ([`PeerFsm::check_stale`]), so that every region is asked once per
    /// `stale_peer_check_interval`.
    fn scan_for_stale_peers(&mut self, ctx: &PollContext<E>) {
        let cfg = &ctx.store.cfg;
        let regions = ctx.store.meta.len();
        if regions == 0 {
            return;
        }
        let ticks = (cfg.stale_peer_check_interval.as_nanos() / cfg.tick_interval.as_nanos()).max(1)
            as usize;
        let (ids, next) = ctx
            .store
            .meta
            .region_ids_from(&self.stale_scan_from, regions.div_ceil(ticks));
        self.stale_scan_from = next;
        for id in ids {
            let _ = ctx.store.raft_router.force_send(id, PeerMsg::CheckStale);
        }
    }

    /// A message reached this store for a region it has no running peer of: create the peer
    /// if the message comes from a member of a newer configuration than any tombstone here.
    ///
    /// Only a leader's messages create peers (a vote request from a stale peer must not), and
    /// never for a region this store left at the same or a later configuration.
    fn maybe_create_peer(&mut self, msg: RaftMessage, ctx: &mut PollContext<E>) {
        let region_id = msg.region_id;
        let Some(to) = msg.to_peer.clone().filter(|p| p.store_id == self.store_id) else {
            return;
        };
        let from_leader = msg.message.as_ref().is_some_and(|m| {
            matches!(
                m.kind(),
                MessageType::MsgApp | MessageType::MsgHeartbeat | MessageType::MsgSnap
            )
        });
        if !from_leader || ctx.store.raft_router.mailbox(region_id).is_some() {
            return;
        }
        match ctx.store.engine.region_state(RegionId(region_id)) {
            Ok(Some(state)) if state.state() == PeerState::Tombstone => {
                let gone = state.region.and_then(|r| r.epoch).unwrap_or_default();
                if msg.epoch.unwrap_or_default().conf_ver <= gone.conf_ver {
                    debug!(region = region_id, "message for a removed peer dropped");
                    return;
                }
            }
            Ok(Some(state)) if state.state() == PeerState::Normal => return,
            Ok(_) => {}
            Err(err) => {
                warn!(region = region_id, %err, "cannot read region state");
                return;
            }
        }
        let region = Region {
            id: region_id,
            start_key: msg.start_key.clone(),
            end_key: msg.end_key.clone(),
            epoch: None,
            peers: Vec::new(),
        };
        let store = &ctx.store;
        let peer = match PeerFsm::create(
            &store.cfg,
            store.engine.clone(),
            region.clone(),
            to,
            Arc::clone(&store.cache_budget),
        ) {
            Ok(peer) => peer,
            Err(err) => {
                warn!(region = region_id, %err, "cannot create peer");
                return;
            }
        };
        // A created peer's storage starts at the initial apply state.
        let apply = ApplyFsm::for_peer(&peer);
        if store
            .apply_router
            .register(region_id, Box::new(apply))
            .is_err()
            || store
                .raft_router
                .register(region_id, Box::new(peer))
                .is_err()
        {
            return;
        }
        info!(
            store = self.store_id,
            region = region_id,
            "peer created for a new member"
        );
        let _ = store
            .raft_router
            .force_send(region_id, PeerMsg::Raft(Box::new(msg)));
    }
}
