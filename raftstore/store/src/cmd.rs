//! Commands: what a client asks of a region, as they travel in log entries.
//!
//! A normal entry's data is one encoded [`RaftCmd`]: a header naming the region and the epoch
//! the request was routed with, then either user writes or one admin command. Membership changes
//! travel in conf-change entries instead; their context is an encoded [`ChangePeers`] so every
//! replica learns the store of each new peer.
//!
//! The epoch is checked twice: by the leader when proposing (fast refusal) and by every replica
//! when applying (the check that counts, since the region may change between the two).

use bytes::Bytes;
use engine::{Peer, RegionEpoch};

/// One write of a command.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Mutation {
    /// What it does.
    #[prost(enumeration = "MutationKind", tag = "1")]
    pub kind: i32,
    /// The key (the start key for a range delete).
    #[prost(bytes = "bytes", tag = "2")]
    pub key: Bytes,
    /// The value of a put; the end key of a range delete (empty: the region's end).
    #[prost(bytes = "bytes", tag = "3")]
    pub value: Bytes,
}

/// The kinds of [`Mutation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum MutationKind {
    /// Set a key.
    Put = 0,
    /// Remove a key.
    Delete = 1,
    /// Remove every key in `[key, value)`.
    DeleteRange = 2,
}

impl Mutation {
    /// Sets `key` to `value`.
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Mutation {
        Mutation {
            kind: MutationKind::Put as i32,
            key: key.into(),
            value: value.into(),
        }
    }

    /// Removes `key`.
    pub fn delete(key: impl Into<Bytes>) -> Mutation {
        Mutation {
            kind: MutationKind::Delete as i32,
            key: key.into(),
            value: Bytes::new(),
        }
    }

    /// Removes every key in `[start, end)`.
    pub fn delete_range(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Mutation {
        Mutation {
            kind: MutationKind::DeleteRange as i32,
            key: start.into(),
            value: end.into(),
        }
    }
}

/// Who a command is for.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CmdHeader {
    /// The region.
    #[prost(uint64, tag = "1")]
    pub region_id: u64,
    /// The epoch the client routed the command with.
    #[prost(message, optional, tag = "2")]
    pub epoch: Option<RegionEpoch>,
}

/// An admin command, applied at the same index on every replica.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct AdminCmd {
    /// Compact the log up to and including this index (log GC).
    #[prost(uint64, tag = "1")]
    pub compact_index: u64,
    /// The term of the entry at `compact_index`.
    #[prost(uint64, tag = "2")]
    pub compact_term: u64,
}

/// The data of a normal log entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RaftCmd {
    /// Who it is for.
    #[prost(message, optional, tag = "1")]
    pub header: Option<CmdHeader>,
    /// User writes, applied atomically.
    #[prost(message, repeated, tag = "2")]
    pub mutations: Vec<Mutation>,
    /// An admin command instead of user writes.
    #[prost(message, optional, tag = "3")]
    pub admin: Option<AdminCmd>,
}

/// One membership change.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct PeerChange {
    /// What happens to the peer.
    #[prost(enumeration = "PeerChangeKind", tag = "1")]
    pub kind: i32,
    /// The peer, with its store.
    #[prost(message, optional, tag = "2")]
    pub peer: Option<Peer>,
}

/// The kinds of [`PeerChange`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum PeerChangeKind {
    /// Add the peer as a voter (or promote a learner).
    AddVoter = 0,
    /// Add the peer as a learner (or demote a voter).
    AddLearner = 1,
    /// Remove the peer.
    Remove = 2,
}

/// The context of a conf-change entry: the changes with full peers, and the epoch the change
/// was proposed under (a change proposed against an older membership is refused on apply).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChangePeers {
    /// Who it is for.
    #[prost(message, optional, tag = "1")]
    pub header: Option<CmdHeader>,
    /// The changes, applied together (one joint step when there are several).
    #[prost(message, repeated, tag = "2")]
    pub changes: Vec<PeerChange>,
}

impl PeerChange {
    /// Adds `peer` as a voter.
    pub fn add_voter(peer: Peer) -> PeerChange {
        PeerChange {
            kind: PeerChangeKind::AddVoter as i32,
            peer: Some(peer),
        }
    }

    /// Adds `peer` as a learner.
    pub fn add_learner(peer: Peer) -> PeerChange {
        PeerChange {
            kind: PeerChangeKind::AddLearner as i32,
            peer: Some(peer),
        }
    }

    /// Removes `peer`.
    pub fn remove(peer: Peer) -> PeerChange {
        PeerChange {
            kind: PeerChangeKind::Remove as i32,
            peer: Some(peer),
        }
    }
}
