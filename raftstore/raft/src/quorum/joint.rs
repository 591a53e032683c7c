//! Two voter sets deciding together, as joint consensus needs during a membership change.
//!
//! Outside a membership change the outgoing half is empty, and since the empty
//! [`MajorityConfig`] agrees to everything, a joint configuration then behaves exactly like its
//! incoming half.

use std::fmt;

use super::{AckedIndexer, MajorityConfig, VoteResult};

/// The incoming and outgoing voter sets of a (possibly) joint configuration.
///
/// A decision (committing an index, winning an election) needs a majority in both halves.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct JointConfig {
    /// The voters of the new (or only) configuration.
    pub incoming: MajorityConfig,
    /// The voters of the configuration being left; empty when not in joint consensus.
    pub outgoing: MajorityConfig,
}

impl JointConfig {
    /// Returns the non-joint configuration of the given voters (the outgoing half is empty).
    pub fn new(voters: impl IntoIterator<Item = u64>) -> Self {
        JointConfig {
            incoming: MajorityConfig::new(voters),
            outgoing: MajorityConfig::default(),
        }
    }

    /// Returns the largest index committed by both halves (the smaller of their results).
    ///
    /// Allocation-free for halves of up to [`super::STACK_VOTERS`] voters.
    pub fn committed_index(&self, acked: &impl AckedIndexer) -> u64 {
        let incoming = self.incoming.committed_index(acked);
        let outgoing = self.outgoing.committed_index(acked);
        incoming.min(outgoing)
    }

