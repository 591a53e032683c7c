//! The store's configuration, validated before anything starts.
//!
//! Time is counted in ticks of `tick_interval`: the consensus core has no clock, so every timeout
//! the store hands it (election, heartbeat) is a number of ticks. The lease a leader trusts for
//! local reads is shorter than the election timeout by `lease_margin` so that a follower's
//! election can never start while the old leader still serves reads (clock drift between stores
//! is assumed to stay under the margin).

use std::time::Duration;

use crate::error::{Error, Result};

/// How a store runs. `StoreConfig::default()` is a good start for a real cluster; tests shorten
/// the tick.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// This store's id: unique in the cluster, never reused, not zero.
    pub store_id: u64,
    /// The period of the store's clock tick.
    pub tick_interval: Duration,
    /// Ticks without hearing a leader before a follower campaigns (randomized up to twice this).
    pub election_ticks: usize,
    /// Ticks between a leader's heartbeats; below `election_ticks`.
    pub heartbeat_ticks: usize,
    /// How much shorter than the election timeout a leader's read lease is.
    pub lease_margin: Duration,
    /// Threads running the peers.
    pub raft_pollers: usize,
    /// Threads applying committed commands.
    pub apply_pollers: usize,
    /// Threads writing raft logs (store writers), each doing group commit.
    pub store_writers: usize,
    /// Threads building region snapshots: at most this many snapshots are built at a time
    /// (see `snapshot_pool`).
    pub snapshot_workers: usize,
    /// How often every region of the store checks that it is still a member of its region
    /// (a follower removed while its store was cut off never hears of it otherwise). The
    /// checks are spread evenly over the interval: one message per follower per interval.
    pub stale_peer_check_interval: Duration,
    /// Whether quiet followers drop their consensus node until a message needs it (see
    /// `peer/dormant.rs`): about a kilobyte less live heap per quiet follower, though little
    /// less resident memory (the allocator keeps the freed nodes for reuse). Off by default
    /// until it has run longer than the simulator and the tests that enable it.
    pub dormant_followers: bool,
    /// After this many regions went quiet, the store asks the allocator to give its free
    /// memory back to the operating system (see `memory`); 0 never asks.
    pub release_memory_after_quiet: usize,
    /// Peers a poller takes per round.
    pub max_batch_size: usize,
    /// Messages drained from one peer's mailbox per round, so a hot peer cannot starve others.
    pub messages_per_tick: usize,
    /// Requests queued in one peer's mailbox before callers get `ServerIsBusy`.
    pub mailbox_capacity: usize,
    /// Bytes of log entries kept in memory across every region of the store.
    pub entry_cache_bytes: usize,
    /// A request not answered within this time is answered with `Timeout`.
    pub request_timeout: Duration,
    /// Largest payload of one replication message.
    pub max_size_per_msg: u64,
    /// Replication messages in flight per follower.
    pub max_inflight_msgs: usize,
    /// Uncommitted bytes a leader accepts before refusing proposals with `ServerIsBusy`.
    pub max_uncommitted_bytes: u64,
    /// Whether raft log writes are fsynced (only benchmarks of the layers above turn this off).
    pub sync_log: bool,
    /// Whether idle regions go quiet (stop ticking and heartbeating) until something happens.
    pub hibernate_regions: bool,
    /// Ticks a leader stays idle before its region goes quiet.
    pub hibernate_ticks: usize,
    /// Log GC: the leader compacts the log once every peer has the entries and at least this
    /// many applied entries sit above the compaction point.
    pub log_gc_threshold: u64,
    /// Log GC: above this many entries the leader compacts up to its applied index even if a
    /// peer lags (that peer then catches up by snapshot).
    pub log_gc_count_limit: u64,
    /// Mixed into the seed of every peer's election jitter, so that runs with different values
    /// (the simulator's seeds) see different elections; the default 0 keeps the peer's own seed.
    pub raft_seed: u64,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            store_id: 1,
            tick_interval: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 2,
            lease_margin: Duration::from_millis(200),
            raft_pollers: 2,
            apply_pollers: 1,
            store_writers: 1,
            snapshot_workers: 2,
            stale_peer_check_interval: Duration::from_mins(10),
            dormant_followers: false,
            release_memory_after_quiet: 1000,
            max_batch_size: 256,
            messages_per_tick: 1024,
            mailbox_capacity: 4096,
            entry_cache_bytes: 256 << 20,
            request_timeout: Duration::from_secs(10),
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            max_uncommitted_bytes: 64 << 20,
            sync_log: true,
            hibernate_regions: true,
            hibernate_ticks: 10,
            log_gc_threshold: 256,
            log_gc_count_limit: 10_000,
            raft_seed: 0,
        }
    }
}

