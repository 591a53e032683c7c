//! The parameters of one Raft node, validated before the node starts.

use crate::errors::{Error, Result};
use crate::read_only::ReadOnlyOption;

/// No limit, for the byte limits that accept one.
pub const NO_LIMIT: u64 = u64::MAX;

/// The id of the local thread that persists entries, hard state and snapshots
/// (`MsgStorageAppend` goes there).
pub const LOCAL_APPEND_THREAD: u64 = u64::MAX;

/// The id of the local thread that applies committed entries (`MsgStorageApply` goes there).
pub const LOCAL_APPLY_THREAD: u64 = u64::MAX - 1;

/// The parameters of one Raft node.
///
/// Time is counted in ticks: the application calls `tick()` at a fixed interval and the core
/// derives every timeout from the count. Validate with [`Config::validate`] (done by
/// `RawNode::new`); every field has a usable default except `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// This node's id; never 0 and never one of the local thread ids.
    pub id: u64,
    /// Ticks without hearing from a leader before a follower campaigns. The actual timeout is
    /// drawn at random in `[election_tick, 2 * election_tick)` each time it is reset.
    pub election_tick: usize,
    /// Ticks between a leader's heartbeats; must be smaller than `election_tick`.
    pub heartbeat_tick: usize,
    /// The last applied index when restarting; entries up to it are not handed out again.
    pub applied: u64,
    /// Whether storage is written through `MsgStorageAppend`/`MsgStorageApply` messages to
    /// local threads instead of the `Ready`/`advance` contract.
    pub async_storage_writes: bool,
    /// The most bytes of entries in one `MsgApp` (at least one entry is always sent);
    /// 0 means one entry per message.
    pub max_size_per_msg: u64,
    /// The most bytes of committed entries being applied at once (across unacknowledged
    /// applies); 0 means `max_size_per_msg`.
    pub max_committed_size_per_ready: u64,
    /// The most bytes of uncommitted entry payloads a leader accepts before it drops proposals;
    /// 0 means no limit.
    pub max_uncommitted_entries_size: u64,
    /// The most `MsgApp` messages in flight to one follower in the replicate state.
    pub max_inflight_msgs: usize,
    /// The most bytes of entries in flight to one follower; 0 means no limit, otherwise it must
    /// be at least `max_size_per_msg`.
    pub max_inflight_bytes: u64,
    /// Whether a leader steps down when it has not heard from a quorum for an election timeout.
    pub check_quorum: bool,
    /// Whether elections are preceded by a pre-vote round that does not disturb terms.
    pub pre_vote: bool,
    /// How read-index requests are answered. Lease-based reads require `check_quorum`.
    pub read_only_option: ReadOnlyOption,
    /// Whether followers drop proposals instead of forwarding them to the leader.
    pub disable_proposal_forwarding: bool,
    /// Whether the leader skips its check of a proposed configuration change against the
    /// current configuration (only for applications that serialize changes themselves).
    pub disable_conf_change_validation: bool,
    /// Whether a leader that is removed or demoted steps down (and hands off to the most
    /// up-to-date voter) instead of leading on outside the configuration.
    pub step_down_on_removal: bool,
    /// The seed of the node's random generator (election jitter). The generator is seeded with
    /// `seed` mixed with `id`, so nodes of one group draw different timeouts.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            id: 0,
            election_tick: 10,
            heartbeat_tick: 1,
            applied: 0,
            async_storage_writes: false,
            max_size_per_msg: 1 << 20,
            max_committed_size_per_ready: 0,
            max_uncommitted_entries_size: 0,
            max_inflight_msgs: 256,
            max_inflight_bytes: 0,
            check_quorum: false,
            pre_vote: false,
            read_only_option: ReadOnlyOption::Safe,
            disable_proposal_forwarding: false,
            disable_conf_change_validation: false,
            step_down_on_removal: true,
            seed: 0,
        }
    }
}

impl Config {
    /// A default configuration for node `id`.
    pub fn new(id: u64) -> Config {
        Config {
            id,
            ..Config::default()
        }
    }

