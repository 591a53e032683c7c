//! Deciding whether a [`History`] is linearizable, and explaining why not.
//!
//! [`check`] splits the history into one register history per key (`partition`), searches each
//! for an order that explains every result (`search`), and on the first key with none, shrinks
//! that key's operations to a small set that still cannot be ordered and prints it with times
//! and results. Keys are checked in key order, so the same history always gives the same answer.
//!
//! # Semantics
//!
//! - The store starts empty. Each operation takes effect at one instant between its invocation
//!   and its completion; intervals that touch (one ends at the time the other starts) count as
//!   concurrent.
//! - [`Outcome::Failed`] operations never took effect and are ignored.
//! - [`Outcome::Unknown`] and pending writes take effect at one instant after their invocation,
//!   with no deadline, or never; unknown and pending reads are ignored.
//! - A scan is one read per key at the scan's interval, each key judged on its own. Judging the
//!   keys apart is sound: an order that explains the whole history, restricted to one key, with
//!   the scan reading that key at the scan's instant, explains that key's history; so a key with
//!   no order means the history has none, and every reported violation is real. But it is
//!   incomplete: a scan that shows key `a` after a write and key `b` before a later write, which
//!   no single instant allows, passes. Catching that would need the keys of a scan searched
//!   together, giving up the per-key split that keeps the search small.
//! - A scan that returns a key outside its range, or a key twice, is a violation on that key.
//!
//! # Shrinking
//!
//! The explanation lists a subset of the key's operations that is itself not linearizable and
//! whose failure implies the whole history's. Removing an operation from a linearizable history
//! can make it non-linearizable (drop the write a read saw), so shrinking removes only what
//! cannot: any read, and any write whose value no remaining read saw. Whatever order explains a
//! history also explains it with such operations removed, so if the subset has no order, neither
//! has the history.
//!
//! Shrinking first cuts the start of the history, then its end, as far as the violation remains
//! (two binary searches, so a long history costs few trials), then removes chunks of operations,
//! halving the chunk size down to single operations (in the manner of delta debugging). It stops
//! when no single operation can go, or when its own search budget
//! ([`Limits::shrink_states_max`]) is spent.
//!
//! # Cost
//!
//! Deciding linearizability is NP-complete in general, and the search's cost grows with the
//! number of operations in flight at once on one key, not with the length of the history. On
//! this project's two-core machine, in the dev profile, a history of 10,000 operations over 100
//! keys by 8 clients checks in about 5 ms; the same on a single key in about 10 ms, with a
//! violation found and shrunk in under half a second. Past about a dozen operations in flight
//! on one key, violations start to come back [`CheckResult::Inconclusive`] at the default
//! budget; past about twenty, so do linearizable histories. The simulator should spread its
//! clients over enough keys.

use std::fmt::{self, Write as _};
use std::ops::Range;

use bytes::Bytes;

use super::partition::{self, ABSENT, Action, KeyHistory, KeyOp, Malformed};
use super::search::{self, Verdict};
use super::{History, OpId, OpKind, Outcome};

/// The bounds on the work of a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most (linearized set, value) states the search records for one key before it gives
    /// up on that key ([`CheckResult::Inconclusive`]).
    pub key_states_max: u64,
    /// The most bytes the search's memo may hold for one key. A state costs about 50 bytes,
    /// plus 8 for every 64 operations in the window between the first operation not linearized
    /// and the last one linearized.
    pub key_memo_bytes_max: usize,
    /// The most states shrinking a violation may record over all its trial searches; once spent,
    /// the violation is reported with the smallest set found so far.
    pub shrink_states_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            key_states_max: 1_000_000,
            key_memo_bytes_max: 256 << 20,
            shrink_states_max: 4_000_000,
        }
    }
}

