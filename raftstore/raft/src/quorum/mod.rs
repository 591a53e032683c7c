//! Quorum math: which log index a set of voters has committed, and who won an election.
//!
//! A [`MajorityConfig`] is one set of voters deciding by simple majority. A [`JointConfig`] is
//! two of them deciding together, as joint consensus requires while membership changes
//! (`C_old,new` in section 4.3 of the Raft thesis): a decision needs a majority in both halves.
//!
//! Data flows one way. The caller hands in what each voter has acknowledged, either through an
//! [`AckedIndexer`] (log indexes) or a closure (votes), and gets back a number or a
//! [`VoteResult`]. Nothing here keeps state between calls, and the hot paths (committed index,
//! vote tally) allocate nothing for groups of up to [`STACK_VOTERS`] voters.

mod joint;
mod majority;

pub use joint::JointConfig;
pub use majority::MajorityConfig;

/// Group size up to which the quorum math works in a stack buffer instead of allocating.
///
/// Seven voters is the largest group Flotilla runs in practice; larger ones still work, at the
/// cost of one allocation per committed-index computation.
pub const STACK_VOTERS: usize = 7;

/// The outcome of counting votes against a configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoteResult {
    /// Neither side has a quorum yet; the missing votes decide.
    Pending,
    /// Enough voters refused that winning is no longer possible.
    Lost,
    /// A quorum granted the vote.
    Won,
}

/// Looks up the highest log index each voter is known to have (acknowledged as durable).
pub trait AckedIndexer {
    /// Returns the acknowledged index of `voter_id`, or `None` if nothing is known about it.
    ///
    /// Quorum math counts an unknown voter as having acknowledged index 0.
    fn acked_index(&self, voter_id: u64) -> Option<u64>;
}

#[cfg(test)]
mod tests {
    //! Property tests comparing the quorum math with brute-force definitions.

    use super::*;
    use proptest::collection::{btree_set, vec};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// An acked-index table for tests: voters absent from the map are unknown.
    #[derive(Debug)]
    struct Acked(BTreeMap<u64, u64>);

    impl AckedIndexer for Acked {
        fn acked_index(&self, voter_id: u64) -> Option<u64> {
            self.0.get(&voter_id).copied()
        }
    }

    /// The definition of "committed": the largest index that a majority acknowledged (0 if
    /// none), found by trying every candidate index.
    fn brute_committed(ids: &[u64], acked: &Acked) -> u64 {
        if ids.is_empty() {
            return u64::MAX;
        }
        let acked_of = |id: &u64| acked.acked_index(*id).unwrap_or(0);
        let candidates = ids.iter().map(acked_of);
        candidates
            .filter(|&idx| ids.iter().filter(|id| acked_of(id) >= idx).count() > ids.len() / 2)
            .max()
            .unwrap_or(0)
    }

    /// The definition of an election outcome by counting.
    fn brute_vote(ids: &[u64], votes: &BTreeMap<u64, bool>) -> VoteResult {
        if ids.is_empty() {
            return VoteResult::Won;
        }
        let quorum = ids.len() / 2 + 1;
        let yes = ids.iter().filter(|id| votes.get(id) == Some(&true)).count();
        let no = ids
            .iter()
            .filter(|id| votes.get(id) == Some(&false))
            .count();
        if yes >= quorum {
            VoteResult::Won
        } else if ids.len() - no >= quorum {
            VoteResult::Pending
        } else {
            VoteResult::Lost
        }
    }

    /// Voter ids drawn from a small range so that joint halves overlap often.
    fn voters(max_len: usize) -> impl Strategy<Value = Vec<u64>> {
        btree_set(1u64..12, 0..=max_len).prop_map(|s| s.into_iter().collect())
    }

    /// Acked indexes for ids 1..12; `None` leaves the voter unknown.
    fn acked() -> impl Strategy<Value = Acked> {
        vec(proptest::option::of(0u64..20), 11).prop_map(|v| {
            let known = v
                .into_iter()
                .zip(1u64..)
                .filter_map(|(idx, id)| Some((id, idx?)));
            Acked(known.collect())
        })
    }

