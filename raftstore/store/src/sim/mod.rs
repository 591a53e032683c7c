//! The deterministic store simulator: the real store code (peers, store writer, apply side) on
//! the `mem` engine, on one thread, in virtual time, over a faulty simulated network, with
//! crashes that lose unsynced writes; random client operations are recorded as a history and
//! checked for linearizability (compare tigerbeetle's VOPR and tikv's `transport_simulate.rs`).
//!
//! ```text
//!            seed ─► Xoshiro256++ ─► every choice below
//!   step: advance virtual time ─► ticks, restarts ─► deliver every due message, in random
//!         order ─► one action: raft round │ writer round (fsync) │ apply round
//!         │ start a client operation │ crash a store │ partition │ stall │ pause a store
//!       ─► collect client answers ─► send due client attempts ─► invariants
//!   end:  heal, restart, settle ─► liveness: every region takes a write
//!       ─► convergence: replicas at the same applied index hold the same data
//!       ─► history::check: the clients' history is linearizable
//! ```
//!
//! Everything a run does follows from its seed: the stores' queues are explicit and first in,
//! first out, the network's fates come from the run's generator, the peers' election jitter is
//! seeded from it, and time is `base + virtual offset`, never the wall clock. So a failing seed
//! replays exactly, with a full trace (`SIM_SEED=<n> cargo test -p raftstore --test store_sim`).
//!
//! The invariants checked after every step: at most one leader per region and term, and an
//! applied index that never goes backwards within one life of a peer.
//!
//! Not simulated yet: membership changes, splits, merges, snapshots and clock drift between
//! stores (the lease assumes drift stays under `lease_margin`, so drift past it is not a bug).

mod client;
mod network;
mod store;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::MemEngine;
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::cluster::{bootstrap_regions, split_key};
use crate::cmd::CmdHeader;
use crate::config::StoreConfig;
use crate::history::{self, CheckResult, OpId, Outcome};
use crate::message::{PeerMsg, RaftMessage};
use crate::node::bootstrap;
pub use client::ClientStats;
use client::{ClientConfig, Clients, SimKey};
pub use network::NetworkStats;
use network::{Network, NetworkFaults};
use store::SimStore;

/// What a run simulates; the seed decides the rest (store count, fault rates).
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Steps with faults, before healing.
    pub steps: usize,
    /// Regions, pre-split.
    pub regions: u64,
    /// Keys per region the clients use.
    pub keys_per_region: u64,
    /// Concurrent clients.
    pub clients: usize,
    /// Keep every trace line (replays), instead of the last [`TRACE_TAIL_LINES`].
    pub full_trace: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            steps: 3000,
            regions: 4,
            keys_per_region: 2,
            clients: 8,
            full_trace: false,
        }
    }
}

/// Trace lines a failure shows when the run does not keep them all.
pub const TRACE_TAIL_LINES: usize = 400;

/// The virtual length of a store tick; only ratios to it matter.
const TICK_US: u64 = 10_000;

/// Fault chances per step, out of [`CHANCE_DENOMINATOR`]: with the default 3000 steps, about
/// one crash, two partitions, two stalls and two pauses per run.
const CHANCE_DENOMINATOR: u32 = 10_000;
/// The chance of crashing a running store.
const CRASH_CHANCE: u32 = 4;
/// The chance of a partition starting, when none is in place.
const PARTITION_CHANCE: u32 = 6;
/// The chance of everything stalling (no step runs for up to two election timeouts).
const STALL_CHANCE: u32 = 6;
/// The chance of one store's pollers and writer pausing while callers still reach it.
const PAUSE_CHANCE: u32 = 6;

/// What a passing run did.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// The seed.
    pub seed: u64,
    /// Stores simulated.
    pub stores: usize,
    /// Steps taken, healing and checks included.
    pub steps: usize,
    /// Virtual time simulated.
    pub virtual_time: Duration,
    /// Store crashes.
    pub crashes: u64,
    /// Reads served under a lease.
    pub local_reads: u64,
    /// The clients' operations.
    pub clients: ClientStats,
    /// The network's work.
    pub network: NetworkStats,
    /// The trace (the whole of it only with [`SimConfig::full_trace`]).
    pub trace: Vec<String>,
}

