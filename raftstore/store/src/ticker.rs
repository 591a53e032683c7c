//! The store clock: one thread that ticks the peers that are awake, and the store itself.
//!
//! Quiet (hibernating) peers leave [`TickSet`], so an idle store costs one wake-up per tick
//! plus one message per awake peer, however many regions it holds.

use std::collections::HashSet;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use engine::KvEngine;
use parking_lot::{Condvar, Mutex};

use crate::message::{PeerMsg, StoreMsg};
use crate::router::RaftRouter;

/// The regions whose peers tick.
#[derive(Debug, Default)]
pub struct TickSet {
    regions: Mutex<HashSet<u64>>,
}

impl TickSet {
    /// Ticks `region_id` from the next tick on.
    pub fn insert(&self, region_id: u64) {
        self.regions.lock().insert(region_id);
    }

    /// Stops ticking `region_id`.
    pub fn remove(&self, region_id: u64) {
        self.regions.lock().remove(&region_id);
    }

    /// The regions that tick, in id order.
    pub fn regions(&self) -> Vec<u64> {
        let mut regions: Vec<u64> = self.regions.lock().iter().copied().collect();
        regions.sort_unstable();
        regions
    }

    /// How many regions tick.
    pub fn len(&self) -> usize {
        self.regions.lock().len()
    }

    /// Whether no region ticks.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn snapshot(&self, into: &mut Vec<u64>) {
        into.clear();
        into.extend(self.regions.lock().iter().copied());
    }
}

/// Stops the ticker.
#[derive(Default)]
pub struct TickerStop {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl TickerStop {
    /// Asks the ticker to stop now.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// Starts the clock of a store.
///
/// # Panics
///
/// If the OS cannot start a thread.
pub fn start<E: KvEngine>(
    interval: Duration,
    router: RaftRouter<E>,
    ticking: Arc<TickSet>,
    stop: Arc<TickerStop>,
) -> JoinHandle<()> {
    thread::Builder::new()
        .name("store-ticker".into())
        .spawn(move || {
            let mut next = Instant::now() + interval;
            let mut regions = Vec::new();
            loop {
                let mut stopped = stop.stopped.lock();
                while !*stopped && Instant::now() < next {
                    stop.wake.wait_until(&mut stopped, next);
                }
                if *stopped {
                    return;
                }
                drop(stopped);
                let _ = router.force_send_control(StoreMsg::Tick);
                ticking.snapshot(&mut regions);
                for &region_id in &regions {
                    let _ = router.force_send(region_id, PeerMsg::Tick);
                }
                metrics::gauge!("flotilla_regions_ticking").set(regions.len() as f64);
                next += interval;
            }
        })
        .expect("invariant: the OS can start the store's threads")
}
