//! How a store sends raft messages to other stores.
//!
//! The store only needs [`Transport`]: send one message, flush at the end of a poller round.
//! [`local::LocalTransport`] connects stores in one process, with faults for tests; the QUIC
//! transport (crate `transport`) will implement the same trait between processes.

pub mod local;

use crate::message::RaftMessage;

/// Why a message could not be handed to the transport.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No route to the store (unknown, stopped or disconnected).
    #[error("store {0} is unreachable")]
    Unreachable(u64),
}

/// Sends raft messages to other stores. Delivery is best effort: Raft tolerates loss,
/// duplication and reordering, and the store reports unreachable stores to the core.
pub trait Transport: Send + Sync + 'static {
    /// Queues `msg` for its store.
    fn send(&self, msg: RaftMessage) -> Result<(), TransportError>;

    /// Sends what is queued (called at the end of every poller round and after every write
    /// batch, so batching never delays a message by more than one round).
    fn flush(&self) {}
}

/// Where a transport delivers the messages for one store (the store's router).
pub trait MessageSink: Send + Sync + 'static {
    /// Delivers one message to the store.
    fn deliver(&self, msg: RaftMessage);
}
