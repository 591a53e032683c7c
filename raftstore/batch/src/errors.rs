//! Errors of the batch system.

use thiserror::Error;

/// Why a message could not be sent; the message comes back to the caller.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError<M> {
    /// The mailbox holds `mailbox_capacity` messages already; try later (or answer "busy").
    #[error("mailbox is full")]
    Full(M),
    /// The machine was closed (destroyed) or the system shut down.
    #[error("mailbox is closed")]
    Disconnected(M),
    /// No machine is registered under that id.
    #[error("no mailbox for this id")]
    NotFound(M),
}

impl<M> SendError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            SendError::Full(m) | SendError::Disconnected(m) | SendError::NotFound(m) => m,
        }
    }
}

/// Errors of starting or managing the system.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A `Config` field holds an unusable value.
    #[error("invalid config field `{field}`: {reason}")]
    ConfigInvalid {
        /// The field's name.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A machine is already registered under this id.
    #[error("a mailbox is already registered for id {id}")]
    AlreadyRegistered {
        /// The id.
        id: u64,
    },
    /// The system was already started or shut down.
    #[error("batch system is {state}")]
    WrongState {
        /// What it is.
        state: &'static str,
    },
    /// A poller thread could not be started.
    #[error("cannot spawn poller thread: {reason}")]
    Spawn {
        /// The operating system's reason.
        reason: String,
    },
}
