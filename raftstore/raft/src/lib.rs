//! Flotilla's consensus core: the Raft algorithm with the semantics of etcd-raft v3.6.
//!
//! The core is pure: it performs no I/O, reads no clock, starts no thread and draws randomness
//! only from the seeded generator in its [`Config`]. The same inputs always give the same outputs,
//! which is what makes the randomized simulator (`tests/sim`) and the golden scripts
//! (`testdata/*.txt`) possible.

pub mod errors;
pub mod log_unstable;
pub mod raft_log;
pub mod raftpb;
pub mod storage;

pub use errors::{DropReason, Error, Result, StorageError};
pub use storage::{MemStorage, RaftState, Storage};