/// A failed run: the seed, what went wrong, and the trace leading there.
#[derive(Clone, Debug)]
pub struct SimFailure {
    /// The seed, to replay with `SIM_SEED`.
    pub seed: u64,
    /// What went wrong.
    pub reason: String,
    /// The trace (the last lines only, unless the run kept them all).
    pub trace: Vec<String>,
}

impl fmt::Display for SimFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {}: {}", self.seed, self.reason)?;
        writeln!(f, "--- trace ({} lines) ---", self.trace.len())?;
        for line in &self.trace {
            writeln!(f, "{line}")?;
        }
        write!(
            f,
            "--- replay: SIM_SEED={} cargo test -p raftstore --test store_sim ---",
            self.seed
        )
    }
}

/// Runs seed `seed`.
///
/// # Errors
///
/// A [`SimFailure`] when an invariant breaks, a region stays unavailable after healing,
/// replicas diverge, or the history is not linearizable.
pub fn run(seed: u64, cfg: &SimConfig) -> Result<SimReport, SimFailure> {
    let mut sim = Sim::new(seed, cfg.clone());
    match sim.run_phases() {
        Ok(()) => Ok(SimReport {
            seed,
            stores: sim.stores.len(),
            steps: sim.step,
            virtual_time: Duration::from_micros(sim.now_us),
            crashes: sim.crashes,
            local_reads: sim.stores.iter().map(|s| s.local_reads).sum(),
            clients: sim.clients.stats(),
            network: sim.net.stats(),
            trace: sim.trace.lines,
        }),
        Err(reason) => Err(SimFailure {
            seed,
            reason,
            trace: sim.trace.lines,
        }),
    }
}

/// The trace of a run: one line per event, stamped with virtual time.
struct Trace {
    lines: Vec<String>,
    full: bool,
}

impl Trace {
    fn push(&mut self, now_us: u64, line: &str) {
        if !self.full && self.lines.len() >= 2 * TRACE_TAIL_LINES {
            self.lines.drain(..TRACE_TAIL_LINES);
        }
        self.lines.push(format!("{now_us:>10} {line}"));
    }
}

/// Whether faults happen and clients start operations.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Chaos,
    Calm,
}

/// One thing a step does.
#[derive(Clone, Copy, Debug)]
enum Action {
    RaftRound(usize),
    WriterRound(usize),
    ApplyRound(usize),
    StartOp,
    Crash(usize),
    Partition,
    Stall,
    Pause(usize),
    Idle,
}

struct Sim {
    cfg: SimConfig,
    rng: Xoshiro256PlusPlus,
    /// Virtual time zero; virtual time `t` is `base + t µs` for the store code.
    base: Instant,
    now_us: u64,
    store_cfg: Arc<StoreConfig>,
    stores: Vec<SimStore>,
    net: Network,
    clients: Clients,
    /// The leader seen for each (region, term): two in one term breaks election safety.
    leaders: BTreeMap<(u64, u64), u64>,
    /// The applied index last seen for each (store, region) in the peer's current life.
    applied: BTreeMap<(u64, u64), u64>,
    /// When the current partition heals.
    heal_at_us: Option<u64>,
    crashes: u64,
    step: usize,
    trace: Trace,
}

