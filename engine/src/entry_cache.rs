//! The entry cache: the recent tail of a region's log in memory, so that a leader replicates
//! from memory and reads no disk in steady state.
//!
//! Every region's cache charges its bytes to one [`CacheBudget`] shared by the store. When the
//! total is over the budget after an append, the appending region evicts its own oldest entries
//! (entries followers fetch last, or never) until the total fits or its cache is empty:
//!
//! ```text
//! budget 1 MiB, used 1.1 MiB after region 7 appends:
//!   region 7 cache [40 41 42 43 44]  ─►  [43 44]        (evict oldest until used <= limit)
//! ```
//!
//! Invariant: after every operation of a region, either the total is within the limit or that
//! region's cache is empty; hence the total never exceeds the limit once an operation returns.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use raft::raftpb::Entry;

/// What an entry costs in the cache beyond its payload (the `Entry` struct and deque slot).
const ENTRY_OVERHEAD_BYTES: usize = 64;

/// The memory bound shared by the entry caches of every region of a store.
#[derive(Debug)]
pub struct CacheBudget {
    /// Bytes charged by every cache.
    used_bytes: AtomicUsize,
    /// The bound.
    limit_bytes: usize,
}

impl CacheBudget {
    /// A budget of `limit_bytes` to share.
    pub fn new(limit_bytes: usize) -> Arc<CacheBudget> {
        Arc::new(CacheBudget {
            used_bytes: AtomicUsize::new(0),
            limit_bytes,
        })
    }

    /// Bytes in use across every cache.
    pub fn used_bytes(&self) -> usize {
        self.used_bytes.load(Ordering::Relaxed)
    }

    /// The bound.
    pub fn limit_bytes(&self) -> usize {
        self.limit_bytes
    }

    fn over(&self) -> bool {
        self.used_bytes() > self.limit_bytes
    }
}

/// One region's cached log tail.
///
/// Invariant: `entries` are contiguous by index and `bytes` is the sum of their charges.
#[derive(Debug)]
pub struct EntryCache {
    entries: VecDeque<Entry>,
    /// The index of the first cached entry, kept beside the deque so that the cache's bounds
    /// read no entry: with a thousand regions, a region's entries are cold between its appends.
    ///
    /// Invariant: `front_index == entries.front().index` while `entries` is not empty.
    front_index: u64,
    bytes: usize,
    budget: Arc<CacheBudget>,
}

impl EntryCache {
    /// An empty cache charging `budget`.
    pub fn new(budget: Arc<CacheBudget>) -> EntryCache {
        EntryCache {
            entries: VecDeque::new(),
            front_index: 0,
            bytes: 0,
            budget,
        }
    }

    /// Adds appended entries, replacing any cached entry at or after the first of them, then
    /// evicts this region's oldest entries while the shared budget is exceeded.
    pub fn append(&mut self, entries: &[Entry]) {
        let Some(first) = entries.first() else {
            return;
        };
        match (self.first_index(), self.last_index()) {
            (Some(cache_first), Some(cache_last)) if first.index <= cache_last + 1 => {
                let keep = first.index.saturating_sub(cache_first) as usize;
                while self.entries.len() > keep {
                    self.pop_back();
                }
            }
            _ => self.clear(),
        }
        for entry in entries {
            if self.entries.is_empty() {
                self.front_index = entry.index;
            }
            self.charge(entry_bytes(entry));
            self.entries.push_back(entry.clone());
        }
        while self.budget.over() && !self.entries.is_empty() {
            self.pop_front();
        }
        debug_assert!(self.is_contiguous());
    }

    /// The index of the first cached entry.
    pub fn first_index(&self) -> Option<u64> {
        (!self.entries.is_empty()).then_some(self.front_index)
    }

    /// The index of the last cached entry.
    pub fn last_index(&self) -> Option<u64> {
        (!self.entries.is_empty()).then(|| self.front_index + self.entries.len() as u64 - 1)
    }

