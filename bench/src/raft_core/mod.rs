//! `raft-core`: the consensus core alone.
//!
//! G groups of three replicas on `MemStorage`, driven in rounds where every message travels one
//! hop (see [`group`]). C closed-loop clients each keep one proposal outstanding, moving
//! round-robin over the groups; a proposal counts when the leader applies it. Ticks are 100 ms
//! of wall time. Groups and clients are split over `--threads` threads (group g and client c
//! belong to thread g % T and c % T), which never share a group.
//!
//! `--idle` runs without clients and reports the cost of idle groups; `--memory` reports the
//! resident bytes per replica once leaders are elected.

mod driver;
mod group;

use std::time::{Duration, Instant};

use clap::Args;

use crate::report::Report;
use crate::sys;
use driver::{Driver, DriverResult};

/// Flags of the `raft-core` scenario.
#[derive(Args, Clone, Debug)]
pub struct Options {
    /// Raft groups (three replicas each).
    #[arg(long, default_value_t = 1)]
    pub groups: usize,
    /// Closed-loop clients, each with one outstanding proposal.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Seconds to measure.
    #[arg(long, default_value_t = 5)]
    pub secs: u64,
    /// Bytes per proposal (at least 8: the client's id travels in the value).
    #[arg(long, default_value_t = 128)]
    pub value_size: usize,
    /// Driver threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// No proposals: report CPU and messages per idle group.
    #[arg(long)]
    pub idle: bool,
    /// Report resident bytes per replica after electing leaders, then stop.
    #[arg(long)]
    pub memory: bool,
    /// Seed of the groups' election jitter.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// The tick interval the scenario's timeouts are expressed in.
pub const TICK: Duration = Duration::from_millis(100);

/// Runs the scenario and returns its report.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.groups > 0, "--groups must be at least 1");
    anyhow::ensure!(opts.threads > 0, "--threads must be at least 1");
    anyhow::ensure!(opts.value_size >= 8, "--value-size must be at least 8");
    if opts.memory {
        return run_memory(opts);
    }
    let clients = if opts.idle { 0 } else { opts.clients };
    let threads = opts.threads.min(opts.groups);
    let started = Instant::now();
    let cpu_before = sys::process_cpu_time();
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let opts = opts.clone();
                scope.spawn(move || Driver::new(&opts, t, threads, clients)?.run(&opts))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("driver thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<DriverResult>>>()
    })?;
    let wall = started.elapsed();
    let cpu = sys::process_cpu_time().saturating_sub(cpu_before);
    Ok(summarize(opts, clients, &results, wall, cpu))
}

fn summarize(
    opts: &Options,
    clients: usize,
    results: &[DriverResult],
    wall: Duration,
    cpu: Duration,
) -> Report {
    let mut total = DriverResult::default();
    for r in results {
        total.merge(r);
    }
    let secs = total.measured.as_secs_f64().max(1e-9);
    let ops_per_sec = total.ops as f64 / secs;
    let cores = cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    let p50 = total.latency.value_at_quantile(0.50);
    let p99 = total.latency.value_at_quantile(0.99);
    let entries_per_append = total.stats.append_entries as f64 / total.stats.appends.max(1) as f64;
    // Without proposals there is no per-operation figure; idle runs report per group instead.
    let msgs_per_op = if total.ops == 0 {
        0.0
    } else {
        total.stats.messages as f64 / total.ops as f64
    };
    let mut report = Report::new(format!(
        "raft-core groups={} clients={clients} value_size={} threads={}{}",
        opts.groups,
        opts.value_size,
        opts.threads,
        if opts.idle { " idle" } else { "" }
    ));
    report.line(format!("measured {secs:.2} s over {} rounds", total.rounds));
    report.line(format!(
        "proposals applied: {} ({ops_per_sec:.0}/s)",
        total.ops
    ));
    report.line(format!("latency p50 {p50} us, p99 {p99} us"));
    report.line(format!(
        "entries per append {entries_per_append:.1}, messages per op {msgs_per_op:.2}"
    ));
    report.line(format!("cpu cores used {cores:.2}"));
    report.pair("scenario", "raft-core");
    report.pair("groups", opts.groups);
    report.pair("clients", clients);
    report.pair("value_size", opts.value_size);
    report.pair("threads", opts.threads);
    report.pair("ops_per_sec", format!("{ops_per_sec:.0}"));
    report.pair("lat_p50_us", p50);
    report.pair("lat_p99_us", p99);
    report.pair("entries_per_append", format!("{entries_per_append:.1}"));
    report.pair("msgs_per_op", format!("{msgs_per_op:.2}"));
    report.pair("cpu_cores_used", format!("{cores:.3}"));
    if opts.idle {
        let group_secs = opts.groups as f64 * secs;
        let cpu_us_per_group_sec = cpu.as_secs_f64() * 1e6 / group_secs;
        let msgs_per_group_sec = total.stats.messages as f64 / group_secs;
        report.line(format!(
            "idle: {cpu_us_per_group_sec:.2} cpu us per group per second, \
             {msgs_per_group_sec:.2} messages per group per second"
        ));
        report.pair("cpu_us_per_group_sec", format!("{cpu_us_per_group_sec:.3}"));
        report.pair("msgs_per_group_sec", format!("{msgs_per_group_sec:.3}"));
    }
    report
}

/// Builds every group on this thread, elects leaders, lets them settle, and measures the
/// resident memory they added.
fn run_memory(opts: &Options) -> anyhow::Result<Report> {
    let before = sys::resident_bytes();
    let mut driver = Driver::new(opts, 0, 1, 0)?;
    let created = sys::resident_bytes();
    driver.elect_and_settle()?;
    let after = sys::resident_bytes();
    let replicas = opts.groups as u64 * group::PEERS.len() as u64;
    let bytes_per_replica = after.saturating_sub(before) / replicas.max(1);
    let mut report = Report::new(format!("raft-core memory groups={}", opts.groups));
    report.line(format!(
        "resident before {before} B, after creating groups {created} B, after electing {after} B"
    ));
    report.line(format!(
        "{bytes_per_replica} bytes per replica ({replicas} replicas)"
    ));
    report.pair("scenario", "raft-core-memory");
    report.pair("groups", opts.groups);
    report.pair("replicas", replicas);
    report.pair("bytes_per_replica", bytes_per_replica);
    // Keep the groups alive until after the measurement.
    drop(driver);
    Ok(report)
}
