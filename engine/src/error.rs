//! The errors of the engine.
//!
//! One enum for the crate. A caller that gets [`Error::Io`], [`Error::DiskFull`] or
//! [`Error::ReadOnly`] from a write knows that the write did not happen as a whole and must not
//! retry it blindly: the store stops cleanly instead (fail-stop). [`Error::Corruption`] means the
//! data on disk cannot be trusted. Snapshot errors leave the receiving region untouched.

use std::path::PathBuf;

use thiserror::Error;

use crate::types::RegionId;

/// Why an engine call failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error on read, write or fsync. Nothing of the failed write is visible.
    #[error("i/o error: {0}")]
    Io(String),
    /// The disk has no space left; the failed write is not visible.
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The data directory or the database was opened read-only; no write is possible.
    #[error("engine is read-only: {0}")]
    ReadOnly(String),
    /// Stored data does not decode or breaks an invariant (a gap in a log, a bad checksum).
    #[error("corruption: {0}")]
    Corruption(String),
    /// A region snapshot is incomplete, altered or does not fit the receiving region; it was
    /// refused and the region is as it was.
    #[error("snapshot refused: {reason}")]
    SnapshotCorrupt {
        /// What is wrong with it.
        reason: String,
    },
    /// A region's state is missing where the call needs it.
    #[error("region {region_id} not found")]
    RegionNotFound {
        /// The region asked for.
        region_id: RegionId,
    },
    /// Opening a database failed (bad path, locked by another process, incompatible options).
    #[error("cannot open engine at {path}: {reason}")]
    Open {
        /// The directory given to open.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A caller passed an argument the engine cannot act on (an inverted range, an index gap).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

/// The result type of the engine.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Classifies an I/O error from the standard library.
    pub fn from_io(context: &str, err: &std::io::Error) -> Error {
        let msg = format!("{context}: {err}");
        match err.kind() {
            std::io::ErrorKind::StorageFull => Error::DiskFull(msg),
            std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied => {
                Error::ReadOnly(msg)
            }
            _ => Error::Io(msg),
        }
    }

    /// Whether the error comes from the disk refusing writes (full or read-only): the store
    /// stops writing and reports it rather than treating the data as corrupt.
    pub fn is_write_refused(&self) -> bool {
        matches!(self, Error::DiskFull(_) | Error::ReadOnly(_))
    }
}