impl Sim {
    fn new(seed: u64, cfg: SimConfig) -> Sim {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let store_count: u64 = if rng.random_bool(0.25) { 5 } else { 3 };
        let store_ids: Vec<u64> = (1..=store_count).collect();
        let store_cfg = Arc::new(StoreConfig {
            tick_interval: Duration::from_micros(TICK_US),
            election_ticks: 10,
            heartbeat_ticks: 2,
            lease_margin: Duration::from_micros(2 * TICK_US),
            request_timeout: Duration::from_micros(30 * TICK_US),
            raft_seed: rng.random(),
            // Off by default while a liveness question is open; the simulator keeps it covered.
            dormant_followers: true,
            ..StoreConfig::default()
        });
        let faults = NetworkFaults {
            drop_rate: rng.random_range(0.0..0.1),
            duplicate_rate: rng.random_range(0.0..0.05),
            latency_max_us: rng.random_range(TICK_US / 20..=TICK_US / 2),
            long_delay_rate: rng.random_range(0.0..0.05),
            long_delay_max_us: 3 * TICK_US,
        };
        let regions = bootstrap_regions(cfg.regions, &store_ids);
        let base = Instant::now();
        let stores = store_ids
            .iter()
            .map(|&id| {
                let engine = MemEngine::new();
                bootstrap(&engine, &regions).expect("invariant: bootstrapping a mem engine");
                let cfg = StoreConfig {
                    store_id: id,
                    ..StoreConfig::clone(&store_cfg)
                };
                let mut store = SimStore::start(id, Arc::new(cfg), engine, base);
                store.next_tick_us = rng.random_range(0..TICK_US);
                store
            })
            .collect();
        let keys = sim_keys(&regions, cfg.keys_per_region);
        let client_cfg = ClientConfig {
            clients: cfg.clients,
            ops_per_key_max: 4,
            op_timeout_us: 60 * TICK_US,
            request_timeout_us: 30 * TICK_US,
            retry_backoff_max_us: TICK_US,
        };
        let full = cfg.full_trace;
        let mut sim = Sim {
            cfg,
            rng,
            base,
            now_us: 0,
            store_cfg,
            stores,
            net: Network::new(faults.clone()),
            clients: Clients::new(client_cfg, keys, store_ids),
            leaders: BTreeMap::new(),
            applied: BTreeMap::new(),
            heal_at_us: None,
            crashes: 0,
            step: 0,
            trace: Trace {
                lines: Vec::new(),
                full,
            },
        };
        sim.log(&format!(
            "seed {seed}: {store_count} stores, {} regions, {faults:?}",
            sim.cfg.regions
        ));
        sim
    }

    fn run_phases(&mut self) -> Result<(), String> {
        for _ in 0..self.cfg.steps {
            self.step(Phase::Chaos)?;
        }
        self.heal();
        let settle_until = self.now_us + 3 * self.election_timeout_us();
        while self.now_us < settle_until {
            self.step(Phase::Calm)?;
        }
        self.check_liveness()?;
        self.check_convergence()?;
        self.log("checking the history");
        match history::check(self.clients.history()) {
            CheckResult::Linearizable => Ok(()),
            other => Err(format!("history not linearizable: {other}")),
        }
    }

    fn election_timeout_us(&self) -> u64 {
        self.store_cfg.election_timeout().as_micros() as u64
    }

    fn instant(&self, at_us: u64) -> Instant {
        self.base + Duration::from_micros(at_us)
    }

    fn log(&mut self, line: &str) {
        self.trace.push(self.now_us, line);
    }

    fn step(&mut self, phase: Phase) -> Result<(), String> {
        self.step += 1;
        self.now_us += 1 + self.rng.random_range(0..=TICK_US / 15);
        self.fire_timers(phase);
        while self.net.due_count(self.now_us) > 0 {
            self.deliver();
        }
        let action = self.pick(phase);
        self.act(action);
        self.serve_clients();
        self.check_invariants()
    }

    /// Ticks every running store whose tick is due, restarts crashed stores whose time came,
    /// and heals a partition whose time came.
    fn fire_timers(&mut self, phase: Phase) {
        let now = self.instant(self.now_us);
        for i in 0..self.stores.len() {
            let store = &mut self.stores[i];
            if !store.is_up() && (store.restart_at_us <= self.now_us || phase == Phase::Calm) {
                store.restart(now);
                store.next_tick_us = self.now_us + self.rng.random_range(0..TICK_US);
                let id = store.id;
                self.applied.retain(|&(s, _), _| s != id);
                self.log(&format!("s{id} restarts"));
            }
            let store = &mut self.stores[i];
            while store.is_up() && store.next_tick_us <= self.now_us {
                store.tick();
                store.next_tick_us += TICK_US;
            }
        }
        if self.heal_at_us.is_some_and(|at| at <= self.now_us) {
            self.heal_at_us = None;
            self.net.heal_partitions();
            self.log("partition heals");
        }
    }

