//! A single set of voters that decides by simple majority.
//!
//! The set is a sorted, deduplicated `Vec<u64>`: groups have 3 to 7 voters, so a small vector is
//! both smaller and faster than a hash or tree set, and sorting makes the printed form and the
//! iteration order deterministic.

use std::fmt;

use super::{AckedIndexer, STACK_VOTERS, VoteResult};

/// A set of voters whose decisions need a simple majority (`len / 2 + 1` of them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MajorityConfig {
    /// The voter ids.
    ///
    /// Invariant: strictly increasing (sorted, no duplicates).
    ids: Vec<u64>,
}

impl MajorityConfig {
    /// Returns the configuration of the given voters; order and repetitions are ignored.
    pub fn new(ids: impl IntoIterator<Item = u64>) -> Self {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        ids.shrink_to_fit();
        let cfg = MajorityConfig { ids };
        cfg.debug_check();
        cfg
    }

    /// Returns the largest log index that a majority of the voters has acknowledged.
    ///
    /// A voter the indexer knows nothing about counts as having acknowledged 0. The empty
    /// configuration returns `u64::MAX`: it agrees to everything, which makes it the neutral
    /// element when two configurations are joined (the joint result is the minimum).
    ///
    /// Allocates nothing for up to [`STACK_VOTERS`] voters.
    pub fn committed_index(&self, acked: &impl AckedIndexer) -> u64 {
        let n = self.ids.len();
        if n == 0 {
            return u64::MAX;
        }
        let mut on_stack = [0u64; STACK_VOTERS];
        let mut on_heap = Vec::new();
        let indexes: &mut [u64] = if n <= STACK_VOTERS {
            &mut on_stack[..n]
        } else {
            on_heap.resize(n, 0);
            &mut on_heap
        };
        for (slot, &id) in indexes.iter_mut().zip(&self.ids) {
            *slot = acked.acked_index(id).unwrap_or(0);
        }
        // In-place sort of a slice: no allocation.
        indexes.sort_unstable();
        // With the indexes ascending, the entry at `n - quorum` is the largest index that
        // `quorum` voters (it and every one after it) have reached.
        indexes[n - self.quorum()]
    }

    /// Tallies an election: `votes(id)` is `Some(true)` for a granted vote, `Some(false)` for a
    /// refusal and `None` while the voter has not answered.
    ///
    /// The empty configuration wins every election, again so that it is neutral when joined.
    pub fn vote_result(&self, votes: impl Fn(u64) -> Option<bool>) -> VoteResult {
        if self.ids.is_empty() {
            return VoteResult::Won;
        }
        let (mut granted, mut missing) = (0, 0);
        for &id in &self.ids {
            match votes(id) {
                Some(true) => granted += 1,
                Some(false) => {}
                None => missing += 1,
            }
        }
        let quorum = self.quorum();
        if granted >= quorum {
            VoteResult::Won
        } else if granted + missing >= quorum {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    /// Returns whether `id` is one of the voters.
    pub fn contains(&self, id: u64) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// Returns the voter ids in increasing order.
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// Returns the number of voters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Returns whether there are no voters.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds a voter; adding one that is present changes nothing.
    pub fn insert(&mut self, id: u64) {
        if let Err(pos) = self.ids.binary_search(&id) {
            self.ids.insert(pos, id);
        }
        self.debug_check();
    }

    /// Removes a voter; removing one that is absent changes nothing.
    pub fn remove(&mut self, id: u64) {
        if let Ok(pos) = self.ids.binary_search(&id) {
            self.ids.remove(pos);
        }
    }

    /// Removes every voter and releases the memory that held them.
    pub fn clear(&mut self) {
        self.ids = Vec::new();
    }

    /// Releases spare capacity (configurations live as long as their group, 100,000 per store).
    pub fn shrink_to_fit(&mut self) {
        self.ids.shrink_to_fit();
    }

    /// Returns the heap memory this configuration holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.ids.capacity() * size_of::<u64>()
    }

    /// Returns how many voters make a majority.
    fn quorum(&self) -> usize {
        self.ids.len() / 2 + 1
    }

    /// Checks the sorted-and-unique invariant in debug builds.
    fn debug_check(&self) {
        debug_assert!(
            self.ids.windows(2).all(|w| w[0] < w[1]),
            "invariant: majority config ids strictly increasing: {:?}",
            self.ids
        );
    }
}

impl FromIterator<u64> for MajorityConfig {
    fn from_iter<I: IntoIterator<Item = u64>>(iter: I) -> Self {
        MajorityConfig::new(iter)
    }
}

/// Prints etcd's form, `(1 2 3)`, and `()` when empty.
impl fmt::Display for MajorityConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{id}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::quorum::test_support::Acked;

    fn committed(ids: &[u64], acked: &[(u64, u64)]) -> u64 {
        MajorityConfig::new(ids.iter().copied()).committed_index(&Acked(acked))
    }

