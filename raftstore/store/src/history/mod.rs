//! Client histories of a key-value store, and the linearizability checker that judges them.
//!
//! The store simulator records every client operation twice: when the client sends it
//! ([`History::invoke`]) and when the client learns its fate ([`History::complete`]). Times are
//! the simulator's virtual clock. After the run, [`check`] decides whether some single order of
//! the operations, each taking effect at one instant inside its own interval, explains every
//! result the clients saw.
//!
//! ```text
//!   simulator ──invoke(client, kind, now)──► History ──complete(id, outcome, now)──► History
//!                                               │
//!                                               ▼
//!   check ─► partition: one register history per key (scans become per-key reads)
//!         ─► search: Wing & Gong / Lowe just-in-time linearization, memoized (Porcupine)
//!         ─► on failure, shrink to a small set of ops that cannot be ordered, and explain it
//! ```
//!
//! | module | owns |
//! | --- | --- |
//! | this one | [`Op`], [`OpKind`], [`Outcome`], [`Reply`], [`OpId`] and the [`History`] recorder |
//! | [`linearizability`] | [`check`], [`CheckResult`], [`Limits`], shrinking and explanations |
//! | `partition` | projecting a history onto one register history per key |
//! | `search` | the memoized linearization search over one key |
//!
//! The store starts empty: every key is absent until a put takes effect.

mod partition;
mod search;

pub mod linearizability;

use std::fmt;

use bytes::Bytes;

pub use linearizability::{CheckResult, Limits, check, check_with_limits};

/// Identifies one operation of a [`History`]: its position in [`History::ops`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(usize);

impl OpId {
    /// Returns the position of the operation in [`History::ops`].
    pub fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "op#{}", self.0)
    }
}

/// What a client asked the store to do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpKind {
    /// Sets `key` to `value`.
    Put {
        /// The key written.
        key: Bytes,
        /// The value written.
        value: Bytes,
    },
    /// Removes `key`; deleting an absent key is not an error.
    Delete {
        /// The key removed.
        key: Bytes,
    },
    /// Reads `key`.
    Get {
        /// The key read.
        key: Bytes,
    },
    /// Reads every present key in `start..end` (start inclusive, end exclusive) at one instant.
    ///
    /// The checker verifies a scan as one read per key at the scan's interval, each key judged on
    /// its own: it catches a scan that shows any key in a state that key never had at any point
    /// of the interval, but not a scan that shows two keys as they were at two different
    /// instants. See [`linearizability`] for why this keeps the check sound.
    Scan {
        /// The first key of the range.
        start: Bytes,
        /// The first key after the range.
        end: Bytes,
    },
}

impl OpKind {
    /// Returns a [`OpKind::Put`] of `value` at `key`.
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self::Put {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Returns a [`OpKind::Delete`] of `key`.
    pub fn delete(key: impl Into<Bytes>) -> Self {
        Self::Delete { key: key.into() }
    }

    /// Returns a [`OpKind::Get`] of `key`.
    pub fn get(key: impl Into<Bytes>) -> Self {
        Self::Get { key: key.into() }
    }

    /// Returns a [`OpKind::Scan`] of `start..end`.
    pub fn scan(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        Self::Scan {
            start: start.into(),
            end: end.into(),
        }
    }

    /// Returns whether `reply` is the kind of reply this operation gets when it succeeds.
    fn accepts(&self, reply: &Reply) -> bool {
        matches!(
            (self, reply),
            (Self::Put { .. } | Self::Delete { .. }, Reply::Written)
                | (Self::Get { .. }, Reply::Value(_))
                | (Self::Scan { .. }, Reply::Entries(_))
        )
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Put { key, value } => write!(f, "put {key:?} = {value:?}"),
            Self::Delete { key } => write!(f, "delete {key:?}"),
            Self::Get { key } => write!(f, "get {key:?}"),
            Self::Scan { start, end } => write!(f, "scan [{start:?}, {end:?})"),
        }
    }
}

/// What the client learned about an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The operation took effect, at one instant between its invocation and its completion.
    Ok(Reply),
    /// The operation definitely did not take effect (the store refused it before proposing it,
    /// for example). The checker ignores it.
    Failed,
    /// The client does not know (it timed out, or the run ended first): the operation may have
    /// taken effect at any instant after its invocation, even after the client gave up, or never.
    Unknown,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok(reply) => write!(f, "{reply}"),
            Self::Failed => f.write_str("failed"),
            Self::Unknown => f.write_str("unknown"),
        }
    }
}

/// The reply to an operation that succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// A put or delete was applied.
    Written,
    /// A get found this value, or `None` when the key was absent.
    Value(Option<Bytes>),
    /// A scan found these keys and values (keys inside the range, each at most once).
    Entries(Vec<(Bytes, Bytes)>),
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Written => f.write_str("ok"),
            Self::Value(Some(value)) => write!(f, "{value:?}"),
            Self::Value(None) => f.write_str("absent"),
            Self::Entries(entries) => write!(f, "{} entries", entries.len()),
        }
    }
}

