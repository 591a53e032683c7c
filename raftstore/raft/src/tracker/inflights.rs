//! The window of append messages sent to one follower and not yet acknowledged.
//!
//! Every append sent in `ProgressState::Replicate` records the index of its last entry and its
//! size with [`Inflights::add`]; every acknowledgement releases what it covers with
//! [`Inflights::free_le`]. The leader stops sending when the window is [`Inflights::full`]:
//! either `cap` messages or `max_bytes` bytes are outstanding.
//!
//! The window is a ring buffer of capacity `cap` whose backing storage grows on demand. An idle
//! group never sends, so its windows never allocate; and a window that grew large during a
//! burst gives its memory back once it drains, because a store hosts 100,000 groups.

/// One outstanding append message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Inflight {
    /// The index of the last entry the message carried.
    index: u64,
    /// The total size of the entries it carried.
    bytes: u64,
}

/// Number of slots a drained window may keep instead of freeing them, so that steady traffic
/// with a few messages in flight does not allocate and free on every round trip.
const RETAINED_SLOTS: usize = 4;

/// A bounded ring buffer of outstanding append messages.
#[derive(Clone, Debug)]
pub struct Inflights {
    /// Backing storage; ring positions run over `0..cap` and storage grows to cover the
    /// positions used so far.
    ///
    /// Invariant: `buffer.len() <= cap`, and once the ring wraps, `buffer.len() == cap`.
    buffer: Box<[Inflight]>,
    /// Ring position of the oldest message.
    ///
    /// Invariant: `start < cap` unless `cap == 0`; `start == 0` when the window is empty.
    start: u32,
    /// Number of outstanding messages.
    ///
    /// Invariant: `count <= cap`, and the indexes of the `count` messages strictly increase.
    count: u32,
    /// Maximum number of outstanding messages.
    cap: u32,
    /// Sum of the sizes of the outstanding messages.
    bytes: u64,
    /// Byte budget of the window; 0 means unlimited.
    max_bytes: u64,
}

impl Inflights {
    /// Returns an empty window for up to `cap` messages and `max_bytes` bytes (0: no byte
    /// limit). Allocates nothing until the first [`Inflights::add`].
    ///
    /// A `cap` of 0 makes a window that is always full; a `cap` above `u32::MAX` is treated as
    /// `u32::MAX`, which no follower will ever reach.
    pub fn new(cap: usize, max_bytes: u64) -> Self {
        Inflights {
            buffer: Box::default(),
            start: 0,
            count: 0,
            cap: u32::try_from(cap).unwrap_or(u32::MAX),
            bytes: 0,
            max_bytes,
        }
    }

    /// Records a message whose last entry is `index` and whose entries total `bytes`.
    ///
    /// # Panics
    ///
    /// If the window is [`full`](Inflights::full); in debug builds also if `index` is not
    /// greater than the last recorded index.
    pub fn add(&mut self, index: u64, bytes: u64) {
        assert!(
            !self.full(),
            "invariant: cannot add to a full inflights window"
        );
        debug_assert!(
            self.last_index().is_none_or(|last| last < index),
            "invariant: inflight indexes increase: {index} after {:?}",
            self.last_index()
        );
        let pos = self.position(self.count);
        if pos >= self.buffer.len() {
            self.grow();
        }
        self.buffer[pos] = Inflight { index, bytes };
        self.count += 1;
        self.bytes += bytes;
        self.debug_check();
    }

    /// Releases every message whose last index is `to` or lower.
    ///
    /// When that empties a window whose storage had grown beyond a few slots, the storage is
    /// freed.
    pub fn free_le(&mut self, to: u64) {
        let mut freed = 0;
        let mut freed_bytes = 0;
        while freed < self.count {
            let msg = self.buffer[self.position(freed)];
            if msg.index > to {
                break;
            }
            freed += 1;
            freed_bytes += msg.bytes;
        }
        if freed == 0 {
            return;
        }
        self.start = self.position(freed) as u32;
        self.count -= freed;
        self.bytes -= freed_bytes;
        if self.count == 0 {
            self.on_drained();
        }
        self.debug_check();
    }

    /// Returns whether no more messages may be sent: the count or the byte budget is used up.
    pub fn full(&self) -> bool {
        self.count == self.cap || (self.max_bytes != 0 && self.bytes >= self.max_bytes)
    }

    /// Returns the number of outstanding messages.
    pub fn count(&self) -> usize {
        self.count as usize
    }

    /// Returns whether no message is outstanding.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Returns the total size of the outstanding messages.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Returns the maximum number of outstanding messages.
    pub fn cap(&self) -> usize {
        self.cap as usize
    }

