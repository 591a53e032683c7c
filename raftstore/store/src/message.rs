//! What flows between the parts of a store and between stores.
//!
//! ```text
//! client ──PeerMsg::Request──► PeerFsm ──WriteTask──► StoreWriter ──PeerMsg::Persisted──► PeerFsm
//!                                │   └──RaftMessage──► Transport ──► other stores' PeerFsm
//!                                └──ApplyMsg::Apply──► ApplyFsm ──PeerMsg::Applied──► PeerFsm
//!                                                          └── answers the client's callback
//! ```

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use engine::{ApplyState, Peer, Region, RegionEpoch};
use futures_channel::oneshot;
use raft::raftpb::{ConfChangeV2, Entry, Message};

use crate::cmd::{ChangePeers, CmdHeader, Mutation};
use crate::error::Result;

/// A raft message between two peers of a region on different stores, with what the receiving
/// store needs to route it and, for a peer it does not have yet, to create it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RaftMessage {
    /// The region.
    #[prost(uint64, tag = "1")]
    pub region_id: u64,
    /// The sending peer.
    #[prost(message, optional, tag = "2")]
    pub from_peer: Option<Peer>,
    /// The receiving peer.
    #[prost(message, optional, tag = "3")]
    pub to_peer: Option<Peer>,
    /// The sender's region epoch.
    #[prost(message, optional, tag = "4")]
    pub epoch: Option<RegionEpoch>,
    /// The consensus message.
    #[prost(message, optional, tag = "5")]
    pub message: Option<Message>,
    /// The region's start key, for creating the receiving peer.
    #[prost(bytes = "bytes", tag = "6")]
    pub start_key: Bytes,
    /// The region's end key, for creating the receiving peer.
    #[prost(bytes = "bytes", tag = "7")]
    pub end_key: Bytes,
    /// The receiving peer was removed from the region as of `epoch`: it must destroy itself.
    /// Carries no consensus message.
    #[prost(bool, tag = "8")]
    pub is_tombstone: bool,
    /// The leader went quiet at this term and commit index: a follower that is caught up stops
    /// ticking too. Carries no consensus message.
    #[prost(bool, tag = "9")]
    pub quiet: bool,
    /// With `quiet`: the leader's term.
    #[prost(uint64, tag = "10")]
    pub quiet_term: u64,
    /// With `quiet`: the leader's commit index.
    #[prost(uint64, tag = "11")]
    pub quiet_commit: u64,
    /// A store-to-store liveness heartbeat (region 0, no peers but the stores in `from_peer`
    /// and `to_peer`): every store sends one to each store it shares a region with, every tick,
    /// even when every region is quiet.
    #[prost(bool, tag = "12")]
    pub store_heartbeat: bool,
    /// A follower asking a member whether it is still in the region (nothing else in the
    /// message): a member of a newer configuration without it answers with a tombstone.
    #[prost(bool, tag = "13")]
    pub stale_check: bool,
}

impl RaftMessage {
    /// The store the message goes to.
    pub fn to_store(&self) -> u64 {
        self.to_peer.as_ref().map_or(0, |p| p.store_id)
    }

    /// The store the message comes from.
    pub fn from_store(&self) -> u64 {
        self.from_peer.as_ref().map_or(0, |p| p.store_id)
    }
}

/// What a client asks of one region.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Writes applied atomically.
    Write(Vec<Mutation>),
    /// The value of a key.
    Get(Bytes),
    /// Pairs with keys in `[start, end)` (end empty: the region's end), at most `limit`.
    Scan {
        /// First key.
        start: Bytes,
        /// End key, exclusive.
        end: Bytes,
        /// Most pairs returned.
        limit: usize,
    },
}

/// A store's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// A write was applied.
    Written,
    /// The value of a `Get`.
    Value(Option<Bytes>),
    /// The pairs of a `Scan`, in key order.
    Pairs(Vec<(Bytes, Bytes)>),
}

/// Answers a request once. Dropping it unanswered answers `StoreStopped`-like cancellation to
/// the waiting future, which the client reports as [`Error::Timeout`].
#[derive(Debug)]
pub struct Callback {
    tx: oneshot::Sender<Result<Response>>,
}

/// The waiting side of a [`Callback`].
pub type ResponseReceiver = oneshot::Receiver<Result<Response>>;

impl Callback {
    /// A callback and the future that resolves when it is answered.
    pub fn new() -> (Callback, ResponseReceiver) {
        let (tx, rx) = oneshot::channel();
        (Callback { tx }, rx)
    }

    /// Answers the request. The caller may have gone away; that is not an error.
    pub fn done(self, result: Result<Response>) {
        let _ = self.tx.send(result);
    }
}

/// A request routed to a region, with its deadline.
#[derive(Debug)]
pub struct RegionRequest {
    /// The region and the epoch the client knows.
    pub header: CmdHeader,
    /// What to do.
    pub request: Request,
    /// When to give up and answer `Timeout`.
    pub deadline: Instant,
    /// Where the answer goes.
    pub callback: Callback,
}

/// An admin request from the API.
#[derive(Debug)]
pub enum AdminRequest {
    /// Change the region's membership (one joint step when several changes).
    ChangePeers(ChangePeers),
    /// Hand leadership to the peer on this store.
    TransferLeader {
        /// The store of the new leader.
        to_store: u64,
    },
}