/// One client operation: what was asked, when, and what came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    /// The client that issued the operation; used only in explanations.
    pub client: u64,
    /// What the client asked for.
    pub kind: OpKind,
    /// Virtual time at which the client sent the operation.
    pub invoked_at: u64,
    /// Virtual time at which the client learned the outcome (or gave up), `None` while pending.
    ///
    /// Invariant: `completed_at >= invoked_at`.
    pub completed_at: Option<u64>,
    /// The outcome; [`Outcome::Unknown`] while pending.
    ///
    /// Invariant: an [`Outcome::Ok`] reply is the one [`OpKind`] expects (`Written` for put and
    /// delete, `Value` for get, `Entries` for scan).
    pub outcome: Outcome,
}

/// The record of every operation of a run, in invocation order, filled in by the simulator.
///
/// An operation that was invoked but never completed counts as [`Outcome::Unknown`].
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Every operation, indexed by [`OpId`]. Unbounded on purpose: the simulator bounds the
    /// number of operations of a run, and [`Limits`] bounds what checking them costs.
    ops: Vec<Op>,
}

impl History {
    /// Returns an empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `client` sent `kind` at virtual time `now`, and returns its id.
    pub fn invoke(&mut self, client: u64, kind: OpKind, now: u64) -> OpId {
        let id = OpId(self.ops.len());
        self.ops.push(Op {
            client,
            kind,
            invoked_at: now,
            completed_at: None,
            outcome: Outcome::Unknown,
        });
        id
    }

    /// Records that the client of `id` learned `outcome` at virtual time `now`.
    ///
    /// # Panics
    ///
    /// Panics (a bug in the caller) if `id` is not from this history, if the operation was
    /// already completed, if `now` is before the invocation, or if an [`Outcome::Ok`] reply does
    /// not fit the operation (a get must reply [`Reply::Value`], and so on).
    pub fn complete(&mut self, id: OpId, outcome: Outcome, now: u64) {
        let len = self.ops.len();
        let op = self
            .ops
            .get_mut(id.0)
            .unwrap_or_else(|| panic!("{id} not in a history of {len}"));
        assert!(op.completed_at.is_none(), "{id} completed twice");
        assert!(
            now >= op.invoked_at,
            "{id} completed at {now}, before its invocation"
        );
        if let Outcome::Ok(reply) = &outcome {
            assert!(
                op.kind.accepts(reply),
                "{id} ({}) cannot reply {reply:?}",
                op.kind
            );
        }
        op.completed_at = Some(now);
        op.outcome = outcome;
    }

    /// Returns every operation, indexed by [`OpId::index`].
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Returns the operation `id`.
    ///
    /// # Panics
    ///
    /// Panics if `id` is not from this history.
    pub fn op(&self, id: OpId) -> &Op {
        &self.ops[id.0]
    }

    /// Returns the number of operations recorded.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Returns whether no operation was recorded.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_keeps_pending_ops_unknown_and_fills_completions() {
        let mut history = History::new();
        let put = history.invoke(1, OpKind::put("k", "v"), 3);
        let get = history.invoke(2, OpKind::get("k"), 4);
        history.complete(put, Outcome::Ok(Reply::Written), 9);
        assert_eq!(history.len(), 2);
        assert_eq!(history.op(put).completed_at, Some(9));
        assert_eq!(history.op(put).outcome, Outcome::Ok(Reply::Written));
        assert_eq!(history.op(get).completed_at, None);
        assert_eq!(history.op(get).outcome, Outcome::Unknown);
        assert_eq!(get.index(), 1);
        assert_eq!(get.to_string(), "op#1");
    }

    #[test]
    #[should_panic(expected = "completed twice")]
    fn completing_twice_panics() {
        let mut history = History::new();
        let id = history.invoke(1, OpKind::delete("k"), 0);
        history.complete(id, Outcome::Ok(Reply::Written), 1);
        history.complete(id, Outcome::Failed, 2);
    }

    #[test]
    #[should_panic(expected = "before its invocation")]
    fn completing_before_invocation_panics() {
        let mut history = History::new();
        let id = history.invoke(1, OpKind::get("k"), 5);
        history.complete(id, Outcome::Ok(Reply::Value(None)), 4);
    }

    #[test]
    #[should_panic(expected = "cannot reply")]
    fn reply_of_the_wrong_kind_panics() {
        let mut history = History::new();
        let id = history.invoke(1, OpKind::get("k"), 0);
        history.complete(id, Outcome::Ok(Reply::Written), 1);
    }

    #[test]
    #[should_panic(expected = "not in a history")]
    fn completing_a_foreign_id_panics() {
        let mut history = History::new();
        history.complete(OpId(3), Outcome::Failed, 1);
    }
}
