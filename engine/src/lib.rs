//! Flotilla's storage engine: the one database of a store, holding every region's raft log and
//! raft state, region metadata, apply state and user data (DESIGN.md section 2,
//! `docs/engine.md`).
//!
//! The store programs against traits ([`KvEngine`], [`WriteBatch`], [`Peekable`]) with two
//! implementations: [`MemEngine`], in memory with a crash model and fault injection, for tests
//! and the simulator; and `RocksEngine` (feature `rocksdb`), one RocksDB instance with column
//! families `default`, `raft` and `meta` sharing one write-ahead log.
//!
//! # Module map
//!
//! | module | owns |
//! | --- | --- |
//! | [`traits`] | column families, the engine, write batch and read traits |
//! | [`keys`] | the key layout of every column family |
//! | [`types`] | the persisted messages: region, region/apply/raft states |
//! | [`raft_log`] | typed raft-log reads and writes (append with truncation, compaction) |
//! | [`apply`] | typed user-data and apply-state reads and writes |
//! | [`entry_cache`] | per-region entry caches under one shared memory budget |
//! | [`peer_storage`] | [`PeerStorage`]: `raft::Storage` for one region |
//! | [`snapshot`] | region snapshots: build, check, apply |
//! | [`recovery`] | every region and its states on open |
//! | [`synthetic`] | the raft-log load of the crash test and the engine benchmark |
//! | [`mem`], [`mem_file`] | the in-memory engine and its snapshot data file format |
//! | `rocks` | the RocksDB engine (feature `rocksdb`) |
//! | [`error`] | the crate's error type |

pub mod apply;
pub mod entry_cache;
pub mod error;
pub mod keys;
pub mod mem;
pub mod mem_file;
pub mod peer_storage;
pub mod raft_log;
pub mod recovery;
#[cfg(feature = "rocksdb")]
pub mod rocks;
pub mod snapshot;
pub mod synthetic;
pub mod traits;
pub mod types;

pub use apply::{ApplyBatch, KvReader};
pub use entry_cache::{CacheBudget, EntryCache};
pub use error::{Error, Result};
pub use mem::{Fault, MemEngine, MemSnapshot, MemWriteBatch};
pub use peer_storage::{INIT_LOG_INDEX, INIT_LOG_TERM, PeerStorage, write_initial_states};
pub use raft_log::{RaftLogBatch, RaftLogReader};
pub use recovery::{RecoveredRegion, recover_regions};
#[cfg(feature = "rocksdb")]
pub use rocks::{RocksConfig, RocksEngine};
pub use snapshot::{SnapshotFileMeta, SnapshotMeta, apply_region_snapshot, build_region_snapshot};
pub use traits::{Cf, KvEngine, KvPair, Peekable, WriteBatch};
pub use types::{
    ApplyState, Peer, PeerRole, PeerState, RaftLocalState, Region, RegionEpoch, RegionId,
    RegionLocalState,
};
