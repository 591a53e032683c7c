//! The store writers: group commit of raft logs.
//!
//! Pollers hand each round's write tasks to a writer (a region always to the same one, so its
//! writes stay in order). A writer takes every task queued, prepares them into one write batch,
//! writes it with one fsync, then delivers what the writes were waited for: the local storage
//! responses to the peers, and the acknowledgements (`MsgAppResp`, votes) to other stores.
//!
//! Batching adapts by itself: a lone task is written at once, and while a write is in flight
//! new tasks pile up in the queue and go out together in the next one. There is no timer and no
//! knob.
//!
//! ```text
//! pollers ──Vec<WriteTask>──► queue ──► [take all] ──► one WriteBatch ──► write(sync) ──►
//!     PeerMsg::Persisted to each peer, acknowledgements to the transport, flush
//! ```
//!
//! An engine error stops the writer: the store cannot promise durability any more, so it stops
//! acknowledging (fail-stop) instead of retrying a write whose effect is unknown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use engine::{KvEngine, PeerStorage, WriteBatch};
use raft::raftpb::{Entry, HardState, Message, Snapshot};
use tracing::{error, info_span, trace, warn};

use crate::message::{PeerMsg, RaftMessage};
use crate::router::RaftRouter;
use crate::transport::Transport;

/// One region's raft-log write of one round.
pub struct WriteTask<E: KvEngine> {
    /// The region's storage, which prepares the write into the batch.
    pub storage: PeerStorage<E>,
    /// Entries to append (a conflicting suffix is replaced).
    pub entries: Vec<Entry>,
    /// The hard state to persist, if it changed.
    pub hard_state: Option<HardState>,
    /// A snapshot to install before the entries.
    pub snapshot: Option<Snapshot>,
    /// Responses for the region's own peer, delivered after the write.
    pub local: Vec<Message>,
    /// Acknowledgements for other stores, sent after the write.
    pub remote: Vec<RaftMessage>,
}

/// The handle pollers use to reach the writers.
#[derive(Clone)]
pub struct WriterHandle<E: KvEngine> {
    queues: Arc<Vec<Sender<Vec<WriteTask<E>>>>>,
}

impl<E: KvEngine> WriterHandle<E> {
    /// A handle with no writer behind it: submitted tasks are dropped. For drivers that take
    /// [`crate::poll::PollContext::write_tasks`] themselves and never flush (the simulator).
    pub fn detached() -> WriterHandle<E> {
        WriterHandle {
            queues: Arc::new(Vec::new()),
        }
    }

    /// Hands `tasks` to the writers, each task to its region's writer.
    pub fn submit(&self, tasks: &mut Vec<WriteTask<E>>) {
        if self.queues.is_empty() {
            tasks.clear();
            return;
        }
        if self.queues.len() == 1 {
            let _ = self.queues[0].send(std::mem::take(tasks));
            return;
        }
        let mut per_writer: Vec<Vec<WriteTask<E>>> =
            self.queues.iter().map(|_| Vec::new()).collect();
        for task in tasks.drain(..) {
            let writer = (task.storage.region_id().0 % self.queues.len() as u64) as usize;
            per_writer[writer].push(task);
        }
        for (queue, tasks) in self.queues.iter().zip(per_writer) {
            if !tasks.is_empty() {
                let _ = queue.send(tasks);
            }
        }
    }
}

/// Counters of the writers of one store.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Batches written (one fsync each when logs are synced).
    pub batches: AtomicU64,
    /// Region write tasks in those batches.
    pub tasks: AtomicU64,
}

/// The running writer threads.
pub struct StoreWriters {
    threads: Vec<JoinHandle<()>>,
}