/// The verdict on a history.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckResult {
    /// Some order of the operations explains every result.
    Linearizable,
    /// No order explains the results on `key`.
    Violation {
        /// The first key, in key order, whose operations cannot be ordered.
        key: Bytes,
        /// A small set of operations on `key` that cannot be ordered, by invocation time.
        ops: Vec<OpId>,
        /// Those operations with their times, requests and results, for a human.
        explanation: String,
    },
    /// No key has a violation, but the search on `key` (the first such key) ran out of budget.
    Inconclusive {
        /// The key whose search gave up.
        key: Bytes,
        /// The states the search recorded before giving up.
        states_explored: u64,
    },
}

impl CheckResult {
    /// Returns whether the history is linearizable.
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Self::Linearizable)
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linearizable => f.write_str("linearizable"),
            Self::Violation { explanation, .. } => f.write_str(explanation),
            Self::Inconclusive {
                key,
                states_explored,
            } => write!(
                f,
                "inconclusive: the search on key {key:?} gave up after {states_explored} states"
            ),
        }
    }
}

/// Checks `history` with the default [`Limits`].
pub fn check(history: &History) -> CheckResult {
    check_with_limits(history, &Limits::default())
}

/// Checks `history`, bounding the work by `limits`.
///
/// A [`CheckResult::Violation`] wins over a [`CheckResult::Inconclusive`] on another key: every
/// key is searched even after one gives up.
pub fn check_with_limits(history: &History, limits: &Limits) -> CheckResult {
    let keys = match partition::partition(history) {
        Ok(keys) => keys,
        Err(malformed) => return malformed_violation(history, &malformed),
    };
    let mut inconclusive = None;
    for key in &keys {
        let found = search::search(&key.ops, limits.key_states_max, limits.key_memo_bytes_max);
        match found.verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable => return violation(history, key, limits),
            Verdict::LimitReached => {
                inconclusive.get_or_insert(CheckResult::Inconclusive {
                    key: key.key.clone(),
                    states_explored: found.states_explored,
                });
            }
        }
    }
    inconclusive.unwrap_or(CheckResult::Linearizable)
}

/// Returns the violation of a scan whose reply no order can explain.
fn malformed_violation(history: &History, malformed: &Malformed) -> CheckResult {
    let op = history.op(malformed.id);
    let explanation = format!(
        "key {:?}: {} (client {}, {}) returned the key, which {}",
        malformed.key, malformed.id, op.client, op.kind, malformed.reason
    );
    CheckResult::Violation {
        key: malformed.key.clone(),
        ops: vec![malformed.id],
        explanation,
    }
}

/// Shrinks the non-linearizable history of `key` and returns its violation.
fn violation(history: &History, key: &KeyHistory, limits: &Limits) -> CheckResult {
    let shrunk = shrink(key.ops.clone(), key.values.len(), limits);
    let mut ops: Vec<OpId> = shrunk.ops.iter().map(|op| op.id).collect();
    ops.dedup();
    CheckResult::Violation {
        key: key.key.clone(),
        ops,
        explanation: explain(history, key, &shrunk),
    }
}

/// A non-linearizable subset of one key's operations.
struct Shrunk {
    /// The operations, in the key history's order.
    ops: Vec<KeyOp>,
    /// Whether shrinking finished: no single operation can be removed.
    finished: bool,
}

/// Returns a subset of the non-linearizable `ops` that is still not linearizable, and from which
/// no single removable operation (see the module doc) can go.
fn shrink(ops: Vec<KeyOp>, values: usize, limits: &Limits) -> Shrunk {
    let mut shrinker = Shrinker {
        values,
        states_left: limits.shrink_states_max,
        memo_bytes_max: limits.key_memo_bytes_max,
        out_of_budget: false,
    };
    // The start first: proving a trial non-linearizable means exhausting every order of what
    // precedes the violation, so a shorter start makes every later trial cheaper.
    let ops = shrinker.cut_before(ops);
    let ops = shrinker.cut_after(ops);
    let ops = shrinker.remove_chunks(ops);
    Shrunk {
        ops,
        finished: !shrinker.out_of_budget,
    }
}

