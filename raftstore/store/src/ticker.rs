//! The store clock: one thread that ticks the peers that are awake, and the store itself.
//!
//! Quiet (hibernating) peers leave [`TickSet`], so an idle store costs one wake-up per tick
//! plus one message per awake peer, however many regions it holds.
//!
//! A peer has at most one tick in its mailbox: the ticker skips a peer whose last tick is not
//! handled yet. An overloaded store therefore ticks more slowly (its timeouts stretch) instead
//! of queueing ticks without bound.

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use engine::KvEngine;
use parking_lot::{Condvar, Mutex};

use crate::message::{PeerMsg, StoreMsg};
use crate::router::RaftRouter;

/// The regions whose peers tick, each with whether a tick is waiting in its mailbox.
#[derive(Debug, Default)]
pub struct TickSet {
    regions: Mutex<HashMap<u64, bool>>,
}

impl TickSet {
    /// Ticks `region_id` from the next tick on.
    pub fn insert(&self, region_id: u64) {
        self.regions.lock().entry(region_id).or_insert(false);
    }

    /// The peer of `region_id` handled its tick: the next one may be sent.
    pub fn tick_handled(&self, region_id: u64) {
        if let Some(pending) = self.regions.lock().get_mut(&region_id) {
            *pending = false;
        }
    }

    /// Stops ticking `region_id`.
    pub fn remove(&self, region_id: u64) {
        self.regions.lock().remove(&region_id);
    }

    /// The regions that tick, in id order.
    pub fn regions(&self) -> Vec<u64> {
        let mut regions: Vec<u64> = self.regions.lock().keys().copied().collect();
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

    /// Collects the regions to tick now (those without a tick waiting) and marks them.
    fn due(&self, into: &mut Vec<u64>) {
        into.clear();
        for (&region_id, pending) in self.regions.lock().iter_mut() {
            if !*pending {
                *pending = true;
                into.push(region_id);
            }
        }
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
                ticking.due(&mut regions);
                for &region_id in &regions {
                    let _ = router.force_send(region_id, PeerMsg::Tick);
                }
                metrics::gauge!("flotilla_regions_ticked").set(regions.len() as f64);
                next += interval;
            }
        })
        .expect("invariant: the OS can start the store's threads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_gets_no_second_tick_before_handling_the_first() {
        let set = TickSet::default();
        set.insert(1);
        set.insert(2);
        let mut due = Vec::new();
        set.due(&mut due);
        due.sort_unstable();
        assert_eq!(due, vec![1, 2]);
        set.due(&mut due);
        assert!(due.is_empty(), "both ticks are still waiting");
        set.tick_handled(2);
        set.due(&mut due);
        assert_eq!(due, vec![2]);
        set.remove(1);
        set.insert(1);
        assert_eq!(set.regions(), vec![1, 2], "re-inserting keeps one entry");
    }
}
