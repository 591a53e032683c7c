//! Flotilla's consensus core: the Raft algorithm with the semantics of etcd-raft v3.6.
//!
//! The core is pure: it performs no I/O, reads no clock, starts no thread and draws randomness
//! only from the seeded generator in its [`Config`]. The same inputs always give the same outputs,
//! which is what makes the randomized simulator (`tests/sim`) and the golden scripts
//! (`testdata/*.txt`) possible.
//!
//! # Module map
//!
//! | module | owns |
//! | --- | --- |
//! | [`raw_node`] | [`RawNode`] and [`Ready`]: the application interface, both storage contracts |
//! | [`raft`] | [`Raft`]: roles, terms, elections, replication, reads, membership |
//! | [`raft_log`], [`log_unstable`] | the log: durable in [`Storage`], unstable tail in memory |
//! | [`storage`] | the [`Storage`] trait and [`MemStorage`] |
//! | [`tracker`] | per-peer progress (probe / replicate / snapshot), inflight windows, votes |
//! | [`quorum`] | majority and joint quorum arithmetic |
//! | [`confchange`] | validating and applying configuration changes, joint consensus |
//! | [`read_only`] | read-index rounds |
//! | [`raftpb`] | the prost message types, mirroring etcd's `raftpb` |
//! | [`config`], [`errors`], [`status`] | parameters, typed errors, status snapshots |

pub mod confchange;
pub mod config;
pub mod errors;
pub mod log_unstable;
pub mod quorum;
pub mod raft;
pub mod raft_log;
pub mod raftpb;
pub mod raw_node;
pub mod read_only;
pub mod status;
pub mod storage;
pub mod tracker;

pub use config::{Config, LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD, NO_LIMIT};
pub use errors::{DropReason, Error, Result, StorageError};
pub use raft::membership::decode_conf_change;
pub use raft::{Raft, SoftState, StateRole, is_local_msg, is_response_msg};
pub use raw_node::{ConfChangeI, RawNode, Ready, SnapshotStatus};
pub use read_only::{ReadOnlyOption, ReadState};
pub use status::{BasicStatus, Status};
pub use storage::{MemStorage, RaftState, Storage};

/// Stops the process on a broken invariant of durable state (corruption, a gap in the log),
/// naming the node and term. Such states cannot be repaired by retrying.
#[macro_export]
macro_rules! fatal {
    ($raft:expr, $($arg:tt)*) => {
        panic!("raft {} (term {}): {}", $raft.id, $raft.term, format_args!($($arg)*))
    };
}
