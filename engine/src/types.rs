//! What the store persists about its regions, as prost messages derived in Rust (no `protoc`).
//!
//! ```text
//! Region ── id, [start_key, end_key), epoch (conf_ver, version), peers
//! RegionLocalState ── PeerState (normal / applying / merging / tombstone) + Region   (meta CF)
//! ApplyState ── applied_index, truncated_index, truncated_term                       (meta CF)
//! RaftLocalState ── HardState, last_index, last_term                                 (raft CF)
//! ```
//!
//! The first two change on the apply path (written with the data they describe); the last one
//! changes on the raft-log path, and is written only when its term or vote changes (the log and
//! the apply state give back the rest on recovery).

use std::fmt;

use bytes::Bytes;
use raft::raftpb::{ConfState, HardState};

/// A region's id: unique in the cluster for all time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u64);

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The version of a region's shape: requests routed with an older epoch are refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct RegionEpoch {
    /// Bumped by every membership change.
    #[prost(uint64, tag = "1")]
    pub conf_ver: u64,
    /// Bumped by every split and merge.
    #[prost(uint64, tag = "2")]
    pub version: u64,
}

/// The role of a peer in its group's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PeerRole {
    /// A voter in the (only or incoming) configuration.
    Voter = 0,
    /// A learner: receives the log, does not vote.
    Learner = 1,
    /// Joint state: a voter of the incoming configuration only (being added).
    IncomingVoter = 2,
    /// Joint state: a voter of the outgoing configuration that becomes a learner.
    DemotingVoter = 3,
}

/// One replica of a region, placed on a store.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Peer {
    /// The peer id, unique for all time.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The store hosting the peer.
    #[prost(uint64, tag = "2")]
    pub store_id: u64,
    /// Its role in the configuration.
    #[prost(enumeration = "PeerRole", tag = "3")]
    pub role: i32,
}

/// A key range `[start_key, end_key)` replicated by one Raft group.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct Region {
    /// The region id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    /// The first key of the range (inclusive); empty means the start of the key space.
    #[prost(bytes = "bytes", tag = "2")]
    pub start_key: Bytes,
    /// The end of the range (exclusive); empty means +inf.
    #[prost(bytes = "bytes", tag = "3")]
    pub end_key: Bytes,
    /// The region's epoch.
    #[prost(message, optional, tag = "4")]
    pub epoch: Option<RegionEpoch>,
    /// The region's replicas.
    #[prost(message, repeated, tag = "5")]
    pub peers: Vec<Peer>,
}

/// The local lifecycle of a peer's region on this store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum PeerState {
    /// Serving.
    Normal = 0,
    /// A snapshot is being applied; on recovery its data must be cleared or re-applied.
    Applying = 1,
    /// The region is the source of a merge in progress.
    Merging = 2,
    /// The peer was removed; only the marker remains so late messages are ignored.
    Tombstone = 3,
}

/// The region's metadata on this store (`meta` CF, key `region_id`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegionLocalState {
    /// The peer's lifecycle state.
    #[prost(enumeration = "PeerState", tag = "1")]
    pub state: i32,
    /// The region as this store knows it.
    #[prost(message, optional, tag = "2")]
    pub region: Option<Region>,
}

/// How far the region's state machine has applied the log, and where the log was cut.
///
/// Invariant: `truncated_index <= applied_index`.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ApplyState {
    /// The last log index whose command is reflected in the data.
    #[prost(uint64, tag = "1")]
    pub applied_index: u64,
    /// The compaction point: entries up to here are deleted; the log starts after it.
    #[prost(uint64, tag = "2")]
    pub truncated_index: u64,
    /// The term of the entry at `truncated_index`.
    #[prost(uint64, tag = "3")]
    pub truncated_term: u64,
}

/// A group's raft state (`raft` CF, key `region_id . 0x01`): the hard state and the log's end.
///
/// Persisted only when the term or vote changes, with a snapshot, and at creation; the log end
/// and commit index stored with it go stale between writes, and recovery rebuilds them from the
/// log and the apply state ([`crate::recovery`]). In memory (in [`crate::PeerStorage`] and
/// [`crate::RecoveredRegion`]) it is always current.
///
/// Invariant (of the current state): `last_index >= truncated_index` of the region's
/// [`ApplyState`], every entry in `(truncated_index, last_index]` is in the log, and none after.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct RaftLocalState {
    /// Term, vote and commit. Persisted term and vote are current; a persisted commit may lag.
    #[prost(message, optional, tag = "1")]
    pub hard_state: Option<HardState>,
    /// The index of the last entry in the log (the compaction point if the log is empty).
    #[prost(uint64, tag = "2")]
    pub last_index: u64,
    /// The term of the entry at `last_index`.
    #[prost(uint64, tag = "3")]
    pub last_term: u64,
}

impl Region {
    /// The region's id as a newtype.
    pub fn region_id(&self) -> RegionId {
        RegionId(self.id)
    }

    /// Whether `key` falls in `[start_key, end_key)`.
    pub fn contains(&self, key: &[u8]) -> bool {
        key >= &self.start_key[..] && (self.end_key.is_empty() || key < &self.end_key[..])
    }

    /// The configuration the region's peers describe, as the consensus core wants it.
    pub fn conf_state(&self) -> ConfState {
        let mut cs = ConfState::default();
        let mut joint = false;
        for peer in &self.peers {
            match peer.role() {
                PeerRole::Voter => {
                    cs.voters.push(peer.id);
                    cs.voters_outgoing.push(peer.id);
                }
                PeerRole::Learner => cs.learners.push(peer.id),
                PeerRole::IncomingVoter => {
                    joint = true;
                    cs.voters.push(peer.id);
                }
                PeerRole::DemotingVoter => {
                    joint = true;
                    cs.voters_outgoing.push(peer.id);
                    cs.learners_next.push(peer.id);
                }
            }
        }
        if !joint {
            cs.voters_outgoing.clear();
        }
        cs
    }
}

impl RegionLocalState {
    /// A state for `region` in `state`.
    pub fn new(state: PeerState, region: Region) -> RegionLocalState {
        RegionLocalState {
            state: state as i32,
            region: Some(region),
        }
    }
}

impl RaftLocalState {
    /// The hard state, empty if none was ever written.
    pub fn hard_state(&self) -> HardState {
        self.hard_state.unwrap_or_default()
    }
}
