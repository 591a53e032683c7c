//! The raft pollers: each round runs a batch of peers, then does the round's batched work once:
//! committed entries go to the apply side, the write tasks of every peer go to the store writers
//! together, and outgoing messages are flushed together.
//!
//! Peers only leave their work in the [`PollContext`]; [`PollContext::flush`] hands it on. The
//! store simulator drives peers with the same context and takes the work itself instead.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

use batch_system::PollHandler;
use engine::{CacheBudget, KvEngine};
use parking_lot::RwLock;
use tracing::warn;

use crate::config::StoreConfig;
use crate::message::{ApplyMsg, PeerMsg, RaftMessage, SentReport, StoreMsg};
use crate::meta::StoreMeta;
use crate::peer::PeerFsm;
use crate::router::{ApplyRouter, RaftRouter};
use crate::snapshot_pool::SnapshotBuilder;
use crate::store_fsm::StoreFsm;
use crate::ticker::TickSet;
use crate::transport::Transport;
use crate::writer::{WriteTask, WriterHandle};

/// What every poller of a store shares.
#[derive(Clone)]
pub struct StoreContext<E: KvEngine> {
    /// The store's configuration.
    pub cfg: Arc<StoreConfig>,
    /// The engine (reads are served from its snapshots).
    pub engine: E,
    /// Other stores.
    pub transport: Arc<dyn Transport>,
    /// The apply side.
    pub apply_router: ApplyRouter<E>,
    /// The raft side, for peers created during a round.
    pub raft_router: RaftRouter<E>,
    /// The store's view of its regions.
    pub meta: Arc<StoreMeta>,
    /// The entry caches' shared budget.
    pub cache_budget: Arc<CacheBudget>,
    /// The store writers.
    pub writers: WriterHandle<E>,
    /// The peers the clock ticks (quiet peers leave it).
    pub ticking: Arc<TickSet>,
    /// Stores silent for an election timeout (kept by the store FSM from store heartbeats).
    pub dead_stores: Arc<RwLock<HashSet<u64>>>,
    /// Where leaders' snapshots are built.
    pub snapshots: SnapshotBuilder<E>,
    /// Store-wide counts the peers keep.
    pub counts: Arc<StoreCounts>,
}

/// Store-wide counts the peers keep and the node reports.
#[derive(Debug, Default)]
pub struct StoreCounts {
    /// Peers that are dormant (quiet followers without a consensus node).
    pub dormant_peers: AtomicUsize,
    /// Regions that went quiet since the store last gave free memory back.
    pub quieted_since_release: AtomicUsize,
}

/// What a peer reaches during a round, and what it leaves for the end of the round.
pub struct PollContext<E: KvEngine> {
    /// What the store's pollers share.
    pub store: StoreContext<E>,
    /// Raft-log writes of this round.
    pub write_tasks: Vec<WriteTask<E>>,
    /// Messages to other stores of this round.
    pub outbox: Vec<RaftMessage>,
    /// Committed entries for the apply side of this round, by region id, in the order the
    /// peers made them (a region's tasks must be applied in this order).
    pub apply_tasks: Vec<(u64, ApplyMsg)>,
    /// When the round started.
    pub now: Instant,
}

impl<E: KvEngine> PollContext<E> {
    /// A context for one poller thread.
    pub fn new(store: StoreContext<E>) -> PollContext<E> {
        PollContext {
            store,
            write_tasks: Vec::new(),
            outbox: Vec::new(),
            apply_tasks: Vec::new(),
            now: Instant::now(),
        }
    }

    /// Hands the round's committed entries to the apply side and its writes to the writers,
    /// and sends the round's messages.
    pub fn flush(&mut self) {
        for (region_id, msg) in self.apply_tasks.drain(..) {
            if let Err(err) = self.store.apply_router.force_send(region_id, msg) {
                warn!(region = region_id, %err, "apply side gone; store stopping");
            }
        }
        if !self.write_tasks.is_empty() {
            metrics::histogram!("flotilla_raft_round_write_tasks")
                .record(self.write_tasks.len() as f64);
            self.store.writers.submit(&mut self.write_tasks);
        }
        if !self.outbox.is_empty() {
            metrics::counter!("flotilla_raft_messages_sent").increment(self.outbox.len() as u64);
            for msg in self.outbox.drain(..) {
                let report = SentReport::of(&msg);
                let delivered = self.store.transport.send(msg).is_ok();
                // The sender learns the outcome (see `PeerFsm::on_sent`).
                if let Some(report) = report
                    && let Some(sent) = report.into_msg(delivered)
                {
                    let _ = self.store.raft_router.force_send(report.region_id, sent);
                }
            }
            self.store.transport.flush();
        }
    }
}

/// The poll handler of the raft pollers.
pub struct RaftPoller<E: KvEngine> {
    /// The round's context.
    pub ctx: PollContext<E>,
}

impl<E: KvEngine> PollHandler<PeerFsm<E>, StoreFsm<E>> for RaftPoller<E> {
    fn begin(&mut self, _batch_size: usize) {
        self.ctx.now = Instant::now();
    }

    fn handle_control(&mut self, store: &mut StoreFsm<E>, msgs: &mut Vec<StoreMsg>) {
        store.handle(msgs, &mut self.ctx);
    }

    fn handle_normal(&mut self, peer: &mut PeerFsm<E>, msgs: &mut Vec<PeerMsg>) {
        peer.handle(msgs, &mut self.ctx);
    }

    fn end(&mut self, _peers: &mut [Box<PeerFsm<E>>]) {
        self.ctx.flush();
    }
}
