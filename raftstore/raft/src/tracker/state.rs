//! The three ways a leader can be replicating to a follower.
//!
//! ```text
//!                        append accepted
//!        +---------+ -------------------------> +-------------+
//! new -> |  Probe  |                            |  Replicate  |
//!        +---------+ <------------------------- +-------------+
//!          |     ^      rejected or unreachable        |
//!          |     |                                     |
//!      (1) |     | (2)                             (1) |
//!          v     |                                     |
//!        +----------+ <--------------------------------+
//!        | Snapshot |
//!        +----------+
//!
//! (1) the entries the follower needs are compacted away: a snapshot is sent
//! (2) the snapshot is reported done or failed, or a response shows the follower caught up
//! ```
//!
//! `docs/progress.md` describes the flow control that goes with these states.
//!
//! `docs/progress.md` describes the flow control that goes with these states.

use std::fmt;

/// How the leader is currently replicating to one follower.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProgressState {
    /// The leader does not know where the follower's log diverges. It sends at most one append
    /// per heartbeat interval and waits for the answer before sending the next one.
    #[default]
    Probe,
    /// The follower is known to match the leader's log; appends are streamed optimistically,
    /// limited by the inflight window.
    Replicate,
    /// The follower needs entries the leader has compacted away; a snapshot has been sent and
    /// appends are paused until the follower catches up.
    Snapshot,
}

/// Prints etcd's names (`StateProbe`, `StateReplicate`, `StateSnapshot`), which golden test
/// output records.
impl fmt::Display for ProgressState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProgressState::Probe => "StateProbe",
            ProgressState::Replicate => "StateReplicate",
            ProgressState::Snapshot => "StateSnapshot",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_uses_etcd_names() {
        assert_eq!(ProgressState::Probe.to_string(), "StateProbe");
        assert_eq!(ProgressState::Replicate.to_string(), "StateReplicate");
        assert_eq!(ProgressState::Snapshot.to_string(), "StateSnapshot");
        assert_eq!(ProgressState::default(), ProgressState::Probe);
    }
}