impl StoreWriters {
    /// Starts `count` writers on `engine`, delivering through `router` and `transport`.
    /// `failed` is set when a write fails; the store then stops.
    ///
    /// # Panics
    ///
    /// If the OS cannot start a thread.
    pub fn start<E: KvEngine>(
        count: usize,
        engine: &E,
        sync: bool,
        router: &RaftRouter<E>,
        transport: &Arc<dyn Transport>,
        failed: &Arc<AtomicBool>,
        stats: &Arc<WriterStats>,
    ) -> (WriterHandle<E>, StoreWriters) {
        let mut queues = Vec::with_capacity(count);
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let (tx, rx) = crossbeam_channel::unbounded();
            queues.push(tx);
            let writer = Writer {
                engine: engine.clone(),
                batch: engine.write_batch(),
                sync,
                router: router.clone(),
                transport: Arc::clone(transport),
                failed: Arc::clone(failed),
                stats: Arc::clone(stats),
            };
            let thread = thread::Builder::new()
                .name(format!("store-writer-{i}"))
                .spawn(move || writer.run(&rx))
                .expect("invariant: the OS can start the store's threads");
            threads.push(thread);
        }
        let handle = WriterHandle {
            queues: Arc::new(queues),
        };
        (handle, StoreWriters { threads })
    }

    /// Waits for the writers to finish what is queued; call after every handle is dropped.
    pub fn join(self) {
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

struct Writer<E: KvEngine> {
    engine: E,
    batch: E::WriteBatch,
    sync: bool,
    router: RaftRouter<E>,
    transport: Arc<dyn Transport>,
    failed: Arc<AtomicBool>,
    stats: Arc<WriterStats>,
}

impl<E: KvEngine> Writer<E> {
    fn run(mut self, queue: &Receiver<Vec<WriteTask<E>>>) {
        while let Ok(mut tasks) = queue.recv() {
            while let Ok(more) = queue.try_recv() {
                tasks.extend(more);
            }
            if self.failed.load(Ordering::Acquire) {
                continue;
            }
            let Err(err) = self.write(tasks).map(|released| self.deliver(released)) else {
                continue;
            };
            error!(%err, "store writer: raft log write failed; the store stops acknowledging");
            self.failed.store(true, Ordering::Release);
        }
    }

    fn write(&mut self, tasks: Vec<WriteTask<E>>) -> engine::Result<Vec<Released>> {
        let count = tasks.len();
        let released = write_tasks(&self.engine, &mut self.batch, self.sync, tasks)?;
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.tasks.fetch_add(count as u64, Ordering::Relaxed);
        metrics::counter!("flotilla_store_writer_batches").increment(1);
        metrics::histogram!("flotilla_store_writer_batch_tasks").record(count as f64);
        Ok(released)
    }

    fn deliver(&self, released: Vec<Released>) {
        for task in released {
            for msg in task.remote {
                let _ = self.transport.send(msg);
            }
            if !task.local.is_empty() {
                let _ = self
                    .router
                    .force_send(task.region_id, PeerMsg::Persisted(task.local));
            }
        }
        self.transport.flush();
    }
}

/// What one written task releases: the messages that waited for its write to be durable.
#[derive(Debug)]
pub struct Released {
    /// The region whose peer gets `local`.
    pub region_id: u64,
    /// Local storage responses for the region's peer (`PeerMsg::Persisted`).
    pub local: Vec<Message>,
    /// Acknowledgements for other stores.
    pub remote: Vec<RaftMessage>,
}

/// Prepares `tasks` into `batch` in region order (one region's tasks in the order given), writes
/// the batch (with an fsync when `sync`), and returns what each task releases, in that order.
///
/// This is the writer's whole decision, free of threads and channels, so the store simulator
/// can run a writer round as one step. The batch is empty again on return, whatever the result
/// (the engine consumes it).
///
/// Nothing is released unless the write succeeded: an acknowledgement sent for an entry that is
/// not durable could let a quorum count a replica that would forget it in a crash.
///
/// # Errors
///
/// The engine's error when the write fails; the store must then stop acknowledging.
pub fn write_tasks<E: KvEngine>(
    engine: &E,
    batch: &mut E::WriteBatch,
    sync: bool,
    mut tasks: Vec<WriteTask<E>>,
) -> engine::Result<Vec<Released>> {
    install_snapshots(&mut tasks);
    // Log keys start with the region id: tasks in region order make the batch's keys ascend,
    // so each memtable insert starts from the previous one's position. The sort is stable, so
    // one region's tasks keep their order (a later task may overwrite an earlier one's entries).
    tasks.sort_by_key(|task| task.storage.region_id().0);
    for task in &tasks {
        task.storage.append(&task.entries, task.hard_state, batch);
    }
    trace!(
        tasks = tasks.len(),
        ops = batch.count(),
        "store writer: write"
    );
    let bytes = batch.data_size();
    let started = Instant::now();
    engine.write(batch, sync)?;
    let took = started.elapsed();
    metrics::histogram!("flotilla_store_writer_write_seconds").record(took.as_secs_f64());
    metrics::histogram!("flotilla_store_writer_batch_bytes").record(bytes as f64);
    if took > SLOW_WRITE {
        warn!(
            ?took,
            bytes,
            tasks = tasks.len(),
            "store writer: slow raft-log write"
        );
    }
    Ok(tasks
        .into_iter()
        .map(|task| Released {
            region_id: task.storage.region_id().0,
            local: task.local,
            remote: task.remote,
        })
        .collect())
}

/// A write slower than this is logged (a disk in trouble shows here first).
pub const SLOW_WRITE: Duration = Duration::from_millis(500);

/// Installs the snapshots of `tasks` (each is written and synced by the engine on its own,
/// before the batch). A snapshot that fails to install is dropped with its task's responses:
/// the core never hears it was persisted, and the leader sends another after its snapshot
/// times out.
fn install_snapshots<E: KvEngine>(tasks: &mut Vec<WriteTask<E>>) {
    if tasks.iter().all(|t| t.snapshot.is_none()) {
        return;
    }
    tasks.retain(|task| {
        let Some(snapshot) = &task.snapshot else {
            return true;
        };
        let hard_state = task.hard_state.unwrap_or_default();
        let _span = info_span!("snapshot_install", region = task.storage.region_id().0).entered();
        match crate::peer::snapshot::apply(&task.storage, snapshot, hard_state) {
            Ok(()) => true,
            Err(err) => {
                error!(region = task.storage.region_id().0, %err, "snapshot not installed");
                false
            }
        }
    });
}
