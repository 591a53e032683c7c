//! What the store's integration tests share: a fast-ticking configuration, clusters on the mem
//! engine with leaders spread, keys inside a given region, and waiting for a condition.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::MemEngine;
use raftstore::StoreConfig;
use raftstore::cluster::{LocalCluster, split_key};

/// A store configuration with `tick_ms` ticks: elections after 10 ticks, heartbeats every 2.
pub fn config(tick_ms: u64) -> StoreConfig {
    StoreConfig {
        tick_interval: Duration::from_millis(tick_ms),
        election_ticks: 10,
        heartbeat_ticks: 2,
        lease_margin: Duration::from_millis(tick_ms * 2),
        raft_pollers: 1,
        ..StoreConfig::default()
    }
}

/// `stores` stores on the mem engine with `regions` regions, every region with a leader.
pub fn start(cfg: &StoreConfig, stores: usize, regions: u64) -> LocalCluster<MemEngine> {
    let engines = (0..stores).map(|_| MemEngine::new()).collect();
    let cluster = LocalCluster::start(cfg, engines, regions).expect("the cluster starts");
    cluster
        .elect_spread(Duration::from_secs(30))
        .expect("every region elects a leader");
    cluster
}

/// A key inside region `i` (0-based) of `count` bootstrapped regions.
pub fn key_in(i: u64, count: u64, suffix: u64) -> Bytes {
    let mut key = split_key(i, count).to_vec();
    key.extend_from_slice(&suffix.to_be_bytes());
    Bytes::from(key)
}

/// Polls `done` until it holds; fails the test naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
