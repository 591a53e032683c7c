//! [`LocalTransport`]: stores in one process, connected through their routers, with the faults
//! tests need: partitions, isolation, random loss and duplication, delays and custom filters.
//!
//! ```text
//! store 1 ── send(msg to store 2) ──► filters (drop? duplicate? delay?) ──► store 2's sink
//! ```
//!
//! Faults come from a seeded generator, so a test with the same seed and the same sends drops
//! the same messages.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, RwLock};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::message::RaftMessage;
use crate::transport::{MessageSink, Transport, TransportError};

/// A test's own rule: `false` drops the message.
pub type Filter = Box<dyn Fn(&RaftMessage) -> bool + Send + Sync>;

#[derive(Default)]
struct Faults {
    /// Unordered store pairs that cannot talk.
    cut: HashSet<(u64, u64)>,
    /// Stores that can talk to nobody.
    isolated: HashSet<u64>,
    drop_rate: f64,
    duplicate_rate: f64,
    max_delay: Duration,
    filters: Vec<Filter>,
    stats: TransportStats,
}

/// Counters of what the transport did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// Messages delivered (duplicates count twice).
    pub delivered: u64,
    /// Messages dropped by a fault or filter.
    pub dropped: u64,
    /// Messages to a store that is not registered.
    pub unreachable: u64,
}

struct Delayed {
    queue: Mutex<BTreeMap<(Instant, u64), RaftMessage>>,
    wake: Condvar,
}

struct Shared {
    sinks: RwLock<HashMap<u64, Arc<dyn MessageSink>>>,
    faults: Mutex<Faults>,
    rng: Mutex<Xoshiro256PlusPlus>,
    delayed: Delayed,
    seq: Mutex<u64>,
}

/// An in-process transport. Clones share the network.
#[derive(Clone)]
pub struct LocalTransport {
    shared: Arc<Shared>,
}

impl LocalTransport {
    /// A network with no stores and no faults; `seed` drives random faults.
    ///
    /// # Panics
    ///
    /// If the OS cannot start the thread that delivers delayed messages.
    pub fn new(seed: u64) -> LocalTransport {
        let shared = Arc::new(Shared {
            sinks: RwLock::new(HashMap::new()),
            faults: Mutex::new(Faults::default()),
            rng: Mutex::new(Xoshiro256PlusPlus::seed_from_u64(seed)),
            delayed: Delayed {
                queue: Mutex::new(BTreeMap::new()),
                wake: Condvar::new(),
            },
            seq: Mutex::new(0),
        });
        let weak = Arc::downgrade(&shared);
        thread::Builder::new()
            .name("local-transport-delay".into())
            .spawn(move || deliver_delayed(&weak))
            .expect("invariant: the OS can start one thread");
        LocalTransport { shared }
    }

    /// Connects `store_id` to the network.
    pub fn register(&self, store_id: u64, sink: Arc<dyn MessageSink>) {
        self.shared.sinks.write().insert(store_id, sink);
    }

    /// Disconnects `store_id` (a stopped store).
    pub fn unregister(&self, store_id: u64) {
        self.shared.sinks.write().remove(&store_id);
    }

    /// Cuts the link between `a` and `b` both ways.
    pub fn partition(&self, a: u64, b: u64) {
        self.shared.faults.lock().cut.insert(pair(a, b));
    }

    /// Cuts `store` from every other store.
    pub fn isolate(&self, store: u64) {
        self.shared.faults.lock().isolated.insert(store);
    }

    /// Drops each message with probability `rate`.
    pub fn set_drop_rate(&self, rate: f64) {
        self.shared.faults.lock().drop_rate = rate;
    }

    /// Delivers each message twice with probability `rate`.
    pub fn set_duplicate_rate(&self, rate: f64) {
        self.shared.faults.lock().duplicate_rate = rate;
    }

    /// Delays each message by a random time up to `max` (reordering them).
    pub fn set_max_delay(&self, max: Duration) {
        self.shared.faults.lock().max_delay = max;
    }

    /// Adds a rule; a message is delivered only if every rule returns `true`.
    pub fn add_filter(&self, filter: Filter) {
        self.shared.faults.lock().filters.push(filter);
    }

    /// Removes every fault and filter.
    pub fn heal(&self) {
        let mut faults = self.shared.faults.lock();
        let stats = faults.stats;
        *faults = Faults {
            stats,
            ..Faults::default()
        };
    }

    /// What the transport did so far.
    pub fn stats(&self) -> TransportStats {
        self.shared.faults.lock().stats
    }

    /// Decides the fate of `msg`: how many copies to deliver and after what delay.
    fn judge(&self, msg: &RaftMessage) -> (usize, Duration) {
        let (from, to) = (msg.from_store(), msg.to_store());
        let mut faults = self.shared.faults.lock();
        let blocked = faults.cut.contains(&pair(from, to))
            || faults.isolated.contains(&from)
            || faults.isolated.contains(&to)
            || !faults.filters.iter().all(|keep| keep(msg));
        let mut rng = self.shared.rng.lock();
        if blocked || (faults.drop_rate > 0.0 && rng.random_bool(faults.drop_rate.min(1.0))) {
            faults.stats.dropped += 1;
            return (0, Duration::ZERO);
        }
        let copies =
            if faults.duplicate_rate > 0.0 && rng.random_bool(faults.duplicate_rate.min(1.0)) {
                2
            } else {
                1
            };
        let delay = if faults.max_delay.is_zero() {
            Duration::ZERO
        } else {
            faults.max_delay.mul_f64(rng.random::<f64>())
        };
        faults.stats.delivered += copies as u64;
        (copies, delay)
    }
}

