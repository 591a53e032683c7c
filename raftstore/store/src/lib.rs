//! Flotilla's multi-Raft store: many Raft groups, one per region, multiplexed over a few
//! threads, with asynchronous storage writes through store writers and a shared apply pool
//! (DESIGN.md section 4, `docs/architecture.md`).
//!
//! ```text
//! Client ─► Node (StoreEndpoint) ─► raft pollers: PeerFsm × regions, StoreFsm
//!                                      ├─► store writers (group commit, one fsync) ─► engine
//!                                      ├─► apply pollers: ApplyFsm × regions ─────► engine
//!                                      └─► Transport ─► other stores
//! ```
//!
//! # Module map
//!
//! | module | owns |
//! | --- | --- |
//! | [`config`] | [`StoreConfig`] and its validation |
//! | [`error`] | [`Error`]: what stores and clients return |
//! | [`cmd`] | commands as they travel in log entries |
//! | [`message`] | messages between the parts of a store and between stores |
//! | [`peer`] | [`peer::PeerFsm`]: one replica, its proposals and reads |
//! | [`writer`] | store writers: group commit of raft logs |
//! | [`apply`] | the apply pool: committed entries become data |
//! | [`poll`] | the raft pollers' round: batched writes and sends |
//! | [`store_fsm`] | store-wide work: creating peers, store liveness |
//! | [`ticker`] | the store clock and the set of peers it ticks |
//! | [`meta`] | [`meta::StoreMeta`]: regions and leaders, readable from any thread |
//! | [`node`] | [`Node`]: starting and stopping a store |
//! | [`client`] | [`Client`]: routing, region cache, retries |
//! | [`transport`] | the [`transport::Transport`] trait and the in-process transport |
//! | [`cluster`] | [`cluster::LocalCluster`]: stores in one process, for tests and benchmarks |
//! | [`history`] | client histories and their linearizability checker |
//! | [`sim`] | the deterministic store simulator: real peers, virtual time, faults, history |

#![deny(missing_docs)]

pub mod apply;
pub mod client;
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod error;
pub mod history;
pub mod memory;
pub mod message;
pub mod meta;
pub mod node;
pub mod peer;
pub mod poll;
pub mod router;
pub mod sim;
pub mod snapshot_pool;
pub mod store_fsm;
pub mod ticker;
pub mod transport;
pub mod writer;

pub use client::{Client, ClientConfig};
pub use config::StoreConfig;
pub use error::{Error, Result};
pub use node::{Node, StoreHandle};
