//! Simulated clients: random puts, deletes and gets on a few keys per region, each recorded in a
//! [`History`] with virtual times.
//!
//! An operation is one history entry however many attempts it takes: an attempt refused with an
//! error that guarantees no effect ([`Error::is_retryable`]) is retried at another store, so the
//! operation either succeeds, fails without effect ([`Outcome::Failed`]: every attempt was
//! refused), or ends unknown ([`Outcome::Unknown`]: an attempt timed out, its store crashed, or
//! the store said the outcome is unknown). Unknown ends the operation at once: retrying a write
//! whose first attempt may still commit would make two writes of one value.
//!
//! Each client has at most one operation in flight, and a key at most
//! [`ClientConfig::ops_per_key_max`], because the checker's cost grows with the operations in
//! flight on one key.

use std::collections::BTreeMap;

use bytes::Bytes;
use rand::RngExt;
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::cmd::{CmdHeader, Mutation};
use crate::error::Error;
use crate::history::{History, OpId, OpKind, Outcome, Reply};
use crate::message::{Callback, RegionRequest, Request, Response, ResponseReceiver};

/// How the clients behave.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Clients, each with at most one operation in flight.
    pub clients: usize,
    /// Operations in flight on one key at most.
    pub ops_per_key_max: usize,
    /// How long a client keeps retrying one operation before giving up on it.
    pub op_timeout_us: u64,
    /// The deadline the store gets with each attempt.
    pub request_timeout_us: u64,
    /// The longest pause before retrying a refused attempt.
    pub retry_backoff_max_us: u64,
}

/// A key and the region holding it.
#[derive(Clone, Debug)]
pub struct SimKey {
    /// The key.
    pub key: Bytes,
    /// The region holding it, and its epoch.
    pub header: CmdHeader,
}

/// An operation in flight.
struct PendingOp {
    id: OpId,
    client: usize,
    key: usize,
    request: Request,
    /// The attempt waiting for an answer, and the store it went to.
    attempt: Option<(ResponseReceiver, u64)>,
    /// When to send the next attempt, when none waits.
    retry_at_us: u64,
    /// When the client gives up.
    give_up_at_us: u64,
}

/// An attempt to send: the request for `store`, made by [`Clients::next_attempt`].
pub struct Attempt {
    /// The store to send it to.
    pub store: u64,
    /// The request.
    pub request: RegionRequest,
}

/// Counters of the clients' operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientStats {
    /// Operations that succeeded.
    pub ok: u64,
    /// Operations refused without effect.
    pub failed: u64,
    /// Operations whose outcome is unknown.
    pub unknown: u64,
    /// Attempts sent.
    pub attempts: u64,
}

/// Every client of a run and the history they record.
pub struct Clients {
    cfg: ClientConfig,
    keys: Vec<SimKey>,
    stores: Vec<u64>,
    /// The leader store each client believes each region has, by `(client, region)`: clients
    /// learn leaders on their own, so some keep asking a deposed leader for a while.
    leaders: BTreeMap<(usize, u64), u64>,
    pending: Vec<PendingOp>,
    history: History,
    next_value: u64,
    stats: ClientStats,
}

impl Clients {
    /// Clients of `keys` on `stores`.
    pub fn new(cfg: ClientConfig, keys: Vec<SimKey>, stores: Vec<u64>) -> Clients {
        Clients {
            cfg,
            keys,
            stores,
            leaders: BTreeMap::new(),
            pending: Vec::new(),
            history: History::new(),
            next_value: 0,
            stats: ClientStats::default(),
        }
    }

    /// Whether some client is idle and some key has room for one more operation.
    pub fn can_start(&self) -> bool {
        self.pending.len() < self.cfg.clients && !self.free_keys().is_empty()
    }