    /// Returns the byte budget (0: unlimited).
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Forgets every outstanding message (the limits stay).
    pub fn reset(&mut self) {
        self.count = 0;
        self.bytes = 0;
        self.on_drained();
    }

    /// Returns the heap memory the window holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.buffer.len() * size_of::<Inflight>()
    }

    /// Returns the buffer position of the `offset`-th oldest message.
    fn position(&self, offset: u32) -> usize {
        let pos = self.start as usize + offset as usize;
        let cap = self.cap as usize;
        if pos >= cap { pos - cap } else { pos }
    }

    /// Returns the index of the newest message, if any.
    fn last_index(&self) -> Option<u64> {
        let newest = self.count.checked_sub(1)?;
        Some(self.buffer[self.position(newest)].index)
    }

    /// Doubles the storage (starting at one slot), never beyond `cap`.
    fn grow(&mut self) {
        let len = (self.buffer.len() * 2).clamp(1, self.cap as usize);
        let mut grown = Vec::with_capacity(len);
        grown.extend_from_slice(&self.buffer);
        grown.resize(len, Inflight::default());
        self.buffer = grown.into_boxed_slice();
    }

    /// Restarts an empty window at position 0 and frees storage that grew large.
    fn on_drained(&mut self) {
        debug_assert_eq!(self.count, 0, "invariant: only an empty window is drained");
        self.start = 0;
        if self.buffer.len() > RETAINED_SLOTS {
            self.buffer = Box::default();
        }
    }

    /// Checks the window's invariants in debug builds.
    fn debug_check(&self) {
        debug_assert!(
            self.count <= self.cap,
            "invariant: inflights count within cap"
        );
        debug_assert!(
            self.buffer.len() <= self.cap as usize,
            "invariant: buffer within cap"
        );
        debug_assert!(
            self.count == 0 || (self.start as usize) < self.buffer.len(),
            "invariant: oldest inflight lies in the buffer"
        );
        debug_assert!(
            self.count != 0 || self.bytes == 0,
            "invariant: empty window has 0 bytes"
        );
    }
}

/// Two windows are equal when they have the same limits and the same outstanding messages,
/// wherever those sit in the ring.
impl PartialEq for Inflights {
    fn eq(&self, other: &Self) -> bool {
        self.cap == other.cap
            && self.max_bytes == other.max_bytes
            && self.count == other.count
            && self.bytes == other.bytes
            && (0..self.count)
                .all(|i| self.buffer[self.position(i)] == other.buffer[other.position(i)])
    }
}

impl Eq for Inflights {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the outstanding `(index, bytes)` pairs, oldest first.
    fn contents(ins: &Inflights) -> Vec<(u64, u64)> {
        (0..ins.count)
            .map(|i| ins.buffer[ins.position(i)])
            .map(|m| (m.index, m.bytes))
            .collect()
    }

    #[test]
    fn new_window_allocates_nothing() {
        let ins = Inflights::new(256, 0);
        assert_eq!(ins.heap_bytes(), 0);
        assert_eq!(ins.count(), 0);
        assert!(ins.is_empty());
        assert!(!ins.full());
        assert_eq!(ins.cap(), 256);
    }

    #[test]
    fn add_fills_up_to_cap() {
        let mut ins = Inflights::new(10, 0);
        for i in 0..5 {
            ins.add(i, 100 + i);
        }
        assert_eq!(ins.count(), 5);
        assert_eq!(ins.bytes(), 510);
        assert!(!ins.full());
        for i in 5..10 {
            ins.add(i, 100 + i);
        }
        assert!(ins.full());
        assert_eq!(ins.bytes(), 1045);
        assert_eq!(ins.heap_bytes(), 10 * size_of::<Inflight>());
    }

    #[test]
    fn ring_wraps_around() {
        // Goal: messages added after the start moved forward land at the front of the buffer.
        let mut ins = Inflights::new(10, 0);
        for i in 0..10 {
            ins.add(i, 1);
        }
        ins.free_le(4);
        assert_eq!(ins.start, 5);
        for i in 10..15 {
            ins.add(i, 1);
        }
        assert!(ins.full());
        assert_eq!(
            contents(&ins).iter().map(|m| m.0).collect::<Vec<_>>(),
            (5..15).collect::<Vec<_>>()
        );
        ins.free_le(12);
        assert_eq!(contents(&ins), vec![(13, 1), (14, 1)]);
        assert_eq!(ins.start, 3);
    }