    /// The cached entry at `index`.
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        let first = self.first_index()?;
        self.entries.get(index.checked_sub(first)? as usize)
    }

    /// Appends to `out` the cached entries in `[lo, hi)` while the running `size` stays within
    /// `max_size` (the first entry of the whole read always goes in); returns whether the size
    /// limit stopped it.
    ///
    /// # Panics
    ///
    /// If the cache is empty or `lo` is below its first entry.
    pub fn fetch(
        &self,
        lo: u64,
        hi: u64,
        max_size: u64,
        size: &mut u64,
        out: &mut Vec<Entry>,
    ) -> bool {
        let first = self
            .first_index()
            .expect("invariant: fetch only from a non-empty cache");
        let start = (lo - first) as usize;
        let end = ((hi - first) as usize).min(self.entries.len());
        for entry in self.entries.range(start..end) {
            *size = size.saturating_add(entry.size());
            if !out.is_empty() && *size > max_size {
                return true;
            }
            out.push(entry.clone());
        }
        false
    }

    /// Drops every entry at or below `index` (compacted, or applied and replicated).
    pub fn compact_to(&mut self, index: u64) {
        while self.first_index().is_some_and(|first| first <= index) {
            self.pop_front();
        }
        debug_assert!(self.is_contiguous());
    }

    /// Drops every entry.
    pub fn clear(&mut self) {
        self.budget
            .used_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
        self.bytes = 0;
        self.entries = VecDeque::new();
    }

    /// Bytes charged by this cache.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The number of cached entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn charge(&mut self, bytes: usize) {
        self.bytes += bytes;
        self.budget.used_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn pop_front(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.front_index += 1;
            self.release(entry_bytes(&entry));
        }
    }

    fn pop_back(&mut self) {
        if let Some(entry) = self.entries.pop_back() {
            self.release(entry_bytes(&entry));
        }
    }

    fn release(&mut self, bytes: usize) {
        self.bytes -= bytes;
        self.budget.used_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    fn is_contiguous(&self) -> bool {
        self.entries
            .front()
            .is_none_or(|e| e.index == self.front_index)
            && self
                .entries
                .iter()
                .zip(self.entries.iter().skip(1))
                .all(|(a, b)| a.index + 1 == b.index)
    }
}

impl Drop for EntryCache {
    fn drop(&mut self) {
        self.clear();
    }
}

fn entry_bytes(entry: &Entry) -> usize {
    entry.data.len() + ENTRY_OVERHEAD_BYTES
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn ents(lo: u64, hi: u64, term: u64) -> Vec<Entry> {
        (lo..hi)
            .map(|i| Entry::new(i, term, Bytes::from(vec![0u8; 100])))
            .collect()
    }

    #[test]
    fn append_replaces_conflicting_suffix() {
        let mut cache = EntryCache::new(CacheBudget::new(1 << 20));
        cache.append(&ents(1, 10, 1));
        cache.append(&ents(5, 7, 2));
        assert_eq!(
            (cache.first_index(), cache.last_index()),
            (Some(1), Some(6))
        );
        assert_eq!(cache.entry(5).map(|e| e.term), Some(2));
        assert_eq!(cache.entry(4).map(|e| e.term), Some(1));
    }

    #[test]
    fn gap_clears_the_cache() {
        let mut cache = EntryCache::new(CacheBudget::new(1 << 20));
        cache.append(&ents(1, 5, 1));
        cache.append(&ents(8, 9, 1));
        assert_eq!(
            (cache.first_index(), cache.last_index()),
            (Some(8), Some(8))
        );
    }

    #[test]
    fn shared_budget_bounds_total_memory() {
        // Goal: many regions appending never hold more than the budget in total.
        let budget = CacheBudget::new(10_000);
        let mut caches: Vec<EntryCache> = (0..20)
            .map(|_| EntryCache::new(Arc::clone(&budget)))
            .collect();
        for round in 0..50u64 {
            for cache in &mut caches {
                cache.append(&ents(round + 1, round + 2, 1));
                assert!(budget.used_bytes() <= budget.limit_bytes());
            }
        }
        let total: usize = caches.iter().map(EntryCache::bytes).sum();
        assert_eq!(total, budget.used_bytes());
        drop(caches);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[test]
    fn compaction_releases_memory() {
        let budget = CacheBudget::new(1 << 20);
        let mut cache = EntryCache::new(Arc::clone(&budget));
        cache.append(&ents(1, 11, 1));
        cache.compact_to(8);
        assert_eq!(cache.first_index(), Some(9));
        assert_eq!(budget.used_bytes(), 2 * (100 + ENTRY_OVERHEAD_BYTES));
    }
}