    fn vote(ids: &[u64], votes: &[(u64, bool)]) -> VoteResult {
        let cfg = MajorityConfig::new(ids.iter().copied());
        cfg.vote_result(|id| votes.iter().find(|(v, _)| *v == id).map(|&(_, b)| b))
    }

    #[test]
    fn new_sorts_and_dedups() {
        let cfg = MajorityConfig::new([3, 1, 2, 3, 1]);
        assert_eq!(cfg.ids(), &[1, 2, 3]);
        assert_eq!(cfg.len(), 3);
        assert!(!cfg.is_empty());
        assert!(cfg.contains(2));
        assert!(!cfg.contains(4));
    }

    #[test]
    fn insert_remove_clear_keep_order() {
        let mut cfg = MajorityConfig::default();
        assert!(cfg.is_empty());
        for id in [5, 1, 3, 1, 5] {
            cfg.insert(id);
        }
        assert_eq!(cfg.ids(), &[1, 3, 5]);
        cfg.remove(3);
        cfg.remove(42);
        assert_eq!(cfg.ids(), &[1, 5]);
        cfg.clear();
        assert!(cfg.is_empty());
        assert_eq!(cfg.heap_bytes(), 0);
    }

    #[test]
    fn display_matches_etcd_form() {
        assert_eq!(MajorityConfig::default().to_string(), "()");
        assert_eq!(MajorityConfig::new([1]).to_string(), "(1)");
        assert_eq!(MajorityConfig::new([3, 2, 1]).to_string(), "(1 2 3)");
    }

    #[test]
    fn empty_config_commits_everything_and_wins() {
        assert_eq!(committed(&[], &[]), u64::MAX);
        assert_eq!(vote(&[], &[]), VoteResult::Won);
    }

    #[test]
    fn single_voter_commits_its_own_index() {
        assert_eq!(committed(&[1], &[]), 0);
        assert_eq!(committed(&[1], &[(1, 12)]), 12);
    }

    #[test]
    fn two_voters_commit_the_smaller_index() {
        assert_eq!(committed(&[1, 2], &[]), 0);
        // One known index is not a quorum of two.
        assert_eq!(committed(&[1, 2], &[(1, 12)]), 0);
        assert_eq!(committed(&[1, 2], &[(1, 12), (2, 5)]), 5);
    }

    #[test]
    fn three_voters_commit_the_median() {
        assert_eq!(committed(&[1, 2, 3], &[(1, 12)]), 0);
        assert_eq!(committed(&[1, 2, 3], &[(1, 12), (2, 5)]), 5);
        assert_eq!(committed(&[1, 2, 3], &[(1, 12), (2, 5), (3, 6)]), 6);
        assert_eq!(committed(&[1, 2, 3], &[(1, 12), (2, 5), (3, 4)]), 5);
        assert_eq!(committed(&[1, 2, 3], &[(1, 5), (2, 5)]), 5);
        assert_eq!(committed(&[1, 2, 3], &[(1, 5), (2, 5), (3, 12)]), 5);
        assert_eq!(committed(&[1, 2, 3], &[(1, 100), (2, 101), (3, 103)]), 101);
    }

    #[test]
    fn five_voters_need_three_acks() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(
            committed(&ids, &[(1, 101), (2, 104), (3, 103), (4, 103)]),
            103
        );
        assert_eq!(
            committed(&ids, &[(1, 101), (2, 102), (3, 103), (4, 103)]),
            102
        );
    }

    #[test]
    fn acks_from_non_voters_are_ignored() {
        assert_eq!(committed(&[1, 2, 3], &[(1, 9), (4, 50), (5, 50)]), 0);
    }

    #[test]
    fn more_voters_than_the_stack_buffer_still_work() {
        let ids: Vec<u64> = (1..=9).collect();
        let acked: Vec<(u64, u64)> = ids.iter().map(|&id| (id, id * 10)).collect();
        // Nine voters need five acks: indexes 50..=90 are held by voters 5..=9.
        assert_eq!(committed(&ids, &acked), 50);
    }

    #[test]
    fn votes_win_lose_or_wait() {
        assert_eq!(vote(&[1], &[]), VoteResult::Pending);
        assert_eq!(vote(&[1], &[(1, true)]), VoteResult::Won);
        assert_eq!(vote(&[1], &[(1, false)]), VoteResult::Lost);
        assert_eq!(vote(&[1, 2], &[(1, true)]), VoteResult::Pending);
        assert_eq!(vote(&[1, 2], &[(1, true), (2, false)]), VoteResult::Lost);
        assert_eq!(
            vote(&[1, 2, 3], &[(1, true), (2, false)]),
            VoteResult::Pending
        );
        assert_eq!(vote(&[1, 2, 3], &[(1, true), (3, true)]), VoteResult::Won);
        assert_eq!(
            vote(&[1, 2, 3], &[(2, false), (3, false)]),
            VoteResult::Lost
        );
    }

    #[test]
    fn votes_from_non_voters_do_not_count() {
        assert_eq!(
            vote(&[1, 2, 3], &[(4, true), (5, true), (1, true)]),
            VoteResult::Pending
        );
    }
}
