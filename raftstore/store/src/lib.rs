//! Flotilla's multi-Raft store (in progress): many Raft groups, one per region, multiplexed over
//! a few threads, with asynchronous storage writes and a shared apply pool.
//!
//! For now the crate holds only the tool that will judge the store: the linearizability checker
//! for the client histories the deterministic store simulator records. Peers, the store writer,
//! the apply pool and the client API join it as they land.
//!
//! # Module map
//!
//! | module | owns |
//! | --- | --- |
//! | [`history`] | client histories ([`history::History`]) and their linearizability checker |
//! | [`history::linearizability`] | [`history::check`]: per-key search, shrinking, explanations |

#![deny(missing_docs)]

pub mod history;
