//! The `store` scenario: a whole cluster in one process.
//!
//! `--stores` stores, each on its own RocksDB (synced raft-log writes) in a temporary directory
//! (or under `--dir`), connected by the in-process transport, `--regions` regions pre-split
//! over the key space with leaders spread evenly, and `--clients` requests in flight from a few
//! driver threads (each drives its share of clients as futures). Each request picks a random
//! key and is a read with probability `--read-ratio`, else a put of `--value-size` bytes.
//!
//! `writes_per_fsync` counts appended entries per store-writer batch: every write is appended
//! on each of its replicas, so it is `writes x replicas / fsyncs` over all stores.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Args;
use engine::RocksEngine;
use hdrhistogram::Histogram;
use raftstore::cluster::LocalCluster;
use raftstore::{Client, StoreConfig};
use rand::{RngExt, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::report::Report;
use crate::sys;

/// Flags of the `store` scenario.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// Stores in the cluster.
    #[arg(long, default_value_t = 3)]
    pub stores: usize,
    /// Regions, pre-split evenly over the key space.
    #[arg(long, default_value_t = 1000)]
    pub regions: u64,
    /// Requests in flight.
    #[arg(long, default_value_t = 256)]
    pub clients: usize,
    /// Bytes per value.
    #[arg(long, default_value_t = 128)]
    pub value_size: usize,
    /// Fraction of requests that are reads.
    #[arg(long, default_value_t = 0.0)]
    pub read_ratio: f64,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    pub secs: u64,
    /// Parent directory of the stores' data (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Threads driving the clients.
    #[arg(long, default_value_t = 2)]
    pub driver_threads: usize,
}

#[derive(Default)]
struct Tally {
    writes: u64,
    reads: u64,
    errors: u64,
}