/// The state of one shrinking: its budget, spent by trial searches.
struct Shrinker {
    /// How many distinct values the key has.
    values: usize,
    states_left: u64,
    memo_bytes_max: usize,
    /// Set once a trial search gives up; every later trial then fails at once.
    out_of_budget: bool,
}

impl Shrinker {
    /// Returns the largest cut of `ops` at the end that keeps them non-linearizable: the
    /// removable operations of `ops[i..]` for the smallest such `i`. Finding it is a binary
    /// search, because a longer cut is a removal from a shorter one: if the longer cut still
    /// fails, so does the shorter.
    fn cut_after(&mut self, ops: Vec<KeyOp>) -> Vec<KeyOp> {
        let (mut lo, mut hi) = (0, ops.len());
        let mut best = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if let Some(trial) = self.try_without(&ops, mid..ops.len()) {
                (hi, best) = (mid, Some(trial));
            } else {
                lo = mid + 1;
            }
        }
        best.unwrap_or(ops)
    }

    /// Returns the largest cut of `ops` at the start that keeps them non-linearizable, found by
    /// binary search as in [`Shrinker::cut_after`].
    fn cut_before(&mut self, ops: Vec<KeyOp>) -> Vec<KeyOp> {
        let (mut lo, mut hi) = (0, ops.len());
        let mut best = None;
        while lo < hi {
            let mid = hi - (hi - lo) / 2;
            if let Some(trial) = self.try_without(&ops, 0..mid) {
                (lo, best) = (mid, Some(trial));
            } else {
                hi = mid - 1;
            }
        }
        best.unwrap_or(ops)
    }

    /// Removes chunks of operations, halving the chunk length down to one operation, until no
    /// single operation can go (in the manner of delta debugging).
    fn remove_chunks(&mut self, ops: Vec<KeyOp>) -> Vec<KeyOp> {
        let mut current = ops;
        let mut chunk_len = (current.len() / 2).max(1);
        loop {
            let mut removed_any = false;
            let mut start = 0;
            while start < current.len() && !self.out_of_budget {
                let end = (start + chunk_len).min(current.len());
                // On success, the chunk's survivors move to `start`: try them with what follows.
                if let Some(trial) = self.try_without(&current, start..end) {
                    current = trial;
                    removed_any = true;
                } else {
                    start = end;
                }
            }
            if self.out_of_budget || (chunk_len == 1 && !removed_any) {
                return current;
            }
            chunk_len = (chunk_len / 2).max(1);
        }
    }

    /// Returns `ops` without the removable operations of `ops[range]` if that is still not
    /// linearizable; `None` if nothing is removable, the rest is linearizable, or the budget is
    /// spent.
    fn try_without(&mut self, ops: &[KeyOp], range: Range<usize>) -> Option<Vec<KeyOp>> {
        if self.out_of_budget {
            return None;
        }
        let trial = without_removable(ops, range, self.values)?;
        let found = search::search(&trial, self.states_left, self.memo_bytes_max);
        self.states_left = self.states_left.saturating_sub(found.states_explored);
        match found.verdict {
            Verdict::NotLinearizable => Some(trial),
            Verdict::Linearizable => None,
            Verdict::LimitReached => {
                self.out_of_budget = true;
                None
            }
        }
    }
}

/// Returns `ops` without the removable operations of `ops[range]`: its reads, and its writes
/// whose value no read left afterwards saw. Returns `None` if none is removable.
fn without_removable(ops: &[KeyOp], range: Range<usize>, values: usize) -> Option<Vec<KeyOp>> {
    let mut seen = vec![false; values + 1];
    for (index, op) in ops.iter().enumerate() {
        if let Action::Read(value) = op.action {
            seen[value as usize] |= !range.contains(&index);
        }
    }
    let removable = |op: &KeyOp| match op.action {
        Action::Read(_) => true,
        Action::Write(value) => !seen[value as usize],
    };
    if !ops[range.clone()].iter().any(removable) {
        return None;
    }
    let kept = ops
        .iter()
        .enumerate()
        .filter(|&(index, op)| !range.contains(&index) || !removable(op));
    Some(kept.map(|(_, op)| *op).collect())
}