    fn pick(&mut self, phase: Phase) -> Action {
        let mut choices: Vec<(u32, Action)> = Vec::with_capacity(24);
        for (i, store) in self.stores.iter().enumerate() {
            if store.paused_until_us > self.now_us {
                continue;
            }
            if store.has_mail() {
                choices.push((100, Action::RaftRound(i)));
            }
            if store.has_writes() {
                choices.push((40, Action::WriterRound(i)));
            }
            if store.has_applies() {
                choices.push((40, Action::ApplyRound(i)));
            }
        }
        if phase == Phase::Chaos {
            if let Some(fault) = self.pick_fault() {
                return fault;
            }
            if self.clients.can_start() {
                choices.push((100, Action::StartOp));
            }
        }
        choices.push((30, Action::Idle));
        let total: u32 = choices.iter().map(|(w, _)| w).sum();
        let mut roll = self.rng.random_range(0..total);
        for (weight, action) in choices {
            if roll < weight {
                return action;
            }
            roll -= weight;
        }
        unreachable!("invariant: the roll is below the total weight")
    }

    /// A fault, rarely: each kind has a fixed chance per step, so how often faults strike does
    /// not depend on how much other work there is.
    fn pick_fault(&mut self) -> Option<Action> {
        let roll = self.rng.random_range(0..CHANCE_DENOMINATOR);
        if roll < CRASH_CHANCE {
            let up: Vec<usize> = (0..self.stores.len())
                .filter(|&i| self.stores[i].is_up())
                .collect();
            (!up.is_empty()).then(|| Action::Crash(up[self.rng.random_range(0..up.len())]))
        } else if roll < CRASH_CHANCE + PARTITION_CHANCE {
            (!self.net.is_partitioned()).then_some(Action::Partition)
        } else if roll < CRASH_CHANCE + PARTITION_CHANCE + STALL_CHANCE {
            Some(Action::Stall)
        } else if roll < CRASH_CHANCE + PARTITION_CHANCE + STALL_CHANCE + PAUSE_CHANCE {
            Some(Action::Pause(self.rng.random_range(0..self.stores.len())))
        } else {
            None
        }
    }

    fn act(&mut self, action: Action) {
        let now = self.instant(self.now_us);
        match action {
            Action::RaftRound(i) => {
                let (handled, out) = self.stores[i].raft_round(now);
                self.act_send(i, "raft round", handled, out);
            }
            Action::WriterRound(i) => {
                let (written, out) = self.stores[i].writer_round(&mut self.rng);
                self.act_send(i, "writer round", written, out);
            }
            Action::ApplyRound(i) => {
                let applied = self.stores[i].apply_round(&mut self.rng);
                self.log(&format!(
                    "s{} apply round: {applied} tasks",
                    self.stores[i].id
                ));
            }
            Action::StartOp => {
                if let Some(line) = self.clients.start_random(self.now_us, &mut self.rng) {
                    self.log(&line);
                }
            }
            Action::Crash(i) => self.crash(i),
            Action::Partition => self.partition(),
            Action::Stall => {
                let stall = self.rng.random_range(0..=2 * self.election_timeout_us());
                self.now_us += stall;
                self.log(&format!("everything stalls for {stall} µs"));
            }
            Action::Pause(i) => {
                let pause = self.rng.random_range(0..=3 * self.election_timeout_us());
                let store = &mut self.stores[i];
                store.paused_until_us = store.paused_until_us.max(self.now_us + pause);
                let id = store.id;
                self.log(&format!("s{id} pauses for {pause} µs"));
            }
            Action::Idle => {}
        }
    }

    /// Traces a round of store `i` that handled `count` items, and sends what it let out.
    fn act_send(&mut self, i: usize, round: &str, count: usize, out: Vec<RaftMessage>) {
        let id = self.stores[i].id;
        self.log(&format!(
            "s{id} {round}: {count} handled, {} out",
            out.len()
        ));
        self.send_all(out);
    }

    fn deliver(&mut self) {
        let Some(msg) = self.net.take_due(self.now_us, &mut self.rng) else {
            return;
        };
        let line = describe(&msg);
        let to = msg.to_store();
        let region_id = msg.region_id;
        let store = &mut self.stores[(to - 1) as usize];
        if store
            .deliver(region_id, PeerMsg::Raft(Box::new(msg)))
            .is_some()
        {
            self.net.count_dropped();
            self.log(&format!("{line} lost: s{to} is down"));
        } else {
            self.log(&line);
        }
    }

