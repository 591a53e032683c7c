//! The linearization search over one key's register history: Wing & Gong's backtracking search
//! with Lowe's just-in-time linearization and memoization, as in Porcupine, plus two pruning
//! rules of our own.
//!
//! The operations' invocations ("calls") and completions ("returns") form one list sorted by
//! time, calls before returns at equal times, so two operations whose intervals touch count as
//! concurrent. The calls ahead of the first return are the candidates: the operations that may
//! take effect next. The search walks the list from the front:
//!
//! - At a call, it tries to linearize that operation now: the register must allow it (a read
//!   must see the current value). If so, and the pair (set of operations linearized, register
//!   value) was never reached before, it lifts the call and its return out of the list, pushes
//!   the choice on a stack and starts again from the front.
//! - At a return, the operation it belongs to should have taken effect already but was not
//!   linearized: the last choice was wrong. It pops that choice, puts its call and return back,
//!   and tries the next call after it.
//!
//! Two rules of our own force a candidate: it is linearized at once, and if that fails, no other
//! candidate is tried.
//!
//! - A read that sees the current value. In any order that completes the current state, that
//!   read can move to the front: reads do not change the value, and everything that must precede
//!   it is linearized already (else a return would be ahead of its call).
//! - A write of a value no read sees, when the register already holds such a value (all such
//!   values are merged into one, `UNSEEN`). Moved to the front of a completing order, it changes
//!   nothing; and where it was, no read followed it before the next write, since none reads its
//!   value.
//!
//! Without them, many concurrent operations make the search enumerate every subset of them
//! that leaves the same value: the reads, and the writes nobody reads, are forced instead.
//!
//! An operation returns at its deadline: its completion, or for an unknown write that a read saw,
//! the first such read's completion (see [`deadlines`]). Operations without one return "at
//! infinity", so whatever is left of them can take effect after everything else, which is the
//! same as never. The history is linearizable when every operation with a deadline has been
//! linearized, and it is not when the stack is empty at a return. The memo is what makes this
//! fast: two orders of the same operations that leave the same value are the same problem,
//! solved once.
//!
//! Every state the memo records counts against a budget; the search gives up when the budget or
//! the memo's memory bound is spent. From each state the walk only moves forward, so the time is
//! bounded too, by the budget times the length of the list.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::partition::{ABSENT, Action, KeyOp, ValueId};

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Some order explains every result.
    Linearizable,
    /// No order does.
    NotLinearizable,
    /// The search gave up before deciding.
    LimitReached,
}

/// The end of a search and what it cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Search {
    /// How the search ended.
    pub(crate) verdict: Verdict,
    /// The distinct (linearized set, value) states recorded.
    pub(crate) states_explored: u64,
}

/// Decides whether `ops` (one key's operations, in any order) are linearizable, recording at
/// most `states_max` states in a memo of at most `memo_bytes_max` bytes.
pub(crate) fn search(ops: &[KeyOp], states_max: u64, memo_bytes_max: usize) -> Search {
    let deadlines = deadlines(ops);
    let (actions, value) = unseen_values_merged(ops);
    let mut searcher = Searcher {
        actions,
        list: EventList::new(ops, &deadlines),
        required_left: deadlines
            .iter()
            .filter(|deadline| deadline.is_some())
            .count(),
        deadlines,
        linearized: Linearized::new(ops.len()),
        memo: Memo::new(),
        choices: Vec::with_capacity(ops.len()),
        value,
    };
    let verdict = searcher.run(states_max, memo_bytes_max);
    Search {
        verdict,
        states_explored: searcher.memo.len(),
    }
}

/// One search in progress.
struct Searcher {
    /// The operations' actions, with every value that no read sees replaced by [`UNSEEN`].
    actions: Vec<Action>,
    /// When each operation must have taken effect (see [`deadlines`]).
    deadlines: Vec<Option<u64>>,
    /// The calls and returns of the operations not linearized.
    list: EventList,
    /// How many operations with a deadline are not linearized.
    ///
    /// Invariant: equals the count of `deadlines[i].is_some()` over `i` not in `linearized`.
    required_left: usize,
    linearized: Linearized,
    memo: Memo,
    /// The choices made, oldest first.
    choices: Vec<Choice>,
    /// The register's value after the choices.
    value: ValueId,
}

/// One operation linearized by the search.
struct Choice {
    /// Its call node, lifted out of the list.
    call: usize,
    /// The register value before it.
    value_before: ValueId,
    /// Whether a rule forced it, in which case the state before it has no alternatives to try.
    forced: bool,
}