    #[test]
    fn free_le_releases_prefix_and_bytes() {
        let mut ins = Inflights::new(10, 0);
        for i in 0..10 {
            ins.add(i, 10);
        }
        ins.free_le(0);
        assert_eq!(ins.count(), 9);
        assert_eq!(ins.bytes(), 90);
        ins.free_le(7);
        assert_eq!(contents(&ins), vec![(8, 10), (9, 10)]);
        assert_eq!(ins.bytes(), 20);
        // Stale acknowledgements free nothing.
        ins.free_le(3);
        assert_eq!(ins.count(), 2);
        ins.free_le(9);
        assert!(ins.is_empty());
        assert_eq!(ins.bytes(), 0);
        assert_eq!(ins.start, 0, "an empty window restarts at position 0");
    }

    #[test]
    fn free_le_between_indexes_stops_at_first_larger() {
        let mut ins = Inflights::new(4, 0);
        for i in [10, 20, 30] {
            ins.add(i, 1);
        }
        ins.free_le(25);
        assert_eq!(contents(&ins), vec![(30, 1)]);
    }

    #[test]
    fn byte_budget_makes_window_full() {
        let mut ins = Inflights::new(10, 1000);
        ins.add(1, 400);
        ins.add(2, 500);
        assert!(!ins.full());
        ins.add(3, 100);
        assert!(
            ins.full(),
            "reaching the byte budget exactly fills the window"
        );
        ins.free_le(1);
        assert!(!ins.full());
        // One message may overshoot the budget; then the window is full until it drains.
        ins.add(4, 5000);
        assert!(ins.full());
        assert_eq!(ins.bytes(), 5600);
        ins.free_le(4);
        assert_eq!(ins.bytes(), 0);
        assert!(!ins.full());
    }

    #[test]
    fn zero_byte_limit_means_unlimited() {
        let mut ins = Inflights::new(3, 0);
        ins.add(1, u64::MAX / 4);
        ins.add(2, u64::MAX / 4);
        assert!(!ins.full());
        ins.add(3, 1);
        assert!(ins.full());
    }

    #[test]
    #[should_panic(expected = "full inflights")]
    fn add_to_full_window_panics() {
        let mut ins = Inflights::new(1, 0);
        ins.add(1, 0);
        ins.add(2, 0);
    }

    #[test]
    fn zero_cap_window_is_always_full() {
        let ins = Inflights::new(0, 0);
        assert!(ins.full());
        assert_eq!(ins.heap_bytes(), 0);
    }

    #[test]
    fn storage_grows_by_doubling_on_demand() {
        let mut ins = Inflights::new(100, 0);
        ins.add(1, 0);
        assert_eq!(ins.buffer.len(), 1);
        ins.add(2, 0);
        assert_eq!(ins.buffer.len(), 2);
        ins.add(3, 0);
        assert_eq!(ins.buffer.len(), 4);
        for i in 4..=70 {
            ins.add(i, 0);
        }
        assert_eq!(ins.buffer.len(), 100, "growth stops at cap");
    }

    #[test]
    fn drained_large_window_frees_its_storage() {
        let mut ins = Inflights::new(64, 0);
        for i in 1..=20 {
            ins.add(i, 1);
        }
        assert!(ins.heap_bytes() > 0);
        ins.free_le(19);
        assert!(
            ins.heap_bytes() > 0,
            "storage stays while messages are outstanding"
        );
        ins.free_le(20);
        assert_eq!(ins.heap_bytes(), 0);
        // It still works afterwards.
        ins.add(21, 1);
        assert_eq!(contents(&ins), vec![(21, 1)]);
    }

    #[test]
    fn drained_small_window_keeps_its_storage() {
        let mut ins = Inflights::new(64, 0);
        ins.add(1, 1);
        ins.add(2, 1);
        ins.free_le(2);
        assert_eq!(ins.heap_bytes(), 2 * size_of::<Inflight>());
    }

    #[test]
    fn reset_forgets_everything_but_limits() {
        let mut ins = Inflights::new(8, 100);
        for i in 1..=8 {
            ins.add(i, 10);
        }
        assert!(ins.full());
        ins.reset();
        assert!(ins.is_empty());
        assert_eq!(ins.bytes(), 0);
        assert_eq!(ins.heap_bytes(), 0);
        assert_eq!((ins.cap(), ins.max_bytes()), (8, 100));
        ins.add(3, 10);
        assert_eq!(contents(&ins), vec![(3, 10)]);
    }

    #[test]
    fn equality_ignores_ring_position() {
        let mut a = Inflights::new(4, 0);
        let mut b = Inflights::new(4, 0);
        for i in 1..=3 {
            a.add(i, 1);
        }
        a.free_le(2);
        a.add(4, 1);
        b.add(3, 1);
        b.add(4, 1);
        assert_ne!(a.start, b.start);
        assert_eq!(a, b);
        b.add(5, 1);
        assert_ne!(a, b);
    }
}