impl Transport for LocalTransport {
    fn send(&self, msg: RaftMessage) -> Result<(), TransportError> {
        let to = msg.to_store();
        let Some(sink) = self.shared.sinks.read().get(&to).cloned() else {
            self.shared.faults.lock().stats.unreachable += 1;
            return Err(TransportError::Unreachable(to));
        };
        let (copies, delay) = self.judge(&msg);
        if copies == 0 {
            return Ok(());
        }
        if delay.is_zero() {
            if copies == 2 {
                sink.deliver(msg.clone());
            }
            sink.deliver(msg);
            return Ok(());
        }
        let due = Instant::now() + delay;
        let mut seq = self.shared.seq.lock();
        let mut queue = self.shared.delayed.queue.lock();
        for _ in 0..copies {
            *seq += 1;
            queue.insert((due, *seq), msg.clone());
        }
        self.shared.delayed.wake.notify_one();
        Ok(())
    }
}

fn pair(a: u64, b: u64) -> (u64, u64) {
    (a.min(b), a.max(b))
}

/// Delivers delayed messages when they are due; stops when the last transport handle is gone.
fn deliver_delayed(shared: &std::sync::Weak<Shared>) {
    loop {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let due = {
            let mut queue = shared.delayed.queue.lock();
            if queue.is_empty() {
                shared
                    .delayed
                    .wake
                    .wait_for(&mut queue, Duration::from_millis(50));
            }
            let now = Instant::now();
            let mut due = Vec::new();
            while let Some(entry) = queue.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                due.push(entry.remove());
            }
            if due.is_empty()
                && let Some(((at, _), _)) = queue.first_key_value()
            {
                let wait = at
                    .saturating_duration_since(now)
                    .min(Duration::from_millis(50));
                shared.delayed.wake.wait_for(&mut queue, wait);
            }
            due
        };
        for msg in due {
            let sink = shared.sinks.read().get(&msg.to_store()).cloned();
            if let Some(sink) = sink {
                sink.deliver(msg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use engine::Peer;

    use super::*;

    #[derive(Default)]
    struct Inbox(Mutex<Vec<RaftMessage>>);

    impl MessageSink for Inbox {
        fn deliver(&self, msg: RaftMessage) {
            self.0.lock().push(msg);
        }
    }

    fn msg(from: u64, to: u64, region_id: u64) -> RaftMessage {
        RaftMessage {
            region_id,
            from_peer: Some(Peer {
                id: from,
                store_id: from,
                role: 0,
            }),
            to_peer: Some(Peer {
                id: to,
                store_id: to,
                role: 0,
            }),
            ..RaftMessage::default()
        }
    }

    fn network() -> (LocalTransport, Arc<Inbox>, Arc<Inbox>) {
        let net = LocalTransport::new(7);
        let (a, b) = (Arc::new(Inbox::default()), Arc::new(Inbox::default()));
        net.register(1, a.clone());
        net.register(2, b.clone());
        (net, a, b)
    }

    #[test]
    fn delivers_to_the_registered_store_and_refuses_unknown_ones() {
        let (net, a, b) = network();
        net.send(msg(1, 2, 9)).unwrap();
        assert_eq!(b.0.lock().len(), 1);
        assert!(a.0.lock().is_empty());
        assert_eq!(net.send(msg(1, 3, 9)), Err(TransportError::Unreachable(3)));
    }

    #[test]
    fn partitions_and_isolation_drop_until_healed() {
        let (net, a, b) = network();
        net.partition(2, 1);
        net.send(msg(1, 2, 9)).unwrap();
        net.send(msg(2, 1, 9)).unwrap();
        net.heal();
        net.isolate(1);
        net.send(msg(2, 1, 9)).unwrap();
        assert!(a.0.lock().is_empty() && b.0.lock().is_empty());
        net.heal();
        net.send(msg(2, 1, 9)).unwrap();
        assert_eq!(a.0.lock().len(), 1);
        assert_eq!(net.stats().dropped, 3);
    }

    #[test]
    fn filters_and_duplication() {
        let (net, _, b) = network();
        net.add_filter(Box::new(|m| m.region_id != 5));
        net.send(msg(1, 2, 5)).unwrap();
        assert!(b.0.lock().is_empty(), "the filter drops region 5");
        net.set_duplicate_rate(1.0);
        net.send(msg(1, 2, 6)).unwrap();
        assert_eq!(b.0.lock().len(), 2);
    }

    #[test]
    fn delayed_messages_arrive_later() {
        let (net, _, b) = network();
        net.set_max_delay(Duration::from_millis(30));
        for region in 0..20 {
            net.send(msg(1, 2, region)).unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while b.0.lock().len() < 20 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        let mut regions: Vec<u64> = b.0.lock().iter().map(|m| m.region_id).collect();
        regions.sort_unstable();
        assert_eq!(regions, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn random_loss_follows_the_seed() {
        let run = || {
            let (net, _, b) = network();
            net.set_drop_rate(0.5);
            for region in 0..200 {
                net.send(msg(1, 2, region)).unwrap();
            }
            let got: Vec<u64> = b.0.lock().iter().map(|m| m.region_id).collect();
            got
        };
        let first = run();
        assert!(first.len() > 50 && first.len() < 150, "about half arrive");
        assert_eq!(first, run(), "the same seed drops the same messages");
    }
}