/// What the walk does next.
enum Walk {
    /// Linearize the candidate at this call node, if the register and the memo allow.
    Try(usize),
    /// Look for a candidate to force, then try the candidates from the front.
    Fresh,
}

impl Searcher {
    fn run(&mut self, states_max: u64, memo_bytes_max: usize) -> Verdict {
        let mut walk = Walk::Fresh;
        loop {
            if self.required_left == 0 {
                return Verdict::Linearizable;
            }
            if self.memo.len() > states_max || self.memo.bytes() > memo_bytes_max {
                return Verdict::LimitReached;
            }
            let (node, forced) = match walk {
                Walk::Fresh => match self.candidate_to_force() {
                    Some(read) => (read, true),
                    None => (self.list.first(), false),
                },
                Walk::Try(node) => (node, false),
            };
            // The walk meets a return before the end of the list: some operation with a
            // deadline is not linearized.
            let next = if self.list.call_return(node).is_none() {
                self.backtrack()
            } else if self.lift(node, forced) {
                Some(Walk::Fresh)
            } else if forced {
                // The forced candidate's state was explored and failed: so does this one.
                self.backtrack()
            } else {
                Some(Walk::Try(self.list.next[node]))
            };
            let Some(next) = next else {
                return Verdict::NotLinearizable;
            };
            walk = next;
        }
    }

    /// Returns the first candidate that one of the rules forces (see the module doc), if any.
    fn candidate_to_force(&self) -> Option<usize> {
        let mut node = self.list.first();
        while self.list.call_return(node).is_some() {
            match self.actions[self.list.op[node]] {
                Action::Read(value) if value == self.value => return Some(node),
                Action::Write(UNSEEN) if self.value == UNSEEN => return Some(node),
                _ => {}
            }
            node = self.list.next[node];
        }
        None
    }

    /// Linearizes the operation of `call` if the register allows it and the state it leads to
    /// is new; returns whether it did.
    fn lift(&mut self, call: usize, forced: bool) -> bool {
        let index = self.list.op[call];
        let Some(value_after) = step(self.value, self.actions[index]) else {
            return false;
        };
        self.linearized.toggle(index);
        if !self.memo.insert(&self.linearized, value_after) {
            self.linearized.toggle(index);
            return false;
        }
        self.choices.push(Choice {
            call,
            value_before: self.value,
            forced,
        });
        self.value = value_after;
        self.list.lift(call);
        self.required_left -= usize::from(self.deadlines[index].is_some());
        true
    }

    /// Undoes choices until one has alternatives left, and returns where to resume; `None` if
    /// there is none: nothing explains the history.
    fn backtrack(&mut self) -> Option<Walk> {
        loop {
            let choice = self.choices.pop()?;
            let index = self.list.op[choice.call];
            self.value = choice.value_before;
            self.linearized.toggle(index);
            self.list.unlift(choice.call);
            self.required_left += usize::from(self.deadlines[index].is_some());
            if !choice.forced {
                return Some(Walk::Try(self.list.next[choice.call]));
            }
        }
    }
}

/// The register value that stands for every value no read sees.
const UNSEEN: ValueId = ValueId::MAX;

/// Returns the actions of `ops` and the register's initial value, with every value that no read
/// sees replaced by [`UNSEEN`].
///
/// Such values differ only in name: no read tells them apart. Merging them lets the memo
/// recognize as one the states that differ only in which unseen value the register holds, and
/// lets the search force writes of unseen values (see the module doc).
fn unseen_values_merged(ops: &[KeyOp]) -> (Vec<Action>, ValueId) {
    let value_count = ops
        .iter()
        .map(|op| op.action.value() as usize + 1)
        .max()
        .unwrap_or(0);
    let mut seen = vec![false; value_count];
    for op in ops {
        if let Action::Read(value) = op.action {
            seen[value as usize] = true;
        }
    }
    let merged = |action| match action {
        Action::Write(value) if !seen[value as usize] => Action::Write(UNSEEN),
        action => action,
    };
    let initial = if seen.get(ABSENT as usize) == Some(&true) {
        ABSENT
    } else {
        UNSEEN
    };
    (ops.iter().map(|op| merged(op.action)).collect(), initial)
}

