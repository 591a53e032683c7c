//! The simulated network: messages in flight between nodes, and the faults applied to them.
//!
//! A message sent at virtual time `now` becomes deliverable at `now + latency`. Delivery picks
//! a random deliverable message (reordering) or the oldest one of a random link (FIFO links),
//! and may drop or duplicate it. Partitions block directed links until they heal at their
//! expiry time (or all at once); a message on a blocked link is dropped when it would be
//! delivered, as a real transport would fail to send it.
//!
//! ```text
//!  send(msg) ──► in_flight ──(now >= deliver_at, link open, not dropped)──► recipient.step
//!                    ▲  └─(duplicated)─┐
//!                    └─────────────────┘
//! ```

use std::collections::BTreeSet;

use raft::raftpb::Message;

use crate::rng::SimRng;

/// The fault settings of one seed's network.
#[derive(Clone, Debug)]
pub struct NetworkOptions {
    /// The chance that a delivered message is dropped instead.
    pub drop_rate: f64,
    /// The chance that a delivered message is also delivered again later.
    pub duplicate_rate: f64,
    /// The chance that a message is delayed by up to `delay_ticks_max` ticks.
    pub delay_rate: f64,
    /// The longest delay, in ticks.
    pub delay_ticks_max: u64,
    /// Whether delivery order on one link may differ from send order.
    pub reorder: bool,
    /// The most messages in flight; further sends are dropped (a full transport queue).
    pub in_flight_max: usize,
}

impl NetworkOptions {
    /// A network that neither loses, duplicates nor delays anything (the liveness phase).
    pub fn quiet() -> NetworkOptions {
        NetworkOptions {
            drop_rate: 0.0,
            duplicate_rate: 0.0,
            delay_rate: 0.0,
            delay_ticks_max: 0,
            reorder: false,
            in_flight_max: usize::MAX,
        }
    }
}

/// A message on its way.
#[derive(Clone, Debug)]
pub struct InFlight {
    /// The send order, which FIFO links deliver by.
    pub seq: u64,
    /// The virtual time from which it may be delivered.
    pub deliver_at: u64,
    /// The message.
    pub msg: Message,
}

/// A set of blocked directed links, lifted at `heal_at`.
#[derive(Clone, Debug)]
pub struct Partition {
    /// The blocked (from, to) links.
    pub links: BTreeSet<(u64, u64)>,
    /// The virtual time at which the links open again.
    pub heal_at: u64,
    /// What it is, for the trace.
    pub name: String,
}

/// What happened to a message chosen for delivery.
#[derive(Debug)]
pub enum Delivery {
    /// Hand it to its recipient.
    Deliver(Message),
    /// It was lost (randomly, or on a blocked link when `blocked`).
    Dropped {
        /// The message.
        msg: Message,
        /// Whether a partition blocked it (the sender's transport notices).
        blocked: bool,
    },
}

/// Messages in flight and the partitions in force.
pub struct Network {
    /// The current fault settings.
    pub options: NetworkOptions,
    /// Messages in flight, in send order.
    pub in_flight: Vec<InFlight>,
    /// The partitions in force.
    pub partitions: Vec<Partition>,
    next_seq: u64,
}

impl Network {
    /// An empty network.
    pub fn new(options: NetworkOptions) -> Network {
        Network {
            options,
            in_flight: Vec::new(),
            partitions: Vec::new(),
            next_seq: 0,
        }
    }

    /// Sends `msg`, deliverable after a random latency. Returns false if the transport queue
    /// was full and the message was dropped.
    pub fn send(&mut self, msg: Message, now: u64, rng: &mut SimRng) -> bool {
        if self.in_flight.len() >= self.options.in_flight_max {
            return false;
        }
        let delay = if rng.chance(self.options.delay_rate) {
            rng.between(1, self.options.delay_ticks_max.max(1))
        } else {
            0
        };
        self.next_seq += 1;
        self.in_flight.push(InFlight {
            seq: self.next_seq,
            deliver_at: now + delay,
            msg,
        });
        true
    }

    /// Whether the link `from -> to` is blocked by a partition.
    pub fn blocked(&self, from: u64, to: u64) -> bool {
        self.partitions
            .iter()
            .any(|p| p.links.contains(&(from, to)))
    }

    /// Whether some message can be delivered at `now`.
    pub fn has_deliverable(&self, now: u64) -> bool {
        self.in_flight.iter().any(|m| m.deliver_at <= now)
    }

    /// Takes one deliverable message, applying drops, duplicates and partitions.
    pub fn next_delivery(&mut self, now: u64, rng: &mut SimRng) -> Option<Delivery> {
        let deliverable: Vec<usize> = (0..self.in_flight.len())
            .filter(|&i| self.in_flight[i].deliver_at <= now)
            .collect();
        if deliverable.is_empty() {
            return None;
        }
        let mut idx = deliverable[rng.index(deliverable.len())];
        if !self.options.reorder {
            // Deliver the oldest message of the chosen link instead.
            let (from, to) = (self.in_flight[idx].msg.from, self.in_flight[idx].msg.to);
            idx = deliverable
                .iter()
                .copied()
                .filter(|&i| self.in_flight[i].msg.from == from && self.in_flight[i].msg.to == to)
                .min_by_key(|&i| self.in_flight[i].seq)
                .expect("invariant: the chosen message is on its own link");
        }
        // `remove` keeps send order, which FIFO links rely on.
        let item = self.in_flight.remove(idx);
        let msg = item.msg;
        if self.blocked(msg.from, msg.to) {
            return Some(Delivery::Dropped { msg, blocked: true });
        }
        if rng.chance(self.options.drop_rate) {
            return Some(Delivery::Dropped {
                msg,
                blocked: false,
            });
        }
        if rng.chance(self.options.duplicate_rate) {
            let copy = msg.clone();
            self.send(copy, now, rng);
        }
        Some(Delivery::Deliver(msg))
    }

    /// Adds a partition blocking `links` until `heal_at`.
    pub fn partition(&mut self, name: String, links: BTreeSet<(u64, u64)>, heal_at: u64) {
        self.partitions.push(Partition {
            links,
            heal_at,
            name,
        });
    }

    /// Lifts the partitions whose time has come; returns their names.
    pub fn heal_expired(&mut self, now: u64) -> Vec<String> {
        let (healed, kept): (Vec<Partition>, Vec<Partition>) = std::mem::take(&mut self.partitions)
            .into_iter()
            .partition(|p| p.heal_at <= now);
        self.partitions = kept;
        healed.into_iter().map(|p| p.name).collect()
    }

    /// Lifts every partition.
    pub fn heal_all(&mut self) {
        self.partitions.clear();
    }
}