    /// Tallies an election: it is won when both halves win and lost as soon as either loses.
    pub fn vote_result(&self, votes: impl Fn(u64) -> Option<bool>) -> VoteResult {
        let incoming = self.incoming.vote_result(&votes);
        let outgoing = self.outgoing.vote_result(&votes);
        match (incoming, outgoing) {
            (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
            (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
            _ => VoteResult::Pending,
        }
    }

    /// Returns whether `id` is a voter in either half.
    pub fn contains(&self, id: u64) -> bool {
        self.incoming.contains(id) || self.outgoing.contains(id)
    }

    /// Returns the voters of both halves, sorted and without repetition.
    pub fn ids(&self) -> Vec<u64> {
        let (a, b) = (self.incoming.ids(), self.outgoing.ids());
        let mut ids = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        // Both halves are sorted, so a merge yields the sorted union.
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    ids.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    ids.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    ids.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        ids.extend_from_slice(&a[i..]);
        ids.extend_from_slice(&b[j..]);
        ids
    }

    /// Returns whether the group has exactly one voter and is not changing membership.
    pub fn is_singleton(&self) -> bool {
        self.outgoing.is_empty() && self.incoming.len() == 1
    }

    /// Returns whether a membership change is in progress (the outgoing half is not empty).
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Returns the heap memory both halves hold, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.incoming.heap_bytes() + self.outgoing.heap_bytes()
    }
}

/// Prints etcd's form: `(1 2 3)` when not joint, `(1 2 3)&&(1 2)` when joint.
impl fmt::Display for JointConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.incoming)?;
        if self.is_joint() {
            write!(f, "&&{}", self.outgoing)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::quorum::test_support::Acked;

    fn joint(incoming: &[u64], outgoing: &[u64]) -> JointConfig {
        JointConfig {
            incoming: MajorityConfig::new(incoming.iter().copied()),
            outgoing: MajorityConfig::new(outgoing.iter().copied()),
        }
    }

    fn committed(incoming: &[u64], outgoing: &[u64], acked: &[(u64, u64)]) -> u64 {
        let cfg = joint(incoming, outgoing);
        let result = cfg.committed_index(&Acked(acked));
        // The halves play symmetric roles; check that on every case.
        let swapped = joint(outgoing, incoming).committed_index(&Acked(acked));
        assert_eq!(
            result, swapped,
            "joint committed index depends on the order of halves"
        );
        result
    }

    fn vote(incoming: &[u64], outgoing: &[u64], votes: &[(u64, bool)]) -> VoteResult {
        let lookup = |id| votes.iter().find(|(v, _)| *v == id).map(|&(_, b)| b);
        let result = joint(incoming, outgoing).vote_result(lookup);
        assert_eq!(result, joint(outgoing, incoming).vote_result(lookup));
        result
    }

    #[test]
    fn new_is_not_joint() {
        let cfg = JointConfig::new([3, 1, 2]);
        assert_eq!(cfg.incoming.ids(), &[1, 2, 3]);
        assert!(cfg.outgoing.is_empty());
        assert!(!cfg.is_joint());
        assert!(!cfg.is_singleton());
        assert!(JointConfig::new([7]).is_singleton());
        assert!(!joint(&[7], &[7]).is_singleton());
        assert!(joint(&[7], &[7]).is_joint());
    }

    #[test]
    fn display_matches_etcd_form() {
        assert_eq!(JointConfig::default().to_string(), "()");
        assert_eq!(JointConfig::new([1, 2, 3]).to_string(), "(1 2 3)");
        assert_eq!(joint(&[1, 2, 3], &[1, 2]).to_string(), "(1 2 3)&&(1 2)");
    }

    #[test]
    fn ids_and_contains_cover_both_halves() {
        let cfg = joint(&[1, 3, 5], &[2, 3, 6]);
        assert_eq!(cfg.ids(), vec![1, 2, 3, 5, 6]);
        assert!(cfg.contains(6));
        assert!(cfg.contains(1));
        assert!(!cfg.contains(4));
    }

    #[test]
    fn empty_outgoing_half_is_neutral() {
        assert_eq!(
            committed(&[1, 2, 3], &[], &[(1, 100), (2, 101), (3, 99)]),
            100
        );
        assert_eq!(committed(&[], &[], &[]), u64::MAX);
    }

    #[test]
    fn disjoint_singletons_need_both() {
        assert_eq!(committed(&[1], &[2], &[]), 0);
        assert_eq!(committed(&[1], &[2], &[(1, 100)]), 0);
        assert_eq!(committed(&[1], &[2], &[(1, 13), (2, 100)]), 13);
        assert_eq!(committed(&[1], &[1], &[(1, 100)]), 100);
    }

    #[test]
    fn overlapping_two_voter_halves() {
        assert_eq!(committed(&[1, 3], &[2], &[(1, 100), (2, 50)]), 0);
        assert_eq!(committed(&[1, 3], &[2], &[(1, 100), (2, 50), (3, 45)]), 45);
        assert_eq!(committed(&[1, 2], &[2], &[(2, 100)]), 0);
        assert_eq!(committed(&[1, 2], &[2], &[(1, 50), (2, 100)]), 50);
        assert_eq!(committed(&[1, 2], &[2, 3], &[(2, 100), (3, 99)]), 0);
        assert_eq!(
            committed(&[1, 2], &[2, 3], &[(1, 101), (2, 100), (3, 99)]),
            99
        );
        assert_eq!(
            committed(&[1, 2], &[3, 4], &[(1, 50), (2, 48), (3, 49), (4, 47)]),
            47
        );
    }

    #[test]
    fn three_voter_halves() {
        let acked = [(2, 99), (3, 90), (4, 97), (5, 95)];
        assert_eq!(committed(&[1, 2, 3], &[4, 5, 6], &acked), 90);
        let acked = [(1, 92), (2, 99), (3, 90), (4, 97), (5, 95)];
        assert_eq!(committed(&[1, 2, 3], &[4, 5, 6], &acked), 92);
        let acked = [(2, 100), (3, 99), (4, 99), (5, 98)];
        assert_eq!(committed(&[1, 2, 3], &[1, 4, 5], &acked), 98);
        let acked = [(1, 100), (2, 100), (3, 99), (4, 99), (5, 98)];
        assert_eq!(committed(&[1, 2, 3], &[1, 4, 5], &acked), 99);
        assert_eq!(committed(&[1, 2, 3], &[2, 3, 4], &[(2, 100), (3, 99)]), 99);
        assert_eq!(committed(&[1, 2, 3], &[2, 3, 4], &[(1, 100), (4, 101)]), 0);
        assert_eq!(
            committed(&[1, 2, 3], &[2, 3, 4], &[(1, 100), (2, 99), (4, 101)]),
            99
        );
    }

    #[test]
    fn votes_need_both_halves() {
        assert_eq!(
            vote(&[1, 2, 3], &[], &[(1, true), (2, true)]),
            VoteResult::Won
        );
        assert_eq!(
            vote(&[1, 2, 3], &[4, 5, 6], &[(1, true), (2, true)]),
            VoteResult::Pending
        );
        let all_yes = [(1, true), (2, true), (4, true), (5, true)];
        assert_eq!(vote(&[1, 2, 3], &[4, 5, 6], &all_yes), VoteResult::Won);
        // One half lost decides the election even while the other is pending.
        assert_eq!(
            vote(&[1, 2, 3], &[4, 5, 6], &[(4, false), (5, false)]),
            VoteResult::Lost
        );
        // An overlapping voter counts in both halves.
        assert_eq!(
            vote(&[1, 2], &[2, 3], &[(1, true), (2, true)]),
            VoteResult::Pending
        );
        let yes = [(1, true), (2, true), (3, true)];
        assert_eq!(vote(&[1, 2], &[2, 3], &yes), VoteResult::Won);
        assert_eq!(vote(&[1, 2], &[2, 3], &[(2, false)]), VoteResult::Lost);
    }
}
