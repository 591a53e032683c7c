//! Where region snapshots are built: a few threads of their own.
//!
//! Building a snapshot reads the whole region from the engine and writes its files, seconds for
//! a large region. On a raft poller that would stall every other region of the poller for as
//! long, so a leader whose core asks for a snapshot hands the build to this pool and goes on.
//! The pool's size bounds how many snapshots a store builds at a time; a region is queued at
//! most once. The finished snapshot goes straight into the region's storage, where the core
//! finds it on its next attempt to reach the follower (the next heartbeat answer).
//!
//! ```text
//! peer: core asks storage.snapshot() ─► Unavailable, snapshot_requested ─► pool.request
//! pool thread: build ─► storage.set_generated_snapshot ─► core's next try sends MsgSnap
//! ```
//!
//! The deterministic simulator builds inline instead ([`SnapshotBuilder::Inline`]): threads
//! would make its runs depend on scheduling.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use engine::{KvEngine, PeerStorage};
use parking_lot::Mutex;
use tracing::{info, info_span, warn};

use crate::peer::snapshot;

/// How a store builds the snapshots its leaders need.
pub enum SnapshotBuilder<E: KvEngine> {
    /// On the caller's thread, at once.
    Inline,
    /// On a pool of threads, a bounded number at a time.
    Pool(Arc<SnapshotPool<E>>),
}

impl<E: KvEngine> Clone for SnapshotBuilder<E> {
    fn clone(&self) -> Self {
        match self {
            SnapshotBuilder::Inline => SnapshotBuilder::Inline,
            SnapshotBuilder::Pool(pool) => SnapshotBuilder::Pool(Arc::clone(pool)),
        }
    }
}

impl<E: KvEngine> SnapshotBuilder<E> {
    /// Builds (or queues the build of) a snapshot of `storage`'s region for its core.
    pub fn request(&self, engine: &E, storage: &PeerStorage<E>) {
        match self {
            SnapshotBuilder::Inline => build_into(engine, storage),
            SnapshotBuilder::Pool(pool) => pool.request(storage),
        }
    }
}

/// A region waiting for its snapshot.
struct Job<E: KvEngine> {
    storage: PeerStorage<E>,
}

/// The snapshot threads of a store.
pub struct SnapshotPool<E: KvEngine> {
    queue: Mutex<Option<Sender<Job<E>>>>,
    /// Regions queued or being built: a region asks again every round until its snapshot is
    /// ready, and must not be built twice.
    pending: Arc<Mutex<HashSet<u64>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Set by `stop`: queued builds are dropped instead of built.
    stopping: Arc<AtomicBool>,
}

impl<E: KvEngine> SnapshotPool<E> {
    /// Starts `threads` snapshot threads (at least one) building from `engine`.
    ///
    /// # Panics
    ///
    /// If the OS cannot start a thread.
    pub fn start(engine: &E, threads: usize, store_id: u64) -> Arc<SnapshotPool<E>> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job<E>>();
        let pending = Arc::new(Mutex::new(HashSet::new()));
        let stopping = Arc::new(AtomicBool::new(false));
        let handles = (0..threads.max(1))
            .map(|i| {
                let rx: Receiver<Job<E>> = rx.clone();
                let engine = engine.clone();
                let pending = Arc::clone(&pending);
                let stopping = Arc::clone(&stopping);
                std::thread::Builder::new()
                    .name(format!("snapshot-{store_id}-{i}"))
                    .spawn(move || {
                        for job in rx {
                            if !stopping.load(Ordering::Acquire) {
                                build_into(&engine, &job.storage);
                            }
                            pending.lock().remove(&job.storage.region_id().0);
                        }
                    })
                    .expect("invariant: the OS can start the store's threads")
            })
            .collect();
        Arc::new(SnapshotPool {
            queue: Mutex::new(Some(tx)),
            pending,
            threads: Mutex::new(handles),
            stopping,
        })
    }

    /// Queues a build for `storage`'s region unless one is queued or running already.
    pub fn request(&self, storage: &PeerStorage<E>) {
        if !self.pending.lock().insert(storage.region_id().0) {
            return;
        }
        let queue = self.queue.lock();
        let sent = queue.as_ref().is_some_and(|tx| {
            tx.send(Job {
                storage: storage.clone(),
            })
            .is_ok()
        });
        if !sent {
            // Stopping: nothing will build it.
            self.pending.lock().remove(&storage.region_id().0);
        }
    }

    /// Regions queued or being built.
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }

    /// Stops taking builds, drops the queued ones, waits for those being built, and joins the
    /// threads.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        drop(self.queue.lock().take());
        for handle in self.threads.lock().drain(..) {
            let _ = handle.join();
        }
    }
}

/// Builds the snapshot of `storage`'s region and hands it to the storage, where the core finds
/// it. A failed build is logged; the core asks again on its next attempt.
fn build_into<E: KvEngine>(engine: &E, storage: &PeerStorage<E>) {
    let region_id = storage.region_id().0;
    let _span = info_span!("snapshot_build", region = region_id).entered();
    let started = Instant::now();
    match snapshot::build(engine, region_id) {
        Ok(snap) => {
            let took = started.elapsed();
            metrics::counter!("flotilla_snapshots_built").increment(1);
            metrics::histogram!("flotilla_snapshot_build_seconds").record(took.as_secs_f64());
            info!(
                region = region_id,
                ?took,
                bytes = snap.data.len(),
                "snapshot built"
            );
            storage.set_generated_snapshot(snap);
        }
        Err(err) => warn!(region = region_id, %err, "snapshot build failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use engine::{CacheBudget, MemEngine};
    use raft::Storage as _;

    use super::*;

    fn storages(engine: &MemEngine, regions: u64) -> Vec<PeerStorage<MemEngine>> {
        engine::synthetic::open_empty_regions(engine, regions, &CacheBudget::new(1 << 20))
            .expect("the mem engine takes the regions")
    }

    #[test]
    fn every_requested_region_gets_its_snapshot_in_its_storage() {
        let engine = MemEngine::new();
        let storages = storages(&engine, 3);
        let pool = SnapshotPool::start(&engine, 1, 1);
        for _ in 0..3 {
            for storage in &storages {
                pool.request(storage);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.pending() > 0 {
            assert!(Instant::now() < deadline, "snapshots not built");
            std::thread::sleep(Duration::from_millis(5));
        }
        for storage in &storages {
            assert!(
                storage.snapshot(0, 0).is_ok(),
                "region {} has its snapshot",
                storage.region_id()
            );
        }
        pool.stop();
    }

    #[test]
    fn a_stopped_pool_takes_nothing() {
        let engine = MemEngine::new();
        let storages = storages(&engine, 1);
        let pool = SnapshotPool::start(&engine, 2, 1);
        pool.stop();
        pool.request(&storages[0]);
        assert_eq!(pool.pending(), 0);
        assert!(storages[0].snapshot(0, 0).is_err(), "nothing was built");
    }
}
