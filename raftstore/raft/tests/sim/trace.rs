//! The step-by-step trace printed when a seed is replayed (`SIM_SEED=n`), and the one-line
//! descriptions it is made of. Tracing costs nothing when disabled: lines are built by closures
//! that only run when the trace is on.
//!
//! Lines go straight to the process's standard error, bypassing the test harness's capture, so
//! a replay shows them interleaved with the core's own `tracing` logs.

use std::fmt::Write as _;
use std::io::Write as _;

use raft::raftpb::{Message, MessageType};

/// The trace of one run.
pub struct Trace {
    enabled: bool,
}

impl Trace {
    /// A trace that prints when `enabled`.
    pub fn new(enabled: bool) -> Trace {
        Trace { enabled }
    }

    /// Prints the line `f` builds, if the trace is on.
    pub fn line(&self, f: impl FnOnce() -> String) {
        if self.enabled {
            say(&f());
        }
    }
}

/// Writes a line to standard error, past the test harness's output capture.
pub fn say(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// A short description of a message: type, route, term and the fields that matter for it.
pub fn describe_msg(m: &Message) -> String {
    let kind = m.kind();
    let mut s = format!("{kind:?} {}->{} t{}", m.from, m.to, m.term);
    match kind {
        MessageType::MsgApp => {
            let _ = write!(s, " prev {}/{} commit {}", m.index, m.log_term, m.commit);
            if let (Some(first), Some(last)) = (m.entries.first(), m.entries.last()) {
                let _ = write!(s, " entries {}..={}", first.index, last.index);
            }
        }
        MessageType::MsgAppResp => {
            let _ = write!(s, " index {}", m.index);
            if m.reject {
                let _ = write!(s, " reject hint {}/{}", m.reject_hint, m.log_term);
            }
        }
        MessageType::MsgVote | MessageType::MsgPreVote => {
            let _ = write!(s, " last {}/{}", m.index, m.log_term);
        }
        MessageType::MsgVoteResp | MessageType::MsgPreVoteResp => {
            s += if m.reject { " rejected" } else { " granted" };
        }
        MessageType::MsgHeartbeat => {
            let _ = write!(s, " commit {}", m.commit);
        }
        MessageType::MsgSnap => {
            let snap = m.snapshot.clone().unwrap_or_default();
            let _ = write!(s, " snapshot {}/{}", snap.index(), snap.term());
        }
        MessageType::MsgStorageAppend => {
            let _ = write!(s, " hs t{} v{} c{}", m.term, m.vote, m.commit);
            if let (Some(first), Some(last)) = (m.entries.first(), m.entries.last()) {
                let _ = write!(s, " entries {}..={}", first.index, last.index);
            }
            if let Some(snap) = &m.snapshot {
                let _ = write!(s, " snapshot {}/{}", snap.index(), snap.term());
            }
            let _ = write!(s, " responses {}", m.responses.len());
        }
        MessageType::MsgStorageApply => {
            if let (Some(first), Some(last)) = (m.entries.first(), m.entries.last()) {
                let _ = write!(s, " entries {}..={}", first.index, last.index);
            }
        }
        MessageType::MsgReadIndexResp => {
            let _ = write!(s, " index {}", m.index);
        }
        MessageType::MsgProp => {
            let _ = write!(s, " entries {}", m.entries.len());
        }
        _ => {}
    }
    s
}
