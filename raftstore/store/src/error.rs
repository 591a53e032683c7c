//! The errors a store and its clients return.
//!
//! Errors that tell the caller where to go instead (`NotLeader`, `EpochNotMatch`,
//! `KeyNotInRegion`, `RegionNotFound`) are retried by [`crate::Client`] after it updates its
//! region cache; the others reach the application. `OutcomeUnknown` is the one a caller must
//! think about: the write may or may not have happened (its leader lost leadership or the
//! request timed out after proposing), exactly as with any replicated store.

use engine::{Region, RegionEpoch};
use thiserror::Error;

/// Why a store or client call failed.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer asked is not the region's leader; `leader` is the store id of the leader it
    /// knows of, if any.
    #[error("region {region_id}: not leader (leader store: {leader:?})")]
    NotLeader {
        /// The region.
        region_id: u64,
        /// The store of the leader this peer knows of.
        leader: Option<u64>,
    },
    /// The request was routed with a stale region epoch (membership, split or merge happened).
    #[error("region {region_id}: epoch {request:?} does not match {current:?}")]
    EpochNotMatch {
        /// The region.
        region_id: u64,
        /// The epoch the request carried.
        request: RegionEpoch,
        /// The region as the store knows it now.
        current: Box<Region>,
    },
    /// A key of the request is outside the region it was sent to.
    #[error("region {region_id}: key {key:02x?} is not in the region")]
    KeyNotInRegion {
        /// The region.
        region_id: u64,
        /// The key.
        key: Vec<u8>,
    },
    /// The store has no peer of the region.
    #[error("region {region_id} not found on store {store_id}")]
    RegionNotFound {
        /// The region.
        region_id: u64,
        /// The store asked.
        store_id: u64,
    },
    /// The store cannot take more work now (a full mailbox, too much uncommitted data); retry
    /// later.
    #[error("server is busy: {reason}")]
    ServerIsBusy {
        /// What is full.
        reason: String,
    },
    /// No answer within the request timeout; a write may or may not have happened.
    #[error("request timed out")]
    Timeout,
    /// The request was proposed but its outcome is unknown: the leader lost leadership before
    /// the entry was applied. It may still commit.
    #[error("region {region_id}: outcome unknown ({reason})")]
    OutcomeUnknown {
        /// The region.
        region_id: u64,
        /// What happened.
        reason: &'static str,
    },
    /// The command was not committed: another entry took its place in the log.
    #[error("region {region_id}: command superseded by a new leader's log")]
    StaleCommand {
        /// The region.
        region_id: u64,
    },
    /// A request the store cannot run as given (empty batch, keys spanning regions).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A membership change the region refuses (a second one in flight, a bad peer list).
    #[error("region {region_id}: conf change refused: {reason}")]
    ConfChangeRefused {
        /// The region.
        region_id: u64,
        /// Why.
        reason: String,
    },
    /// The configuration is invalid; `field` names the first bad field.
    #[error("invalid config: {field}: {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The store is stopping or stopped (after a clean shutdown or a fatal engine error).
    #[error("store {store_id} is stopped")]
    StoreStopped {
        /// The store.
        store_id: u64,
    },
    /// The engine failed; the store stops.
    #[error("engine: {0}")]
    Engine(String),
}

/// The result type of the store.
pub type Result<T> = std::result::Result<T, Error>;

impl From<engine::Error> for Error {
    fn from(err: engine::Error) -> Error {
        Error::Engine(err.to_string())
    }
}

impl Error {
    /// Whether a client may retry the request after refreshing its view of the region: the
    /// request certainly did not take effect.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::NotLeader { .. }
                | Error::EpochNotMatch { .. }
                | Error::RegionNotFound { .. }
                | Error::StaleCommand { .. }
                | Error::ServerIsBusy { .. }
                | Error::StoreStopped { .. }
        )
    }
}