    fn send_all(&mut self, msgs: Vec<RaftMessage>) {
        for msg in msgs {
            self.net.send(msg, self.now_us, &mut self.rng);
        }
    }

    fn crash(&mut self, i: usize) {
        let unsynced = self.stores[i].unsynced_batches();
        let kept = self.rng.random_range(0..=unsynced);
        let down_us = self.rng.random_range(0..=3 * self.election_timeout_us());
        let store = &mut self.stores[i];
        store.crash(kept);
        store.restart_at_us = self.now_us + down_us;
        self.crashes += 1;
        let id = store.id;
        self.log(&format!(
            "s{id} crashes, keeping {kept} of {unsynced} unsynced batches, down {down_us} µs"
        ));
    }

    fn partition(&mut self) {
        let ids: Vec<u64> = self.stores.iter().map(|s| s.id).collect();
        let side_len = self.rng.random_range(1..=ids.len() / 2);
        let mut side = ids.clone();
        while side.len() > side_len {
            side.swap_remove(self.rng.random_range(0..side.len()));
        }
        side.sort_unstable();
        self.net.partition(&side, &ids);
        let lasts = self.rng.random_range(1..=5 * self.election_timeout_us());
        self.heal_at_us = Some(self.now_us + lasts);
        self.log(&format!(
            "partition: {side:?} cut from the rest for {lasts} µs"
        ));
    }

    /// Heals the network, ends pauses and restarts every store at the next step; faults stop.
    fn heal(&mut self) {
        self.net.heal();
        self.heal_at_us = None;
        for store in &mut self.stores {
            store.paused_until_us = 0;
        }
        self.log("heal: the network is reliable from now on, stores restart");
    }

    /// Collects client answers, then sends the attempts that are due.
    fn serve_clients(&mut self) {
        for line in self.clients.poll(self.now_us, &mut self.rng) {
            self.trace.push(self.now_us, &line);
        }
        let base = self.base;
        let deadline = |at_us: u64| base + Duration::from_micros(at_us);
        while let Some(attempt) = self
            .clients
            .next_attempt(self.now_us, deadline, &mut self.rng)
        {
            let now = self.instant(self.now_us);
            self.stores[(attempt.store - 1) as usize].request(attempt.request, now);
        }
        // Lease reads answer at once.
        for line in self.clients.poll(self.now_us, &mut self.rng) {
            self.trace.push(self.now_us, &line);
        }
    }

    fn check_invariants(&mut self) -> Result<(), String> {
        for store in &self.stores {
            for peer in store.peers() {
                let region_id = peer.region_id();
                if peer.is_leader() {
                    let leader = *self
                        .leaders
                        .entry((region_id, peer.term()))
                        .or_insert(store.id);
                    if leader != store.id {
                        return Err(format!(
                            "region {region_id}: two leaders in term {}: s{leader} and s{}",
                            peer.term(),
                            store.id
                        ));
                    }
                }
                let applied = peer.storage().apply_state().applied_index;
                let seen = self.applied.entry((store.id, region_id)).or_insert(applied);
                if applied < *seen {
                    return Err(format!(
                        "region {region_id} on s{}: applied index went back from {} to {applied}",
                        store.id, *seen
                    ));
                }
                *seen = applied;
            }
        }
        Ok(())
    }

