//! One benchmark thread: its groups, its clients, and the round loop that drives them.

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;

use super::group::{Group, RoundStats};
use super::{Options, TICK};

/// How long leader election and settling may take before the run is declared broken.
const SETTLE_TIMEOUT: Duration = Duration::from_mins(2);

/// Groups that campaign together while leaders are elected.
const ELECTION_WAVE_GROUPS: usize = 256;

/// What one thread measured.
pub struct DriverResult {
    /// Proposals applied at their leader during the measurement.
    pub ops: u64,
    /// Rounds run during the measurement.
    pub rounds: u64,
    /// The length of the measurement.
    pub measured: Duration,
    /// Proposal latency in microseconds.
    pub latency: Histogram<u64>,
    /// Message counts.
    pub stats: RoundStats,
}

impl Default for DriverResult {
    fn default() -> DriverResult {
        DriverResult {
            ops: 0,
            rounds: 0,
            measured: Duration::ZERO,
            latency: Histogram::new(3).expect("invariant: 3 significant figures is valid"),
            stats: RoundStats::default(),
        }
    }
}

impl DriverResult {
    /// Adds another thread's figures (durations take the longest).
    pub fn merge(&mut self, other: &DriverResult) {
        self.ops += other.ops;
        self.rounds += other.rounds;
        self.measured = self.measured.max(other.measured);
        self.latency
            .add(&other.latency)
            .expect("invariant: histograms share their bounds");
        self.stats.add(other.stats);
    }
}

struct Client {
    next_group: usize,
    sent_at: Option<Instant>,
}

/// One thread's share of the benchmark.
pub struct Driver {
    groups: Vec<Group>,
    clients: Vec<Client>,
    ready_clients: Vec<usize>,
    active: Vec<usize>,
    is_active: Vec<bool>,
    value_size: usize,
}

impl Driver {
    /// Builds thread `thread`'s groups and clients out of `threads`.
    pub fn new(
        opts: &Options,
        thread: usize,
        threads: usize,
        clients: usize,
    ) -> anyhow::Result<Driver> {
        let mut groups = Vec::new();
        for g in (thread..opts.groups).step_by(threads) {
            groups.push(Group::new(opts.seed.wrapping_add(g as u64))?);
        }
        let client_count = (thread..clients).step_by(threads).count();
        let clients = (0..client_count)
            .map(|c| Client {
                next_group: c % groups.len().max(1),
                sent_at: None,
            })
            .collect();
        let n = groups.len();
        Ok(Driver {
            groups,
            clients,
            ready_clients: Vec::new(),
            active: Vec::new(),
            is_active: vec![false; n],
            value_size: opts.value_size,
        })
    }

    /// Elects every group's leader, a wave of groups at a time so the election's transient
    /// messages stay small next to the groups themselves, then runs rounds until nothing is in
    /// flight.
    pub fn elect_and_settle(&mut self) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut scratch = DriverResult::default();
        let all: Vec<usize> = (0..self.groups.len()).collect();
        for wave in all.chunks(ELECTION_WAVE_GROUPS) {
            for &g in wave {
                self.groups[g].campaign()?;
                self.activate(g);
            }
            while !self.active.is_empty() {
                self.round(&mut scratch, false, Instant::now());
                anyhow::ensure!(
                    start.elapsed() < SETTLE_TIMEOUT,
                    "leaders not elected in time"
                );
            }
            // The next wave reuses this wave's queues instead of growing the heap.
            for &g in wave {
                self.groups[g].release_buffers();
            }
        }
        anyhow::ensure!(
            self.groups.iter().all(|g| g.leader().is_some()),
            "some group did not elect its leader"
        );
        Ok(())
    }

    fn activate(&mut self, g: usize) {
        if !self.is_active[g] {
            self.is_active[g] = true;
            self.active.push(g);
        }
    }

    /// Elects leaders, then measures for `opts.secs` seconds.
    pub fn run(mut self, opts: &Options) -> anyhow::Result<DriverResult> {
        self.elect_and_settle()?;
        self.ready_clients = (0..self.clients.len()).collect();
        let mut result = DriverResult::default();
        let start = Instant::now();
        let deadline = start + Duration::from_secs(opts.secs);
        let mut next_tick = start + TICK;
        loop {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if now >= next_tick {
                self.tick_all();
                next_tick += TICK;
            }
            self.propose_ready_clients(now);
            self.round(&mut result, true, now);
            result.rounds += 1;
            if self.active.is_empty() && self.ready_clients.is_empty() {
                std::thread::sleep(
                    next_tick
                        .min(deadline)
                        .saturating_duration_since(Instant::now()),
                );
            }
        }
        result.measured = start.elapsed();
        Ok(result)
    }

    fn tick_all(&mut self) {
        for (i, g) in self.groups.iter_mut().enumerate() {
            g.tick();
            if !self.is_active[i] {
                self.is_active[i] = true;
                self.active.push(i);
            }
        }
    }

    fn propose_ready_clients(&mut self, now: Instant) {
        let ready = std::mem::take(&mut self.ready_clients);
        for c in ready {
            let g = self.clients[c].next_group;
            let value = self.value(c);
            if self.groups[g].propose(value) {
                self.clients[c].next_group = (g + 1) % self.groups.len();
                self.clients[c].sent_at = Some(now);
                if !self.is_active[g] {
                    self.is_active[g] = true;
                    self.active.push(g);
                }
            } else {
                // No leader right now: try again next round.
                self.ready_clients.push(c);
            }
        }
    }

    /// A value of `value_size` bytes whose first eight carry the client's index.
    fn value(&self, client: usize) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.value_size);
        buf.put_u64_le(client as u64);
        buf.resize(self.value_size, 0xAB);
        buf.freeze()
    }

    /// Runs one round over the active groups; completions count toward `result` only when
    /// `measuring`.
    fn round(&mut self, result: &mut DriverResult, measuring: bool, now: Instant) {
        let active = std::mem::take(&mut self.active);
        for &g in &active {
            self.is_active[g] = false;
        }
        for g in active {
            let clients = &mut self.clients;
            let ready_clients = &mut self.ready_clients;
            let DriverResult {
                stats,
                ops,
                latency,
                ..
            } = &mut *result;
            let more = self.groups[g].round(stats, |e| {
                let Some(id) = e.data.get(..8) else { return };
                let c = u64::from_le_bytes(id.try_into().expect("invariant: 8 bytes")) as usize;
                let Some(client) = clients.get_mut(c) else {
                    return;
                };
                if let Some(sent_at) = client.sent_at.take() {
                    if measuring {
                        *ops += 1;
                        let micros = now.saturating_duration_since(sent_at).as_micros() as u64;
                        let _ = latency.record(micros.max(1));
                    }
                    ready_clients.push(c);
                }
            });
            if more && !self.is_active[g] {
                self.is_active[g] = true;
                self.active.push(g);
            }
        }
    }
}