/// Returns, for each of `ops`, the time by which it must have taken effect, or `None` if it may
/// take effect at any time after its invocation, or never.
///
/// That is its completion when its outcome is known. An unknown write is also due once a read
/// has seen its value, when no other write of `ops` writes that value: every read of the value
/// must then follow it, so it must take effect by the earliest completion of those reads. This
/// excludes no valid order, and it spares the search from carrying such writes as optional to
/// the end of the history, which multiplies its states by two for each. It is computed afresh
/// for every search, because shrinking may remove the reads it rests on.
fn deadlines(ops: &[KeyOp]) -> Vec<Option<u64>> {
    let value_count = ops
        .iter()
        .map(|op| op.action.value() as usize + 1)
        .max()
        .unwrap_or(0);
    let mut writers = vec![0u32; value_count];
    let mut first_read_done = vec![u64::MAX; value_count];
    for op in ops {
        match op.action {
            Action::Write(value) => writers[value as usize] += 1,
            Action::Read(value) => {
                let done = op
                    .completed_at
                    .expect("invariant: reads have a known outcome");
                let first = &mut first_read_done[value as usize];
                *first = (*first).min(done);
            }
        }
    }
    let inferred = |op: &KeyOp| match op.action {
        Action::Write(value) if value != ABSENT && writers[value as usize] == 1 => {
            let done = first_read_done[value as usize];
            // A read that completed before the write's invocation cannot be explained anyway;
            // the clamp keeps the deadline after the invocation.
            (done != u64::MAX).then(|| done.max(op.invoked_at))
        }
        _ => None,
    };
    ops.iter()
        .map(|op| op.completed_at.or_else(|| inferred(op)))
        .collect()
}

/// Returns the register value after `action`, or `None` if a read sees another value.
fn step(value: ValueId, action: Action) -> Option<ValueId> {
    match action {
        Action::Write(written) => Some(written),
        Action::Read(seen) => (seen == value).then_some(value),
    }
}

/// Marks the end of the list.
const NIL: usize = usize::MAX;

/// The calls and returns not yet lifted, as a doubly linked list over arrays ("dancing links":
/// a lifted node keeps its own links, so putting it back is two writes).
struct EventList {
    /// Node 0 is the head; node `1 + i` is the `i`-th event in time order.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The operation of each node (unused for the head).
    op: Vec<usize>,
    /// For a call node, its return node; `NIL` for a return node and the head.
    matching_return: Vec<usize>,
}

impl EventList {
    /// Returns the list of the calls and returns of `ops` in time order, each operation
    /// returning at its deadline.
    fn new(ops: &[KeyOp], deadlines: &[Option<u64>]) -> Self {
        // (time, 0 for a call or 1 for a return, operation): calls sort before returns at equal
        // times. An operation without a deadline returns after every other.
        let mut events: Vec<(u64, u8, usize)> = Vec::with_capacity(2 * ops.len());
        for (index, (op, deadline)) in ops.iter().zip(deadlines).enumerate() {
            events.push((op.invoked_at, 0, index));
            events.push((deadline.unwrap_or(u64::MAX), 1, index));
        }
        events.sort_unstable();
        let nodes = events.len() + 1;
        let mut list = Self {
            next: (1..=nodes)
                .map(|n| if n == nodes { NIL } else { n })
                .collect(),
            prev: (0..nodes).map(|n| n.wrapping_sub(1)).collect(),
            op: vec![NIL; nodes],
            matching_return: vec![NIL; nodes],
        };
        let mut return_node = vec![NIL; ops.len()];
        for (position, &(_, kind, index)) in events.iter().enumerate().rev() {
            let node = position + 1;
            list.op[node] = index;
            if kind == 1 {
                return_node[index] = node;
            } else {
                list.matching_return[node] = return_node[index];
            }
        }
        list
    }

    /// Returns the first node after the head.
    fn first(&self) -> usize {
        self.next[0]
    }

    /// Returns the return node of `node` if it is a call, `None` if it is a return.
    fn call_return(&self, node: usize) -> Option<usize> {
        let call_return = self.matching_return[node];
        (call_return != NIL).then_some(call_return)
    }

    /// Takes `call` and its return out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.matching_return[call]);
    }

    /// Puts back `call` and its return, undoing the last [`EventList::lift`] not yet undone.
    fn unlift(&mut self, call: usize) {
        self.relink(self.matching_return[call]);
        self.relink(call);
    }

    fn unlink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }
}

/// The set of operations linearized so far, with a hash kept up to date as it changes.
struct Linearized {
    words: Vec<u64>,
    /// The XOR of `mix(i)` over the members `i` (Zobrist hashing), so that a change costs O(1).
    hash: u64,
}

impl Linearized {
    fn new(ops: usize) -> Self {
        Self {
            words: vec![0; ops.div_ceil(64)],
            hash: 0,
        }
    }

    /// Adds `index` to the set if absent, removes it if present.
    fn toggle(&mut self, index: usize) {
        self.words[index / 64] ^= 1 << (index % 64);
        self.hash ^= mix(index as u64);
    }
}

