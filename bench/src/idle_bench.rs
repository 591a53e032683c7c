//! The `idle` scenario: many quiet regions, what they cost.
//!
//! Three stores in one process on RocksDB (temporary directories), `--regions` regions
//! pre-split with leaders spread evenly, one write per region to wake them all, then the
//! cluster is left alone until every region is quiet (or, with `--no-hibernate`, for a fixed
//! settle time) and measured for `--secs`: CPU per replica per second, and resident memory per
//! replica (the growth of the process from before the stores started to after they settled).

use std::time::{Duration, Instant};

use clap::Args;
use engine::RocksEngine;
use raftstore::StoreConfig;
use raftstore::cluster::{LocalCluster, poll_pause, split_key};

use crate::report::Report;
use crate::sys;

/// Flags of the `idle` scenario.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Regions (each with three replicas).
    #[arg(long, default_value_t = 100_000)]
    pub regions: u64,
    /// Seconds to measure once the regions are quiet.
    #[arg(long, default_value_t = 10)]
    pub secs: u64,
    /// Keep every region ticking (for comparison).
    #[arg(long)]
    pub no_hibernate: bool,
    /// Let quiet followers drop their raft node (`StoreConfig::dormant_followers`, off by
    /// default).
    #[arg(long)]
    pub dormant_followers: bool,
}

const STORES: usize = 3;

/// Replicas whose peers still tick.
fn ticking(cluster: &LocalCluster<RocksEngine>) -> usize {
    (1..=STORES as u64)
        .filter_map(|s| cluster.node(s))
        .map(|n| n.ticking_regions().len())
        .sum()
}

/// Waits until `remaining` reaches 0 or `limit` passes, telling on stderr every five seconds
/// how many `what` remain (a cold start of 100,000 regions takes minutes). Returns the count
/// left. Pauses ten times as long as a check takes: a check walks every region, and polling
/// too often would starve the stores being waited for.
fn wait_for(what: &str, limit: Duration, mut remaining: impl FnMut() -> usize) -> usize {
    let started = Instant::now();
    let mut told = started;
    loop {
        let checked = Instant::now();
        let left = remaining();
        let pause = poll_pause(checked.elapsed(), Duration::from_millis(100));
        if left == 0 || started.elapsed() > limit {
            return left;
        }
        if told.elapsed() >= Duration::from_secs(5) {
            told = Instant::now();
            eprintln!(
                "idle: {left} {what} after {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(pause);
    }
}

/// Waits until every region is quiet (at most ten minutes), or three seconds without
/// hibernation.
fn settle(cluster: &LocalCluster<RocksEngine>, no_hibernate: bool) {
    if no_hibernate {
        std::thread::sleep(Duration::from_secs(3));
        return;
    }
    wait_for("replicas still ticking", Duration::from_mins(10), || {
        ticking(cluster)
    });
}

/// One write per region, 256 in flight, so every region has something to settle.
fn wake_every_region(client: &raftstore::Client, regions: u64) -> anyhow::Result<()> {
    let mut next = 0;
    while next < regions {
        let end = (next + 256).min(regions);
        let writes = (next..end).map(|i| {
            let mut key = split_key(i, regions).to_vec();
            key.push(0);
            client.put(key, "wake")
        });
        for result in futures::executor::block_on(futures::future::join_all(writes)) {
            result?;
        }
        next = end;
    }
    Ok(())
}

/// Runs the scenario.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.regions > 0, "--regions must be positive");
    let root = tempfile::Builder::new()
        .prefix("flotilla-idle-")
        .tempdir()?;
    let rss_before = sys::resident_bytes();
    let engines = crate::rocks_stores::open(root.path(), STORES)?;
    let cfg = StoreConfig {
        hibernate_regions: !opts.no_hibernate,
        dormant_followers: opts.dormant_followers,
        raft_pollers: 1,
        ..StoreConfig::default()
    };
    let started = Instant::now();
    let cluster = LocalCluster::start(&cfg, engines, opts.regions)?;
    cluster.campaign_spread();
    let leaderless = wait_for("regions without a leader", Duration::from_mins(10), || {
        cluster.leaderless().0
    });
    anyhow::ensure!(
        leaderless == 0,
        "{leaderless} regions still without a leader after ten minutes"
    );
    // Setup is the stampede of a cold start (every region awake, electing at once); give the
    // wake writes time rather than fail on a slow first election.
    let client = cluster.new_client(raftstore::ClientConfig {
        timeout: Duration::from_mins(5),
        ..raftstore::ClientConfig::default()
    });
    wake_every_region(&client, opts.regions)?;
    settle(&cluster, opts.no_hibernate);
    let setup = started.elapsed();
    let rss_settled = sys::resident_bytes();

    let cpu_before = sys::process_cpu_time();
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(opts.secs));
    let elapsed = wall.elapsed().as_secs_f64();
    let cpu = sys::process_cpu_time()
        .saturating_sub(cpu_before)
        .as_secs_f64();
    let still_ticking = ticking(&cluster);
    let dormant: usize = (1..=STORES as u64)
        .filter_map(|s| cluster.node(s))
        .map(raftstore::Node::dormant_peers)
        .sum();

    let replicas = opts.regions * STORES as u64;
    let cores = cpu / elapsed;
    let cpu_us_per_replica_sec = cpu * 1e6 / elapsed / replicas as f64;
    let bytes_per_replica = rss_settled.saturating_sub(rss_before) / replicas;
    let mut report = Report::new(format!(
        "idle: {} regions x {STORES} replicas, hibernation {}",
        opts.regions,
        if opts.no_hibernate { "off" } else { "on" }
    ));
    report.line(format!(
        "setup (bootstrap, elections, one write per region, settle) {:.1} s; \
         {still_ticking} replicas still ticking, {dormant} dormant (followers without a raft node)",
        setup.as_secs_f64(),
    ));
    report.line(format!(
        "cpu {cores:.4} cores in total ({:.2}% of one core), \
         {cpu_us_per_replica_sec:.3} cpu us per replica per second",
        cores * 100.0
    ));
    report.line(format!(
        "resident memory {bytes_per_replica} bytes per replica ({:.0} MB grown)",
        rss_settled.saturating_sub(rss_before) as f64 / 1e6
    ));
    report.pair("regions", opts.regions);
    report.pair("replicas", replicas);
    report.pair("hibernate", !opts.no_hibernate);
    report.pair("dormant_followers", opts.dormant_followers);
    report.pair("ticking_replicas", still_ticking);
    report.pair("dormant_replicas", dormant);
    report.pair("cpu_cores_used", format!("{cores:.5}"));
    report.pair(
        "cpu_us_per_replica_sec",
        format!("{cpu_us_per_replica_sec:.4}"),
    );
    report.pair("bytes_per_replica", bytes_per_replica);
    drop(cluster);
    Ok(report)
}