    /// After healing, every region must elect a leader and take a write within a bound.
    fn check_liveness(&mut self) -> Result<(), String> {
        let deadline_us = self.now_us + 30 * self.election_timeout_us();
        let client_base = self.cfg.clients;
        let mut waiting: BTreeMap<u64, (usize, Option<OpId>)> = BTreeMap::new();
        for (i, key) in self.clients.keys().iter().enumerate() {
            waiting.entry(key.header.region_id).or_insert((i, None));
        }
        self.log("liveness: one write per region");
        while !waiting.is_empty() {
            if self.now_us > deadline_us {
                return Err(format!(
                    "liveness: regions {:?} took no write within {} µs after healing",
                    waiting.keys().collect::<Vec<_>>(),
                    30 * self.election_timeout_us()
                ));
            }
            let mut done = Vec::new();
            for (&region_id, (key, op)) in &mut waiting {
                match *op {
                    Some(id) if self.clients.is_pending(id) => {}
                    Some(id) if matches!(self.clients.history().op(id).outcome, Outcome::Ok(_)) => {
                        done.push(region_id);
                    }
                    _ => {
                        let client = client_base + region_id as usize;
                        *op = Some(self.clients.start_put(client, *key, self.now_us));
                    }
                }
            }
            for region_id in done {
                waiting.remove(&region_id);
            }
            self.step(Phase::Calm)?;
        }
        // Elections may still be settling (a store that was paused campaigns on its backlog of
        // ticks), so wait for leaders within the same bound.
        loop {
            let leaderless: Vec<u64> = (1..=self.cfg.regions)
                .filter(|&region_id| {
                    !self.stores.iter().any(|s| {
                        s.peer(region_id)
                            .is_some_and(crate::peer::PeerFsm::is_leader)
                    })
                })
                .collect();
            if leaderless.is_empty() {
                return Ok(());
            }
            if self.now_us > deadline_us {
                return Err(format!("liveness: regions {leaderless:?} have no leader"));
            }
            self.step(Phase::Calm)?;
        }
    }

    /// Once quiet, replicas of a region must reach the same applied index and hold the same data.
    fn check_convergence(&mut self) -> Result<(), String> {
        let deadline_us = self.now_us + 10 * self.election_timeout_us();
        loop {
            let mut diverged = None;
            let mut behind = false;
            for region_id in 1..=self.cfg.regions {
                let mut replicas = Vec::new();
                for store in &self.stores {
                    let data = store.region_data(region_id).map_err(|e| e.to_string())?;
                    replicas.push((store.id, data));
                }
                let (first_id, (first_applied, first_data)) = &replicas[0];
                for (id, (applied, data)) in &replicas[1..] {
                    if applied != first_applied {
                        behind = true;
                    } else if data != first_data {
                        let logs: Vec<String> = self
                            .stores
                            .iter()
                            .map(|s| format!("s{}:{}", s.id, s.log_summary(region_id, *applied)))
                            .collect();
                        diverged = Some(format!(
                            "region {region_id}: s{first_id} and s{id} both applied {applied} \
                             but hold different data: {first_data:?} vs {data:?}; logs:\n{}",
                            logs.join("\n")
                        ));
                    }
                }
            }
            if let Some(reason) = diverged {
                return Err(reason);
            }
            if !behind && self.clients.is_idle() {
                return Ok(());
            }
            if self.now_us > deadline_us {
                return Err("convergence: replicas did not reach the same applied index".into());
            }
            self.step(Phase::Calm)?;
        }
    }
}

/// The keys clients use: `per_region` keys inside each region.
fn sim_keys(regions: &[engine::Region], per_region: u64) -> Vec<SimKey> {
    let count = regions.len() as u64;
    let mut keys = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        for k in 0..per_region {
            let mut key = split_key(i as u64, count).to_vec();
            key.extend_from_slice(format!("k{k}").as_bytes());
            let key = Bytes::from(key);
            debug_assert!(region.contains(&key), "a client key lies in its region");
            keys.push(SimKey {
                key,
                header: CmdHeader {
                    region_id: region.id,
                    epoch: region.epoch,
                },
            });
        }
    }
    keys
}

/// One line for the trace about a raft message.
fn describe(msg: &RaftMessage) -> String {
    let m = msg.message.as_ref();
    let mut line = format!(
        "s{}->s{} r{} {:?} term={}",
        msg.from_store(),
        msg.to_store(),
        msg.region_id,
        m.map(raft::raftpb::Message::msg_type),
        m.map_or(0, |m| m.term),
    );
    if let Some(m) = m {
        use std::fmt::Write as _;
        let _ = write!(
            line,
            " index={} log_term={} commit={} entries={}{}",
            m.index,
            m.log_term,
            m.commit,
            m.entries.len(),
            if m.reject { " reject" } else { "" }
        );
    }
    line
}