/// An admin request with where it goes and where its answer goes.
#[derive(Debug)]
pub struct AdminCommand {
    /// What to do.
    pub request: AdminRequest,
    /// The region epoch the caller knows.
    pub header: CmdHeader,
    /// Where the answer goes.
    pub callback: Callback,
}

/// The messages of a [`crate::peer::PeerFsm`].
///
/// Kept small (large payloads are boxed): every peer's mailbox channel holds a block of these
/// once used, so their size is paid per replica even when the region is idle.
#[derive(Debug)]
pub enum PeerMsg {
    /// A message from a peer on another store.
    Raft(Box<RaftMessage>),
    /// Local storage responses after the store writer made a write durable.
    Persisted(Vec<Message>),
    /// The apply side finished a task.
    Applied(Box<ApplyResult>),
    /// A client request.
    Request(Box<RegionRequest>),
    /// An admin request; answered with `Response::Written` once proposed and applied.
    Admin(Box<AdminCommand>),
    /// The store clock ticked.
    Tick,
    /// Campaign now (a bootstrap helper's or test's nudge).
    Campaign,
    /// Wake from hibernation and tick again (the leader's store went silent).
    Wake,
    /// Check that this peer is still a member of its region (the store's periodic stale-peer
    /// scan; see `PeerFsm::check_stale`).
    CheckStale,
    /// What became of a message this peer sent to peer `to`: a snapshot handed to the
    /// transport, or any message the transport could not take (its store is unreachable).
    Sent {
        /// The peer the message was for.
        to: u64,
        /// Whether it carried a snapshot.
        snapshot: bool,
        /// Whether the transport took it.
        delivered: bool,
    },
}

/// What the sender of a message may need to hear once the transport took it or refused it
/// (see [`PeerMsg::Sent`]): about a snapshot, either; about any other message, only a refusal.
#[derive(Clone, Copy, Debug)]
pub struct SentReport {
    /// The sending peer's region.
    pub region_id: u64,
    to: u64,
    snapshot: bool,
}

impl SentReport {
    /// The report to make about `msg`, taken before it is sent; `None` for a message to no
    /// peer (store heartbeats, tombstone notices).
    pub fn of(msg: &RaftMessage) -> Option<SentReport> {
        let m = msg.message.as_ref().filter(|m| m.to != 0)?;
        Some(SentReport {
            region_id: msg.region_id,
            to: m.to,
            snapshot: m.kind() == raft::raftpb::MessageType::MsgSnap,
        })
    }

    /// The message for the sender, if it needs one given whether the transport took it.
    pub fn into_msg(self, delivered: bool) -> Option<PeerMsg> {
        (self.snapshot || !delivered).then_some(PeerMsg::Sent {
            to: self.to,
            snapshot: self.snapshot,
            delivered,
        })
    }
}

/// A write the peer proposed, waiting to be applied.
#[derive(Debug)]
pub struct Proposal {
    /// The log index it was proposed at.
    pub index: u64,
    /// The term it was proposed in; an entry of another term at `index` means it was lost.
    pub term: u64,
    /// Where the answer goes.
    pub callback: Callback,
}

/// Committed entries for the apply side, with the proposals they may answer.
#[derive(Debug)]
pub struct ApplyTask {
    /// The committed entries, in order.
    pub entries: Vec<Entry>,
    /// Proposals with indexes among `entries`.
    pub proposals: Vec<Proposal>,
    /// The core's responses to deliver back to the peer after the write.
    pub responses: Vec<Message>,
}

/// The messages of a [`crate::apply::ApplyFsm`] (boxed payloads, as for [`PeerMsg`]).
#[derive(Debug)]
pub enum ApplyMsg {
    /// Apply these entries.
    Apply(Box<ApplyTask>),
    /// The region's membership or range changed through a path other than the log (a snapshot).
    Reset(Box<(Arc<Region>, ApplyState)>),
}

/// What the apply side reports back to the peer.
#[derive(Debug)]
pub struct ApplyResult {
    /// The last applied index.
    pub applied_index: u64,
    /// Conf changes applied, in order, for the peer to apply to its `RawNode`.
    pub conf_changes: Vec<ConfChangeV2>,
    /// The region after the task, when a conf change altered it.
    pub region: Option<Arc<Region>>,
    /// The new compaction point when a compact-log command was applied.
    pub compacted_to: Option<(u64, u64)>,
    /// The core's responses (`MsgStorageApplyResp`).
    pub responses: Vec<Message>,
}

/// The messages of the store's control FSM.
#[derive(Debug)]
pub enum StoreMsg {
    /// A message for a region that has no peer on this store yet.
    RaftToCreate(Box<RaftMessage>),
    /// The store clock ticked.
    Tick,
    /// Another store proved it is alive.
    StoreHeartbeat {
        /// The store.
        from_store: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailbox_messages_stay_small() {
        assert!(
            std::mem::size_of::<PeerMsg>() <= 32,
            "{}",
            std::mem::size_of::<PeerMsg>()
        );
        assert!(
            std::mem::size_of::<ApplyMsg>() <= 16,
            "{}",
            std::mem::size_of::<ApplyMsg>()
        );
    }
}
