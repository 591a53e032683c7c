//! The errors of the consensus core.
//!
//! Every failed call on [`crate::RawNode`] leaves the state machine exactly as it was and says
//! why with one of these variants.

use thiserror::Error;

/// Why a call into the consensus core failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The proposal was not accepted; the caller may retry (usually elsewhere or later).
    #[error("proposal dropped: {reason}")]
    ProposalDropped {
        /// Why the proposal could not be taken.
        reason: DropReason,
    },
    /// A local-only message type was passed to `step`; local messages are created by the core.
    #[error("cannot step a local message")]
    StepLocalMsg,
    /// A response came from a node that is not in the configuration.
    #[error("cannot step a response from a peer that is not in the configuration")]
    StepPeerNotFound,
    /// The membership change is not allowed now or makes no sense.
    #[error("invalid configuration change: {reason}")]
    ConfChangeInvalid {
        /// A sentence naming the rule the change broke.
        reason: String,
    },
    /// A `Config` field holds a value the core cannot work with.
    #[error("invalid config field `{field}`: {reason}")]
    ConfigInvalid {
        /// The name of the field.
        field: &'static str,
        /// Why the value was refused.
        reason: String,
    },
    /// The call is not valid in the node's current role or state.
    #[error("request refused: {reason}")]
    RequestRefused {
        /// Why.
        reason: String,
    },
    /// Reading from storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
}

/// Why a proposal was dropped.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// No leader is known to forward the proposal to.
    #[error("no leader")]
    NoLeader,
    /// The leader is handing over leadership and takes no proposals until it is done.
    #[error("leadership transfer in progress")]
    TransferInProgress,
    /// Accepting it would exceed `max_uncommitted_entries_size`.
    #[error("too many uncommitted bytes")]
    UncommittedSizeExceeded,
    /// This follower does not forward proposals (`disable_proposal_forwarding`).
    #[error("proposal forwarding is disabled")]
    ForwardingDisabled,
    /// The leader is no longer part of the configuration.
    #[error("leader was removed from the configuration")]
    LeaderRemoved,
}

/// Errors that a [`crate::Storage`] implementation returns.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The requested index precedes the first available entry (it was compacted away).
    #[error("log compacted before the requested index")]
    Compacted,
    /// The requested index is past the last available entry.
    #[error("requested entry is not available")]
    Unavailable,
    /// The snapshot to apply is older than what storage already has.
    #[error("snapshot out of date")]
    SnapshotOutOfDate,
    /// A snapshot is being prepared; ask again later.
    #[error("snapshot temporarily unavailable")]
    SnapshotTemporarilyUnavailable,
    /// Any other failure of the storage layer, described.
    #[error("{0}")]
    Other(String),
}

/// The result type of the consensus core.
pub type Result<T> = std::result::Result<T, Error>;