/// Returns a well-spread 64-bit hash of `x` (the splitmix64 finalizer).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The (linearized set, register value) states already explored.
///
/// A set is stored compactly: the search linearizes operations roughly in invocation order, so a
/// set is a run of full words, a short window, then empty words. An entry keeps the number of
/// leading full words and the window (from the first word that is not full to the last that is
/// not empty), which costs a few words however long the history. Entries live in flat arrays;
/// the map sends a hash to the newest entry with that hash, and `chain` links it to older ones
/// with the same hash.
struct Memo {
    heads: HashMap<u64, u32, BuildHasherDefault<PremixedHasher>>,
    entries: Vec<MemoEntry>,
    /// The windows of every entry, one after another.
    windows: Vec<u64>,
}

/// One explored state.
struct MemoEntry {
    /// The next older entry with the same hash, or `u32::MAX`.
    chain: u32,
    value: ValueId,
    /// How many words of the set are full.
    full_words: u32,
    /// Where the window starts in `Memo::windows`, and how many words it has.
    window_start: usize,
    window_len: u32,
}

impl Memo {
    fn new() -> Self {
        Self {
            heads: HashMap::default(),
            entries: Vec::new(),
            windows: Vec::new(),
        }
    }

    /// Records the state, and returns whether it is new.
    fn insert(&mut self, linearized: &Linearized, value: ValueId) -> bool {
        let words = linearized.words.as_slice();
        let full_words = words.iter().take_while(|&&word| word == u64::MAX).count();
        let used_words = words
            .iter()
            .rposition(|&word| word != 0)
            .map_or(0, |last| last + 1);
        let window = &words[full_words..used_words.max(full_words)];
        let full_words = u32::try_from(full_words).expect("invariant: under 2^38 operations");
        let hash = linearized.hash ^ mix(u64::from(value) ^ 0x5555_5555_5555_5555);
        let mut at = self.heads.get(&hash).copied().unwrap_or(u32::MAX);
        while at != u32::MAX {
            let entry = &self.entries[at as usize];
            let start = entry.window_start;
            if entry.value == value
                && entry.full_words == full_words
                && &self.windows[start..start + entry.window_len as usize] == window
            {
                return false;
            }
            at = entry.chain;
        }
        let new = u32::try_from(self.entries.len()).expect("invariant: states_max below 2^32");
        self.entries.push(MemoEntry {
            chain: self.heads.insert(hash, new).unwrap_or(u32::MAX),
            value,
            full_words,
            window_start: self.windows.len(),
            window_len: u32::try_from(window.len()).expect("invariant: window below 2^32 words"),
        });
        self.windows.extend_from_slice(window);
        true
    }

    fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Returns roughly how many bytes the memo holds.
    fn bytes(&self) -> usize {
        // A map slot (key, value, control byte, and the table's spare capacity) per entry.
        let map_slot = 24;
        self.entries.len() * (size_of::<MemoEntry>() + map_slot) + self.windows.len() * 8
    }
}