impl StoreConfig {
    /// Checks every field, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(Error::InvalidConfig { field, reason });
        if self.store_id == 0 {
            return bad("store_id", "must not be 0".into());
        }
        if self.tick_interval.is_zero() {
            return bad("tick_interval", "must be above zero".into());
        }
        if self.stale_peer_check_interval < self.tick_interval {
            return bad(
                "stale_peer_check_interval",
                "must be at least one tick".into(),
            );
        }
        if self.heartbeat_ticks == 0 {
            return bad("heartbeat_ticks", "must be at least 1".into());
        }
        if self.election_ticks <= self.heartbeat_ticks {
            return bad(
                "election_ticks",
                format!("must exceed heartbeat_ticks ({})", self.heartbeat_ticks),
            );
        }
        if self.lease_margin >= self.election_timeout() {
            return bad(
                "lease_margin",
                format!(
                    "must be below the election timeout ({:?})",
                    self.election_timeout()
                ),
            );
        }
        for (field, value) in [
            ("raft_pollers", self.raft_pollers),
            ("apply_pollers", self.apply_pollers),
            ("store_writers", self.store_writers),
            ("snapshot_workers", self.snapshot_workers),
            ("max_batch_size", self.max_batch_size),
            ("messages_per_tick", self.messages_per_tick),
            ("mailbox_capacity", self.mailbox_capacity),
            ("max_inflight_msgs", self.max_inflight_msgs),
            ("hibernate_ticks", self.hibernate_ticks),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1".into());
            }
        }
        if self.log_gc_count_limit <= self.log_gc_threshold {
            return bad(
                "log_gc_count_limit",
                format!("must exceed log_gc_threshold ({})", self.log_gc_threshold),
            );
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout", "must be above zero".into());
        }
        if self.max_size_per_msg == 0 {
            return bad("max_size_per_msg", "must be above zero".into());
        }
        Ok(())
    }

    /// The shortest time a follower waits before campaigning.
    pub fn election_timeout(&self) -> Duration {
        self.tick_interval * self.election_ticks as u32
    }

    /// How long after a quorum acknowledged a leader's heartbeat round the leader may serve
    /// local reads: the election timeout less the margin.
    pub fn lease_duration(&self) -> Duration {
        self.election_timeout().saturating_sub(self.lease_margin)
    }

    /// The consensus core's configuration for peer `peer_id` that has applied up to `applied`.
    pub fn raft_config(&self, peer_id: u64, applied: u64) -> raft::Config {
        raft::Config {
            election_tick: self.election_ticks,
            heartbeat_tick: self.heartbeat_ticks,
            applied,
            async_storage_writes: true,
            max_size_per_msg: self.max_size_per_msg,
            max_inflight_msgs: self.max_inflight_msgs,
            max_uncommitted_entries_size: self.max_uncommitted_bytes,
            check_quorum: true,
            pre_vote: true,
            seed: peer_id ^ self.store_id.rotate_left(32) ^ self.raft_seed,
            ..raft::Config::new(peer_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid() {
        StoreConfig::default().validate().unwrap();
    }

    #[test]
    fn an_invalid_field_is_named() {
        type Spoil = fn(&mut StoreConfig);
        let cases: Vec<(&str, Spoil)> = vec![
            ("store_id", |c| c.store_id = 0),
            ("tick_interval", |c| c.tick_interval = Duration::ZERO),
            ("election_ticks", |c| c.election_ticks = c.heartbeat_ticks),
            ("lease_margin", |c| c.lease_margin = Duration::from_secs(5)),
            ("store_writers", |c| c.store_writers = 0),
            ("snapshot_workers", |c| c.snapshot_workers = 0),
            ("stale_peer_check_interval", |c| {
                c.stale_peer_check_interval = Duration::ZERO;
            }),
            ("mailbox_capacity", |c| c.mailbox_capacity = 0),
            ("request_timeout", |c| c.request_timeout = Duration::ZERO),
            ("log_gc_count_limit", |c| {
                c.log_gc_count_limit = c.log_gc_threshold;
            }),
        ];
        for (field, spoil) in cases {
            let mut cfg = StoreConfig::default();
            spoil(&mut cfg);
            match cfg.validate() {
                Err(Error::InvalidConfig { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{field}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn the_lease_is_shorter_than_an_election() {
        let cfg = StoreConfig::default();
        assert!(cfg.lease_duration() < cfg.election_timeout());
        assert_eq!(
            cfg.lease_duration() + cfg.lease_margin,
            cfg.election_timeout()
        );
    }
}