/// Runs the scenario.
pub fn run(opts: &Options) -> anyhow::Result<Report> {
    anyhow::ensure!(
        opts.stores > 0 && opts.regions > 0 && opts.clients > 0,
        "sizes must be positive"
    );
    let root = match &opts.dir {
        Some(dir) => tempfile::Builder::new()
            .prefix("flotilla-store-")
            .tempdir_in(dir)?,
        None => tempfile::Builder::new()
            .prefix("flotilla-store-")
            .tempdir()?,
    };
    let engines = crate::rocks_stores::open(root.path(), opts.stores)?;
    let cfg = StoreConfig {
        raft_pollers: 1,
        ..StoreConfig::default()
    };
    let started = Instant::now();
    let cluster = LocalCluster::start(&cfg, engines, opts.regions)?;
    cluster.elect_spread(Duration::from_mins(2))?;
    let setup = started.elapsed();
    let client = cluster.client();

    let batches_before = total_batches(&cluster, opts.stores);
    let cpu_before = sys::process_cpu_time();
    let wall = Instant::now();
    let deadline = wall + Duration::from_secs(opts.secs);
    let per_thread = opts.clients.div_ceil(opts.driver_threads.max(1));
    let threads: Vec<_> = (0..opts.driver_threads.max(1))
        .map(|t| {
            let client = client.clone();
            let opts = opts.clone();
            std::thread::spawn(move || drive(&client, &opts, t as u64, per_thread, deadline))
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3)?;
    let mut tally = Tally::default();
    for thread in threads {
        let (h, t) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a driver thread panicked"))??;
        hist.add(&h)?;
        tally.writes += t.writes;
        tally.reads += t.reads;
        tally.errors += t.errors;
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let cpu = sys::process_cpu_time()
        .saturating_sub(cpu_before)
        .as_secs_f64();
    let fsyncs = total_batches(&cluster, opts.stores) - batches_before;
    drop(cluster);

    let measured = Measured {
        hist,
        tally,
        elapsed,
        cpu,
        fsyncs,
        setup,
    };
    Ok(summarize(opts, &measured))
}

struct Measured {
    hist: Histogram<u64>,
    tally: Tally,
    elapsed: f64,
    cpu: f64,
    fsyncs: u64,
    setup: Duration,
}

fn summarize(opts: &Options, m: &Measured) -> Report {
    let Measured {
        hist, tally, setup, ..
    } = m;
    let (elapsed, cpu, fsyncs) = (m.elapsed, m.cpu, m.fsyncs);
    let mut report = Report::new(format!(
        "store: {} stores, {} regions, {} clients, {} B values, read ratio {}",
        opts.stores, opts.regions, opts.clients, opts.value_size, opts.read_ratio
    ));
    let writes_per_sec = tally.writes as f64 / elapsed;
    let reads_per_sec = tally.reads as f64 / elapsed;
    let fsyncs_per_sec = fsyncs as f64 / elapsed;
    let writes_per_fsync = if fsyncs == 0 {
        0.0
    } else {
        (tally.writes * opts.stores as u64) as f64 / fsyncs as f64
    };
    let cores = cpu / elapsed;
    report.line(format!(
        "setup (bootstrap + elections) {:.1} s",
        setup.as_secs_f64()
    ));
    report.line(format!(
        "{writes_per_sec:.0} writes/s, {reads_per_sec:.0} reads/s, {} errors",
        tally.errors
    ));
    report.line(format!(
        "latency p50 {} us, p99 {} us, p999 {} us",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999)
    ));
    report.line(format!(
        "{fsyncs_per_sec:.0} fsyncs/s over all stores, {writes_per_fsync:.1} entries per fsync, \
         cpu cores used {cores:.2}"
    ));
    report.pair("writes_per_sec", format!("{writes_per_sec:.0}"));
    report.pair("reads_per_sec", format!("{reads_per_sec:.0}"));
    report.pair("lat_p50_us", hist.value_at_quantile(0.5));
    report.pair("lat_p99_us", hist.value_at_quantile(0.99));
    report.pair("lat_p999_us", hist.value_at_quantile(0.999));
    report.pair("fsyncs_per_sec", format!("{fsyncs_per_sec:.0}"));
    report.pair("writes_per_fsync", format!("{writes_per_fsync:.2}"));
    report.pair("errors", tally.errors);
    report.pair("cpu_cores_used", format!("{cores:.3}"));
    report
}

fn total_batches(cluster: &LocalCluster<RocksEngine>, stores: usize) -> u64 {
    (1..=stores as u64)
        .filter_map(|s| cluster.node(s))
        .map(|n| n.writer_stats().batches.load(Ordering::Relaxed))
        .sum()
}

/// Drives `clients` request loops as futures on this thread until `deadline`.
fn drive(
    client: &Client,
    opts: &Options,
    seed: u64,
    clients: usize,
    deadline: Instant,
) -> anyhow::Result<(Histogram<u64>, Tally)> {
    let hist = Rc::new(RefCell::new(Histogram::<u64>::new(3)?));
    let tally = Rc::new(RefCell::new(Tally::default()));
    let value = Bytes::from(vec![0x61u8; opts.value_size]);
    let loops = (0..clients).map(|c| {
        let (client, hist, tally, value) =
            (client.clone(), hist.clone(), tally.clone(), value.clone());
        let read_ratio = opts.read_ratio;
        async move {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed << 32 | c as u64);
            while Instant::now() < deadline {
                let key = Bytes::copy_from_slice(&rng.random::<u64>().to_be_bytes());
                let read = read_ratio > 0.0 && rng.random_bool(read_ratio.min(1.0));
                let t = Instant::now();
                let ok = if read {
                    client.get(key).await.is_ok()
                } else {
                    client.put(key, value.clone()).await.is_ok()
                };
                let us = t.elapsed().as_micros() as u64;
                let _ = hist.borrow_mut().record(us.max(1));
                let mut t = tally.borrow_mut();
                match (ok, read) {
                    (false, _) => t.errors += 1,
                    (true, true) => t.reads += 1,
                    (true, false) => t.writes += 1,
                }
            }
        }
    });
    futures::executor::block_on(futures::future::join_all(loops));
    let hist = hist.borrow().clone();
    let tally = std::mem::take(&mut *tally.borrow_mut());
    Ok((hist, tally))
}