    /// Votes for ids 1..12; `None` means the voter has not answered.
    fn votes() -> impl Strategy<Value = BTreeMap<u64, bool>> {
        vec(proptest::option::of(any::<bool>()), 11).prop_map(|v| {
            v.into_iter()
                .zip(1u64..)
                .filter_map(|(vote, id)| Some((id, vote?)))
                .collect()
        })
    }

    proptest! {
        #[test]
        fn majority_committed_matches_brute_force(ids in voters(9), acked in acked()) {
            let cfg = MajorityConfig::new(ids.iter().copied());
            prop_assert_eq!(cfg.committed_index(&acked), brute_committed(&ids, &acked));
        }

        #[test]
        fn joint_committed_is_min_of_halves(
            a in voters(7), b in voters(7), acked in acked()
        ) {
            let joint = JointConfig {
                incoming: MajorityConfig::new(a.iter().copied()),
                outgoing: MajorityConfig::new(b.iter().copied()),
            };
            let expected = brute_committed(&a, &acked).min(brute_committed(&b, &acked));
            prop_assert_eq!(joint.committed_index(&acked), expected);
            // Swapping the halves must not matter.
            let swapped = JointConfig {
                incoming: joint.outgoing.clone(),
                outgoing: joint.incoming,
            };
            prop_assert_eq!(swapped.committed_index(&acked), expected);
        }

        #[test]
        fn lowering_a_voter_below_committed_keeps_it(ids in voters(9), acked in acked()) {
            // Goal: a voter whose index is already below the committed index is not part of
            // the deciding quorum, so lowering it further cannot change the result.
            let cfg = MajorityConfig::new(ids.iter().copied());
            let committed = cfg.committed_index(&acked);
            for &id in cfg.ids() {
                let mine = acked.acked_index(id).unwrap_or(0);
                if mine < committed {
                    let mut lowered = acked.0.clone();
                    lowered.insert(id, 0);
                    prop_assert_eq!(cfg.committed_index(&Acked(lowered)), committed);
                }
            }
        }

        #[test]
        fn majority_vote_matches_brute_force(ids in voters(9), votes in votes()) {
            let cfg = MajorityConfig::new(ids.iter().copied());
            let got = cfg.vote_result(|id| votes.get(&id).copied());
            prop_assert_eq!(got, brute_vote(&ids, &votes));
        }

        #[test]
        fn joint_vote_combines_halves(a in voters(7), b in voters(7), votes in votes()) {
            let joint = JointConfig {
                incoming: MajorityConfig::new(a.iter().copied()),
                outgoing: MajorityConfig::new(b.iter().copied()),
            };
            let (ra, rb) = (brute_vote(&a, &votes), brute_vote(&b, &votes));
            let expected = if ra == VoteResult::Lost || rb == VoteResult::Lost {
                VoteResult::Lost
            } else if ra == VoteResult::Won && rb == VoteResult::Won {
                VoteResult::Won
            } else {
                VoteResult::Pending
            };
            prop_assert_eq!(joint.vote_result(|id| votes.get(&id).copied()), expected);
        }

        #[test]
        fn joint_ids_is_sorted_union(a in voters(7), b in voters(7)) {
            let joint = JointConfig {
                incoming: MajorityConfig::new(a.iter().copied()),
                outgoing: MajorityConfig::new(b.iter().copied()),
            };
            let mut expected: Vec<u64> = a.iter().chain(&b).copied().collect();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(joint.ids(), expected.clone());
            for id in 0..13 {
                prop_assert_eq!(joint.contains(id), expected.contains(&id));
            }
        }
    }
}

/// Helpers shared by the quorum tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::AckedIndexer;

    /// Acked indexes given as `(id, index)` pairs; ids not listed are unknown.
    pub(crate) struct Acked<'a>(pub(crate) &'a [(u64, u64)]);

    impl AckedIndexer for Acked<'_> {
        fn acked_index(&self, voter_id: u64) -> Option<u64> {
            self.0
                .iter()
                .find(|(id, _)| *id == voter_id)
                .map(|&(_, idx)| idx)
        }
    }
}