    fn free_keys(&self) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&k| {
                self.pending.iter().filter(|op| op.key == k).count() < self.cfg.ops_per_key_max
            })
            .collect()
    }

    /// Starts a random operation of an idle client on a key with room at `now_us`; returns a
    /// description for the trace.
    pub fn start_random(&mut self, now_us: u64, rng: &mut Xoshiro256PlusPlus) -> Option<String> {
        let free = self.free_keys();
        if free.is_empty() {
            return None;
        }
        let client =
            (0..self.cfg.clients).find(|c| self.pending.iter().all(|op| op.client != *c))?;
        let key = free[rng.random_range(0..free.len())];
        let dice = rng.random_range(0..100);
        let (kind, request) = if dice < 45 {
            self.next_value += 1;
            let value = Bytes::from(format!("v{}", self.next_value));
            self.write_op(key, Some(value))
        } else if dice < 60 {
            self.write_op(key, None)
        } else {
            let k = self.keys[key].key.clone();
            (OpKind::get(k.clone()), Request::Get(k))
        };
        Some(self.start(client, key, kind, request, now_us))
    }

    /// Starts a put of a fresh value on key `key` for client `client` (the liveness check's
    /// writes); returns its id.
    pub fn start_put(&mut self, client: usize, key: usize, now_us: u64) -> OpId {
        self.next_value += 1;
        let value = Bytes::from(format!("v{}", self.next_value));
        let (kind, request) = self.write_op(key, Some(value));
        self.start(client, key, kind, request, now_us);
        self.pending
            .last()
            .expect("invariant: an operation was just started")
            .id
    }

    fn write_op(&self, key: usize, value: Option<Bytes>) -> (OpKind, Request) {
        let k = self.keys[key].key.clone();
        match value {
            Some(value) => (
                OpKind::put(k.clone(), value.clone()),
                Request::Write(vec![Mutation::put(k, value)]),
            ),
            None => (
                OpKind::delete(k.clone()),
                Request::Write(vec![Mutation::delete(k)]),
            ),
        }
    }

    fn start(
        &mut self,
        client: usize,
        key: usize,
        kind: OpKind,
        request: Request,
        now_us: u64,
    ) -> String {
        let line = format!("client {client} invokes {kind}");
        let id = self.history.invoke(client as u64, kind, now_us);
        self.pending.push(PendingOp {
            id,
            client,
            key,
            request,
            attempt: None,
            retry_at_us: now_us,
            give_up_at_us: now_us + self.cfg.op_timeout_us,
        });
        format!("{line} ({id})")
    }

    /// Takes the next attempt due at `now_us`, if any: to the believed leader, or a random store.
    pub fn next_attempt(
        &mut self,
        now_us: u64,
        deadline: impl Fn(u64) -> std::time::Instant,
        rng: &mut Xoshiro256PlusPlus,
    ) -> Option<Attempt> {
        let op = self
            .pending
            .iter_mut()
            .find(|op| op.attempt.is_none() && op.retry_at_us <= now_us)?;
        let header = self.keys[op.key].header;
        // Now and then a client asks any store, as one with a stale or lost cache would.
        let store = match self.leaders.get(&(op.client, header.region_id)) {
            Some(&store) if !rng.random_bool(0.1) => store,
            _ => self.stores[rng.random_range(0..self.stores.len())],
        };
        let (callback, rx) = Callback::new();
        op.attempt = Some((rx, store));
        self.stats.attempts += 1;
        Some(Attempt {
            store,
            request: RegionRequest {
                header,
                request: op.request.clone(),
                deadline: deadline(now_us + self.cfg.request_timeout_us),
                callback,
            },
        })
    }

    /// Collects every answer that arrived, completing or rescheduling operations at `now_us`;
    /// returns trace lines.
    pub fn poll(&mut self, now_us: u64, rng: &mut Xoshiro256PlusPlus) -> Vec<String> {
        let mut lines = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let outcome = self.poll_one(i, now_us, rng, &mut lines);
            match outcome {
                Some(outcome) => {
                    let op = self.pending.swap_remove(i);
                    lines.push(format!("{} completes: {outcome}", op.id));
                    match outcome {
                        Outcome::Ok(_) => self.stats.ok += 1,
                        Outcome::Failed => self.stats.failed += 1,
                        _ => self.stats.unknown += 1,
                    }
                    self.history.complete(op.id, outcome, now_us);
                }
                None => i += 1,
            }
        }
        lines
    }

    /// The outcome of operation `i` if it is over; notes unexpected errors in `lines`.
    fn poll_one(
        &mut self,
        i: usize,
        now_us: u64,
        rng: &mut Xoshiro256PlusPlus,
        lines: &mut Vec<String>,
    ) -> Option<Outcome> {
        let op = &mut self.pending[i];
        let Some((rx, store)) = op.attempt.as_mut() else {
            // Every attempt so far was refused without effect.
            return (now_us >= op.give_up_at_us).then_some(Outcome::Failed);
        };
        let store = *store;
        let answer = match rx.try_recv() {
            Ok(None) => return (now_us >= op.give_up_at_us).then_some(Outcome::Unknown),
            Ok(Some(answer)) => answer,
            // The store crashed with the request: it may have been proposed.
            Err(_) => return Some(Outcome::Unknown),
        };
        let cache_key = (op.client, self.keys[op.key].header.region_id);
        if answer.is_ok() {
            self.leaders.insert(cache_key, store);
        }
        match answer {
            Ok(Response::Written) => Some(Outcome::Ok(Reply::Written)),
            Ok(Response::Value(value)) => Some(Outcome::Ok(Reply::Value(value))),
            Ok(Response::Pairs(_)) => unreachable!("invariant: the simulator sends no scan"),
            Err(err) if err.is_retryable() => {
                match err {
                    Error::NotLeader {
                        leader: Some(leader),
                        ..
                    } if leader != store => {
                        self.leaders.insert(cache_key, leader);
                    }
                    _ => {
                        self.leaders.remove(&cache_key);
                    }
                }
                op.attempt = None;
                op.retry_at_us = now_us + rng.random_range(0..=self.cfg.retry_backoff_max_us);
                None
            }
            Err(err) => {
                // Timeout, OutcomeUnknown: the write may still commit. No other error is
                // expected; the trace shows it, and unknown is the safe reading.
                if !matches!(err, Error::Timeout | Error::OutcomeUnknown { .. }) {
                    lines.push(format!("{} got an unexpected error: {err}", op.id));
                }
                self.leaders.remove(&cache_key);
                Some(Outcome::Unknown)
            }
        }
    }

    /// Whether operation `id` is still in flight.
    pub fn is_pending(&self, id: OpId) -> bool {
        self.pending.iter().any(|op| op.id == id)
    }

    /// Whether no operation is in flight.
    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }

    /// The keys.
    pub fn keys(&self) -> &[SimKey] {
        &self.keys
    }

    /// The history so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// What the clients did so far.
    pub fn stats(&self) -> ClientStats {
        self.stats
    }
}