/// The most operations an explanation lists, which only matters when shrinking ran out of
/// budget early.
const EXPLAINED_OPS_MAX: usize = 40;

/// Returns the explanation of a violation: the shrunk operations, one a line.
fn explain(history: &History, key: &KeyHistory, shrunk: &Shrunk) -> String {
    let mut text = format!(
        "key {:?}: no order of these {} operations fits their intervals and a register's \
         semantics\n",
        key.key,
        shrunk.ops.len()
    );
    // Past the bound, the first and last halves are listed and the middle counted.
    let omitted = shrunk.ops.len().saturating_sub(EXPLAINED_OPS_MAX);
    let omitted_from = if omitted > 0 {
        EXPLAINED_OPS_MAX / 2
    } else {
        usize::MAX
    };
    for (index, op) in shrunk.ops.iter().enumerate() {
        // Writing to a String cannot fail.
        if index == omitted_from {
            let _ = writeln!(text, "  ... {omitted} more operations ...");
        }
        if (omitted_from..omitted_from.saturating_add(omitted)).contains(&index) {
            continue;
        }
        let _ = writeln!(text, "  {}", explain_op(history, key, op));
    }
    for value in never_written(key, &shrunk.ops) {
        let _ = writeln!(
            text,
            "  (no write that can have taken effect wrote {value:?})"
        );
    }
    if !shrunk.finished {
        text.push_str("  (shrinking ran out of budget: a smaller set may exist)\n");
    }
    text.push_str(
        "  (the key starts absent; an operation takes effect at one instant of its interval \
         [invoked, completed];\n   one with an unknown outcome, [invoked, ..), at one instant \
         after its invocation, or never)\n",
    );
    text
}

/// Returns one line describing `op`: id, client, interval, request and result on `key`.
fn explain_op(history: &History, key: &KeyHistory, op: &KeyOp) -> String {
    let full = history.op(op.id);
    let interval = match op.completed_at {
        Some(completed_at) => format!("[{}, {completed_at}]", op.invoked_at),
        None => format!("[{}, ..)", op.invoked_at),
    };
    let result = match (&full.outcome, full.completed_at) {
        (Outcome::Unknown, Some(gave_up_at)) => format!("unknown (gave up at {gave_up_at})"),
        (Outcome::Unknown, None) => "pending at the end of the run".to_owned(),
        (outcome, _) => outcome.to_string(),
    };
    let what = match (&full.kind, op.action) {
        (OpKind::Scan { .. }, Action::Read(value)) => {
            let seen = key
                .value(value)
                .map_or("absent".to_owned(), |value| format!("{value:?}"));
            format!("{} -> saw {:?} = {seen}", full.kind, key.key)
        }
        (kind, _) => format!("{kind} -> {result}"),
    };
    format!(
        "{:<8} client {:<4} {interval:<22} {what}",
        op.id.to_string(),
        full.client
    )
}

/// Returns the values that the reads of `ops` saw but no write of the key's history wrote.
fn never_written<'a>(key: &'a KeyHistory, ops: &[KeyOp]) -> Vec<&'a Bytes> {
    let mut written = vec![false; key.values.len() + 1];
    written[ABSENT as usize] = true;
    for op in &key.ops {
        if let Action::Write(value) = op.action {
            written[value as usize] = true;
        }
    }
    let mut missing: Vec<u32> = ops
        .iter()
        .filter_map(|op| match op.action {
            Action::Read(value) if !written[value as usize] => Some(value),
            _ => None,
        })
        .collect();
    missing.sort_unstable();
    missing.dedup();
    missing
        .into_iter()
        .filter_map(|value| key.value(value))
        .collect()
}