    /// Checks every field and returns the first one that is unusable, by name.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field: &'static str, reason: &str| {
            Err(Error::ConfigInvalid {
                field,
                reason: reason.to_string(),
            })
        };
        if self.id == 0 {
            return invalid("id", "0 is reserved for \"no node\"");
        }
        if self.id == LOCAL_APPEND_THREAD || self.id == LOCAL_APPLY_THREAD {
            return invalid("id", "the id is reserved for a local storage thread");
        }
        if self.heartbeat_tick == 0 {
            return invalid("heartbeat_tick", "must be greater than 0");
        }
        if self.election_tick <= self.heartbeat_tick {
            return invalid("election_tick", "must be greater than heartbeat_tick");
        }
        if self.max_inflight_msgs == 0 {
            return invalid("max_inflight_msgs", "must be greater than 0");
        }
        if self.max_inflight_bytes != 0 && self.max_inflight_bytes < self.max_size_per_msg {
            return invalid(
                "max_inflight_bytes",
                "must be 0 (no limit) or >= max_size_per_msg",
            );
        }
        if self.read_only_option == ReadOnlyOption::LeaseBased && !self.check_quorum {
            return invalid("read_only_option", "lease-based reads require check_quorum");
        }
        Ok(())
    }

    /// `max_uncommitted_entries_size` with 0 read as no limit.
    pub(crate) fn uncommitted_size_limit(&self) -> u64 {
        if self.max_uncommitted_entries_size == 0 {
            NO_LIMIT
        } else {
            self.max_uncommitted_entries_size
        }
    }

    /// `max_committed_size_per_ready` with 0 read as `max_size_per_msg`; at least 1, which
    /// means one entry at a time.
    pub(crate) fn committed_size_limit(&self) -> u64 {
        let limit = if self.max_committed_size_per_ready == 0 {
            self.max_size_per_msg
        } else {
            self.max_committed_size_per_ready
        };
        limit.max(1)
    }

    /// `max_inflight_bytes` with 0 read as no limit.
    pub(crate) fn inflight_bytes_limit(&self) -> u64 {
        if self.max_inflight_bytes == 0 {
            NO_LIMIT
        } else {
            self.max_inflight_bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(cfg: &Config) -> &'static str {
        match cfg.validate() {
            Err(Error::ConfigInvalid { field, .. }) => field,
            other => panic!("expected ConfigInvalid, got {other:?}"),
        }
    }

    #[test]
    fn default_config_with_an_id_is_valid() {
        assert_eq!(Config::new(1).validate(), Ok(()));
    }

    #[test]
    fn invalid_fields_are_named() {
        assert_eq!(field_of(&Config::default()), "id");
        assert_eq!(field_of(&Config::new(LOCAL_APPEND_THREAD)), "id");
        assert_eq!(field_of(&Config::new(LOCAL_APPLY_THREAD)), "id");
        assert_eq!(
            field_of(&Config {
                heartbeat_tick: 0,
                ..Config::new(1)
            }),
            "heartbeat_tick"
        );
        let cfg = Config {
            election_tick: 2,
            heartbeat_tick: 2,
            ..Config::new(1)
        };
        assert_eq!(field_of(&cfg), "election_tick");
        assert_eq!(
            field_of(&Config {
                max_inflight_msgs: 0,
                ..Config::new(1)
            }),
            "max_inflight_msgs"
        );
        let cfg = Config {
            max_inflight_bytes: 10,
            max_size_per_msg: 100,
            ..Config::new(1)
        };
        assert_eq!(field_of(&cfg), "max_inflight_bytes");
        let cfg = Config {
            read_only_option: ReadOnlyOption::LeaseBased,
            ..Config::new(1)
        };
        assert_eq!(field_of(&cfg), "read_only_option");
    }

    #[test]
    fn zero_limits_mean_defaults() {
        let cfg = Config::new(1);
        assert_eq!(cfg.uncommitted_size_limit(), NO_LIMIT);
        assert_eq!(cfg.committed_size_limit(), cfg.max_size_per_msg);
        assert_eq!(cfg.inflight_bytes_limit(), NO_LIMIT);
        let cfg = Config {
            max_uncommitted_entries_size: 5,
            max_committed_size_per_ready: 7,
            max_inflight_bytes: 1 << 21,
            ..Config::new(1)
        };
        assert_eq!(cfg.uncommitted_size_limit(), 5);
        assert_eq!(cfg.committed_size_limit(), 7);
        assert_eq!(cfg.inflight_bytes_limit(), 1 << 21);
    }
}
