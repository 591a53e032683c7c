//! What the crash child writes, shared with the test that checks it (`tests/crash_rocks.rs`
//! includes this file), so both sides derive the same keys and values.

use std::time::Duration;

use raftstore::StoreConfig;
use raftstore::cluster::split_key;

/// Regions of the bootstrapped cluster.
pub const REGIONS: u64 = 8;
/// Client threads writing at once.
pub const WRITERS: u64 = 4;

/// The store configuration of the crash test: fast ticks so elections take milliseconds.
pub fn config() -> StoreConfig {
    StoreConfig {
        tick_interval: Duration::from_millis(10),
        election_ticks: 10,
        heartbeat_ticks: 2,
        lease_margin: Duration::from_millis(20),
        raft_pollers: 1,
        ..StoreConfig::default()
    }
}

/// The `n`th key of `writer` in `round`, spread over the regions.
pub fn crash_key(round: u64, writer: u64, n: u64) -> Vec<u8> {
    let mut key = split_key(n % REGIONS, REGIONS).to_vec();
    key.extend_from_slice(&round.to_be_bytes());
    key.extend_from_slice(&writer.to_be_bytes());
    key.extend_from_slice(&n.to_be_bytes());
    key
}

/// The value written under `key`.
pub fn crash_value(key: &[u8]) -> Vec<u8> {
    let mut value = b"value-of-".to_vec();
    value.extend_from_slice(key);
    value
}
