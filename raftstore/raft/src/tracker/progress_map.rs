//! The progress of every member of a group, keyed by node id.
//!
//! A group has a handful of members, so the map is a vector of `(id, Progress)` pairs sorted by
//! id: lookups are binary searches over a few cache lines, iteration is in id order (which
//! keeps output deterministic), and there is no per-entry allocation.

use std::fmt;

use super::Progress;
use crate::quorum::AckedIndexer;

/// The [`Progress`] of each voter and learner, in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgressMap {
    /// The entries.
    ///
    /// Invariant: ids strictly increase.
    entries: Vec<(u64, Progress)>,
}

impl ProgressMap {
    /// Returns the progress of `id`, if tracked.
    pub fn get(&self, id: u64) -> Option<&Progress> {
        let pos = self.find(id).ok()?;
        Some(&self.entries[pos].1)
    }

    /// Returns the progress of `id` for modification, if tracked.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Progress> {
        let pos = self.find(id).ok()?;
        Some(&mut self.entries[pos].1)
    }

    /// Returns whether `id` is tracked.
    pub fn contains(&self, id: u64) -> bool {
        self.find(id).is_ok()
    }

    /// Tracks `id` with `pr`, replacing any progress it had.
    pub fn insert(&mut self, id: u64, pr: Progress) {
        match self.find(id) {
            Ok(pos) => self.entries[pos].1 = pr,
            Err(pos) => self.entries.insert(pos, (id, pr)),
        }
        self.debug_check();
    }

    /// Stops tracking `id`, returning its progress.
    pub fn remove(&mut self, id: u64) -> Option<Progress> {
        let pos = self.find(id).ok()?;
        Some(self.entries.remove(pos).1)
    }

    /// Iterates over `(id, progress)` in increasing id order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Progress)> {
        self.entries.iter().map(|(id, pr)| (*id, pr))
    }

    /// Iterates over `(id, progress)` in increasing id order, allowing modification.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Progress)> {
        self.entries.iter_mut().map(|(id, pr)| (*id, pr))
    }

    /// Returns the number of tracked members.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns whether no member is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Iterates over the tracked ids in increasing order.
    pub fn ids(&self) -> impl Iterator<Item = u64> {
        self.entries.iter().map(|(id, _)| *id)
    }

    /// The id at position `i` in increasing id order, if there is one. Lets callers walk the
    /// members while mutating other state, without collecting the ids first.
    pub fn id_at(&self, i: usize) -> Option<u64> {
        self.entries.get(i).map(|(id, _)| *id)
    }

    /// Releases spare capacity.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }

    /// Returns the heap memory the map holds (entries and inflight windows), in bytes.
    pub fn heap_bytes(&self) -> usize {
        let own = self.entries.capacity() * size_of::<(u64, Progress)>();
        own + self
            .entries
            .iter()
            .map(|(_, pr)| pr.heap_bytes())
            .sum::<usize>()
    }

    /// Finds `id`: `Ok(position)` if tracked, `Err(insertion point)` otherwise.
    fn find(&self, id: u64) -> Result<usize, usize> {
        self.entries.binary_search_by_key(&id, |(k, _)| *k)
    }

    /// Checks the ordering invariant in debug builds.
    fn debug_check(&self) {
        debug_assert!(
            self.entries.windows(2).all(|w| w[0].0 < w[1].0),
            "invariant: progress map ids strictly increase"
        );
    }
}

impl FromIterator<(u64, Progress)> for ProgressMap {
    fn from_iter<I: IntoIterator<Item = (u64, Progress)>>(iter: I) -> Self {
        let mut map = ProgressMap::default();
        for (id, pr) in iter {
            map.insert(id, pr);
        }
        map
    }
}

/// The acknowledged index of a member is its `matched` index.
impl AckedIndexer for ProgressMap {
    fn acked_index(&self, voter_id: u64) -> Option<u64> {
        self.get(voter_id).map(|pr| pr.matched)
    }
}

/// Prints one `id: progress` line per member, in id order (etcd's form).
impl fmt::Display for ProgressMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (id, pr) in self.iter() {
            writeln!(f, "{id}: {pr}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matched(m: u64) -> Progress {
        let mut pr = Progress::new(m + 1, 8, 0);
        pr.matched = m;
        pr
    }

    #[test]
    fn insert_keeps_ids_sorted_and_replaces() {
        let mut map = ProgressMap::default();
        assert!(map.is_empty());
        for id in [5, 1, 3] {
            map.insert(id, matched(id * 10));
        }
        assert_eq!(map.ids().collect::<Vec<_>>(), vec![1, 3, 5]);
        map.insert(3, matched(7));
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(3).map(|pr| pr.matched), Some(7));
        assert!(map.contains(5) && !map.contains(4));
    }

    #[test]
    fn get_mut_and_remove() {
        let mut map: ProgressMap = [(2, matched(1)), (1, matched(1))].into_iter().collect();
        if let Some(pr) = map.get_mut(2) {
            pr.recent_active = true;
        }
        assert!(map.get(2).is_some_and(|pr| pr.recent_active));
        assert!(map.get_mut(9).is_none());
        assert_eq!(map.remove(1).map(|pr| pr.matched), Some(1));
        assert!(map.remove(1).is_none());
        assert_eq!(map.ids().collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn iteration_is_in_id_order() {
        let mut map: ProgressMap = [9, 4, 6].into_iter().map(|id| (id, matched(id))).collect();
        for (id, pr) in map.iter_mut() {
            pr.matched = id + 100;
        }
        let seen: Vec<(u64, u64)> = map.iter().map(|(id, pr)| (id, pr.matched)).collect();
        assert_eq!(seen, vec![(4, 104), (6, 106), (9, 109)]);
    }

    #[test]
    fn acked_index_is_matched() {
        let map: ProgressMap = [(1, matched(4)), (2, matched(0))].into_iter().collect();
        assert_eq!(map.acked_index(1), Some(4));
        assert_eq!(map.acked_index(2), Some(0));
        assert_eq!(map.acked_index(3), None);
    }

    #[test]
    fn display_prints_one_line_per_member() {
        let map: ProgressMap = [(2, matched(0)), (1, matched(3))].into_iter().collect();
        let want = "1: StateProbe match=3 next=4 inactive\n2: StateProbe match=0 next=1 inactive\n";
        assert_eq!(map.to_string(), want);
    }
}