/// A hasher for keys that are already well-mixed 64-bit hashes.
#[derive(Default)]
struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = mix(self.0 ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpId;

    fn op(id: usize, action: Action, invoked_at: u64, completed_at: Option<u64>) -> KeyOp {
        KeyOp {
            id: OpId(id),
            action,
            invoked_at,
            completed_at,
        }
    }

    fn verdict(ops: &[KeyOp]) -> Verdict {
        search(ops, 1_000_000, 1 << 30).verdict
    }

    #[test]
    fn lift_and_unlift_restore_the_list() {
        let ops = [
            op(0, Action::Write(1), 0, Some(5)),
            op(1, Action::Read(1), 1, Some(2)),
        ];
        let mut list = EventList::new(&ops, &deadlines(&ops));
        let walk = |list: &EventList| {
            let mut nodes = Vec::new();
            let mut node = list.first();
            while node != NIL {
                nodes.push((list.op[node], list.call_return(node).is_some()));
                node = list.next[node];
            }
            nodes
        };
        let before = walk(&list);
        assert_eq!(before, [(0, true), (1, true), (1, false), (0, false)]);
        let call = list.first();
        list.lift(call);
        assert_eq!(walk(&list), [(1, true), (1, false)]);
        let inner = list.first();
        list.lift(inner);
        assert_eq!(walk(&list), []);
        list.unlift(inner);
        list.unlift(call);
        assert_eq!(walk(&list), before);
    }

    #[test]
    fn read_may_take_effect_before_a_concurrent_write_but_not_after_a_completed_one() {
        let write = op(0, Action::Write(1), 0, Some(10));
        assert_eq!(
            verdict(&[write, op(1, Action::Read(ABSENT), 5, Some(6))]),
            Verdict::Linearizable
        );
        assert_eq!(
            verdict(&[write, op(1, Action::Read(1), 5, Some(6))]),
            Verdict::Linearizable
        );
        let late = op(1, Action::Read(ABSENT), 11, Some(12));
        assert_eq!(verdict(&[write, late]), Verdict::NotLinearizable);
    }

    #[test]
    fn touching_intervals_count_as_concurrent() {
        let write = op(0, Action::Write(1), 0, Some(10));
        let read = op(1, Action::Read(ABSENT), 10, Some(12));
        assert_eq!(verdict(&[write, read]), Verdict::Linearizable);
    }

    #[test]
    fn unknown_write_takes_effect_after_its_invocation_or_never() {
        let write = op(0, Action::Write(1), 5, None);
        let before = op(1, Action::Read(1), 0, Some(4));
        assert_eq!(verdict(&[write, before]), Verdict::NotLinearizable);
        let seen = op(1, Action::Read(1), 100, Some(101));
        let unseen = op(2, Action::Read(ABSENT), 50, Some(51));
        assert_eq!(verdict(&[write, seen, unseen]), Verdict::Linearizable);
        let unseen_later = op(2, Action::Read(ABSENT), 200, Some(201));
        assert_eq!(
            verdict(&[write, seen, unseen_later]),
            Verdict::NotLinearizable
        );
    }

    #[test]
    fn unknown_write_is_due_by_the_first_read_of_its_value_if_it_alone_wrote_it() {
        let unknown = op(0, Action::Write(1), 10, None);
        let read = |id, at| op(id, Action::Read(1), at, Some(at + 5));
        assert_eq!(
            deadlines(&[unknown, read(1, 40), read(2, 30)]),
            [Some(35), Some(45), Some(35)]
        );
        assert_eq!(
            deadlines(&[unknown, read(1, 0)]),
            [Some(10), Some(5)],
            "clamped"
        );
        let twin = op(3, Action::Write(1), 20, Some(25));
        assert_eq!(
            deadlines(&[unknown, read(1, 40), twin])[0],
            None,
            "another write of it"
        );
        assert_eq!(deadlines(&[unknown])[0], None, "never read");
        let delete = op(0, Action::Write(ABSENT), 10, None);
        let absent = op(1, Action::Read(ABSENT), 40, Some(45));
        assert_eq!(
            deadlines(&[delete, absent])[0],
            None,
            "absent needs no write"
        );
    }

    #[test]
    fn search_gives_up_at_its_state_budget() {
        // Eight concurrent writes, then reads that see each of their values: every subset of the
        // writes, with each last write, is a state, far more than the budget.
        let mut ops: Vec<KeyOp> = (0..8)
            .map(|i| op(i, Action::Write(i as ValueId + 1), 0, Some(10)))
            .collect();
        for i in 0..8 {
            let at = 20 + 2 * i as u64;
            ops.push(op(8 + i, Action::Read(i as ValueId + 1), at, Some(at + 1)));
        }
        let limited = search(&ops, 10, 1 << 30);
        assert_eq!(limited.verdict, Verdict::LimitReached);
        assert_eq!(limited.states_explored, 11);
        let full = search(&ops, 1_000_000, 1 << 30);
        assert_eq!(full.verdict, Verdict::NotLinearizable);
        assert!(full.states_explored > 11);
        assert_eq!(search(&ops, 1_000_000, 64).verdict, Verdict::LimitReached);
    }

    #[test]
    fn memo_tells_new_states_from_old_ones() {
        let mut linearized = Linearized::new(200);
        let mut memo = Memo::new();
        assert!(memo.insert(&linearized, 0));
        assert!(!memo.insert(&linearized, 0));
        assert!(memo.insert(&linearized, 1));
        linearized.toggle(69);
        assert!(memo.insert(&linearized, 0));
        linearized.toggle(69);
        assert_eq!(linearized.hash, 0);
        assert!(!memo.insert(&linearized, 1));
        // Sets that differ only in their leading full words or trailing empty ones.
        for index in 0..64 {
            linearized.toggle(index);
        }
        assert!(memo.insert(&linearized, 0), "first word full");
        linearized.toggle(64);
        assert!(memo.insert(&linearized, 0), "window 64..128");
        for index in 65..128 {
            linearized.toggle(index);
        }
        assert!(memo.insert(&linearized, 0), "two full words, no window");
        linearized.toggle(199);
        assert!(memo.insert(&linearized, 0), "window 128..200");
        linearized.toggle(199);
        assert!(!memo.insert(&linearized, 0), "two full words again");
        assert_eq!(memo.len(), 7);
    }
}
