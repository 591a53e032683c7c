//! The simulated network: messages between stores in flight, with loss, duplication, delay
//! (and so reordering) and partitions, every fate drawn from the run's seeded generator.
//!
//! ```text
//! send(msg, now) ─► cut link? loss? ─► 1 or 2 copies, each due at now + latency ─► in flight
//! take_due(now) ─► any due message, at random (reordering) ─► cut link? ─► store
//! ```
//!
//! A partition cuts links both ways; messages already in flight over a link that is cut when
//! they would arrive are lost too, as a real network would lose them.

use std::collections::BTreeSet;

use rand::RngExt;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::message::RaftMessage;

/// How unreliable the network is during a run (healing sets the fault rates to zero).
#[derive(Clone, Debug)]
pub struct NetworkFaults {
    /// Probability that a message is lost.
    pub drop_rate: f64,
    /// Probability that a message arrives twice.
    pub duplicate_rate: f64,
    /// The usual latency is uniform in `0..=latency_max_us`.
    pub latency_max_us: u64,
    /// Probability that a message is held up to `long_delay_max_us` instead (reordering it far
    /// behind later messages).
    pub long_delay_rate: f64,
    /// The longest hold-up of a delayed message.
    pub long_delay_max_us: u64,
}

/// A message on its way, due at `due_us`.
struct InFlight {
    due_us: u64,
    msg: RaftMessage,
}

/// Counters of what the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages lost (random loss, cut links, stopped stores).
    pub dropped: u64,
    /// Extra copies sent.
    pub duplicated: u64,
}

/// The network of one run.
pub struct Network {
    faults: NetworkFaults,
    /// Unordered pairs of stores that cannot talk, `(low, high)`.
    cut: BTreeSet<(u64, u64)>,
    /// Unbounded on purpose: it holds what the stores sent and is not due yet; the simulator
    /// delivers every due message at each step, so it holds at most a few latencies' worth.
    in_flight: Vec<InFlight>,
    stats: NetworkStats,
}

impl Network {
    /// A connected network with `faults`.
    pub fn new(faults: NetworkFaults) -> Network {
        Network {
            faults,
            cut: BTreeSet::new(),
            in_flight: Vec::new(),
            stats: NetworkStats::default(),
        }
    }

    /// Sends `msg` at virtual time `now_us`.
    pub fn send(&mut self, msg: RaftMessage, now_us: u64, rng: &mut Xoshiro256PlusPlus) {
        self.stats.sent += 1;
        if self.is_cut(msg.from_store(), msg.to_store()) || rng.random_bool(self.faults.drop_rate) {
            self.stats.dropped += 1;
            return;
        }
        if rng.random_bool(self.faults.duplicate_rate) {
            self.stats.duplicated += 1;
            let due_us = now_us + self.latency_us(rng);
            self.in_flight.push(InFlight {
                due_us,
                msg: msg.clone(),
            });
        }
        let due_us = now_us + self.latency_us(rng);
        self.in_flight.push(InFlight { due_us, msg });
    }

    fn latency_us(&self, rng: &mut Xoshiro256PlusPlus) -> u64 {
        if rng.random_bool(self.faults.long_delay_rate) {
            rng.random_range(0..=self.faults.long_delay_max_us)
        } else {
            rng.random_range(0..=self.faults.latency_max_us)
        }
    }

    /// How many messages are due at `now_us`.
    pub fn due_count(&self, now_us: u64) -> usize {
        self.in_flight.iter().filter(|m| m.due_us <= now_us).count()
    }

    /// Takes one due message, chosen at random among the due ones; `None` if none is due or the
    /// chosen one is lost to a cut link.
    pub fn take_due(&mut self, now_us: u64, rng: &mut Xoshiro256PlusPlus) -> Option<RaftMessage> {
        let due = self.due_count(now_us);
        if due == 0 {
            return None;
        }
        let nth = rng.random_range(0..due);
        let index = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, m)| m.due_us <= now_us)
            .nth(nth)
            .map(|(i, _)| i)
            .expect("invariant: nth is below the number of due messages");
        let InFlight { msg, .. } = self.in_flight.swap_remove(index);
        if self.is_cut(msg.from_store(), msg.to_store()) {
            self.stats.dropped += 1;
            return None;
        }
        Some(msg)
    }

    /// Counts a message lost at its destination (the store was down).
    pub fn count_dropped(&mut self) {
        self.stats.dropped += 1;
    }

    /// Cuts every link between a store of `side` and a store not in it.
    pub fn partition(&mut self, side: &[u64], stores: &[u64]) {
        for &a in side {
            for &b in stores {
                if !side.contains(&b) {
                    self.cut.insert((a.min(b), a.max(b)));
                }
            }
        }
    }

    /// Whether any link is cut.
    pub fn is_partitioned(&self) -> bool {
        !self.cut.is_empty()
    }

    /// Reconnects every link.
    pub fn heal_partitions(&mut self) {
        self.cut.clear();
    }

    /// Reconnects every link and stops losing, duplicating and holding up messages.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.faults.drop_rate = 0.0;
        self.faults.duplicate_rate = 0.0;
        self.faults.long_delay_rate = 0.0;
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetworkStats {
        self.stats
    }

    fn is_cut(&self, a: u64, b: u64) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }
}
