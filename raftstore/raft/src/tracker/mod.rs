//! The leader's bookkeeping of a group: its membership, each member's replication progress, and
//! the votes of an election.
//!
//! [`ProgressTracker`] ties together:
//!
//! - the [`TrackerConfig`] (who votes, who learns), replaced as a whole by
//!   [`ProgressTracker::apply_conf`] with what `crate::confchange` computed;
//! - the [`ProgressMap`], one [`Progress`] per member, which the leader updates as it sends
//!   appends and receives responses, and from which [`ProgressTracker::committed`] derives the
//!   commit index;
//! - the votes of the current election ([`ProgressTracker::record_vote`],
//!   [`ProgressTracker::tally_votes`]).
//!
//! Everything is sized for 100,000 small groups per store: sorted vectors instead of maps,
//! inflight windows that allocate only while appends are in flight, and quorum math that does
//! not allocate.

mod config;
mod inflights;
mod progress;
mod progress_map;
mod state;

pub use config::TrackerConfig;
pub(crate) use config::{sorted_insert, sorted_remove};
pub use inflights::Inflights;
pub use progress::Progress;
pub use progress_map::ProgressMap;
pub use state::ProgressState;

use crate::quorum::VoteResult;
use crate::raftpb::ConfState;

/// A group's membership, the progress of its members and the votes of the current election.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgressTracker {
    /// The current membership.
    ///
    /// Invariant: `config.check_invariants(&progress)` holds.
    pub config: TrackerConfig,
    /// The progress of every voter and learner.
    pub progress: ProgressMap,
    /// The votes received in the current election, sorted by voter id; the first vote of each
    /// voter counts. Freed when reset, since elections are rare.
    votes: Vec<(u64, bool)>,
    /// The inflight message limit given to each new [`Progress`].
    pub max_inflight: usize,
    /// The inflight byte limit given to each new [`Progress`] (0: unlimited).
    pub max_inflight_bytes: u64,
}

impl ProgressTracker {
    /// Returns a tracker with an empty membership that gives new members windows of
    /// `max_inflight` messages and `max_inflight_bytes` bytes (0: no byte limit).
    pub fn new(max_inflight: usize, max_inflight_bytes: u64) -> Self {
        ProgressTracker {
            config: TrackerConfig::default(),
            progress: ProgressMap::default(),
            votes: Vec::new(),
            max_inflight,
            max_inflight_bytes,
        }
    }

    /// Returns the [`ConfState`] describing the current membership.
    pub fn conf_state(&self) -> ConfState {
        self.config.to_conf_state()
    }

    /// Returns whether this is a one-voter group that is not changing membership (such a
    /// leader commits on its own).
    pub fn is_singleton(&self) -> bool {
        self.config.voters.is_singleton()
    }

    /// Returns the highest log index a quorum of voters has matched (in both halves while
    /// joint). Does not allocate for up to [`crate::quorum::STACK_VOTERS`] voters per half.
    pub fn committed(&self) -> u64 {
        self.config.voters.committed_index(&self.progress)
    }

    /// Returns whether the voters heard from recently (`recent_active`) form a quorum.
    /// Learners are ignored.
    pub fn quorum_active(&self) -> bool {
        let active = |id| {
            let pr = self.progress.get(id).filter(|pr| !pr.is_learner)?;
            Some(pr.recent_active)
        };
        self.config.voters.vote_result(active) == VoteResult::Won
    }

    /// Returns the voters (of both halves), sorted.
    pub fn voter_ids(&self) -> Vec<u64> {
        self.config.voters.ids()
    }

    /// Returns the learners, sorted.
    pub fn learner_ids(&self) -> Vec<u64> {
        self.config.learners.clone()
    }

    /// Forgets the votes of the previous election.
    pub fn reset_votes(&mut self) {
        self.votes = Vec::new();
    }

    /// Records the vote of `id`: granted or refused. Only the first vote of each voter in an
    /// election counts; later ones are ignored.
    pub fn record_vote(&mut self, id: u64, granted: bool) {
        if let Err(pos) = self.votes.binary_search_by_key(&id, |(voter, _)| *voter) {
            self.votes.insert(pos, (id, granted));
        }
    }

    /// Returns the vote of `id` in the current election, if it voted.
    pub fn vote_of(&self, id: u64) -> Option<bool> {
        let pos = self
            .votes
            .binary_search_by_key(&id, |(voter, _)| *voter)
            .ok()?;
        Some(self.votes[pos].1)
    }

    /// Counts the votes of the current election: granted votes, refused votes (both among
    /// tracked non-learners, for information) and the outcome.
    pub fn tally_votes(&self) -> (usize, usize, VoteResult) {
        let (mut granted, mut rejected) = (0, 0);
        for (id, pr) in self.progress.iter() {
            if pr.is_learner {
                continue;
            }
            match self.vote_of(id) {
                Some(true) => granted += 1,
                Some(false) => rejected += 1,
                None => {}
            }
        }
        let result = self.config.voters.vote_result(|id| self.vote_of(id));
        (granted, rejected, result)
    }

    /// Replaces the membership and progress with what a configuration change computed
    /// (see `crate::confchange`). Votes are kept.
    ///
    /// # Panics
    ///
    /// In debug builds, if `config` and `progress` break the configuration invariants.
    pub fn apply_conf(&mut self, config: TrackerConfig, progress: ProgressMap) {
        debug_assert!(
            config.check_invariants(&progress).is_ok(),
            "invariant: applied config is valid: {:?}",
            config.check_invariants(&progress)
        );
        self.config = config;
        self.progress = progress;
    }

    /// Returns the progress of `id`, if it is a member.
    pub fn get(&self, id: u64) -> Option<&Progress> {
        self.progress.get(id)
    }

    /// Returns the progress of `id` for modification, if it is a member.
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Progress> {
        self.progress.get_mut(id)
    }

    /// Returns the heap memory the tracker holds, in bytes (for memory budgets and tests).
    pub fn heap_bytes(&self) -> usize {
        let votes = self.votes.capacity() * size_of::<(u64, bool)>();
        self.config.heap_bytes() + self.progress.heap_bytes() + votes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::{JointConfig, MajorityConfig};

    /// A tracker with the given voters (incoming, outgoing) and learners; every member has
    /// `matched` 0 and is inactive.
    fn tracker(incoming: &[u64], outgoing: &[u64], learners: &[u64]) -> ProgressTracker {
        let mut trk = ProgressTracker::new(8, 0);
        let config = TrackerConfig {
            voters: JointConfig {
                incoming: MajorityConfig::new(incoming.iter().copied()),
                outgoing: MajorityConfig::new(outgoing.iter().copied()),
            },
            learners: learners.to_vec(),
            ..TrackerConfig::default()
        };
        let mut progress = ProgressMap::default();
        for id in config
            .voters
            .ids()
            .into_iter()
            .chain(learners.iter().copied())
        {
            let mut pr = Progress::new(1, 8, 0);
            pr.is_learner = learners.contains(&id);
            progress.insert(id, pr);
        }
        trk.apply_conf(config, progress);
        trk
    }

    fn set_matched(trk: &mut ProgressTracker, matched: &[(u64, u64)]) {
        for &(id, m) in matched {
            trk.get_mut(id)
                .expect("test sets matched of members only")
                .maybe_update(m);
        }
    }

    #[test]
    fn new_tracker_is_empty() {
        let trk = ProgressTracker::new(256, 1 << 20);
        assert!(trk.progress.is_empty());
        assert_eq!(trk.conf_state(), ConfState::default());
        assert!(!trk.is_singleton());
        assert_eq!(
            trk.committed(),
            u64::MAX,
            "the empty config commits everything"
        );
        assert_eq!(trk.heap_bytes(), 0);
        assert_eq!((trk.max_inflight, trk.max_inflight_bytes), (256, 1 << 20));
    }

    #[test]
    fn committed_ignores_learners() {
        let mut trk = tracker(&[1, 2, 3], &[], &[4, 5]);
        set_matched(&mut trk, &[(1, 10), (4, 50), (5, 50)]);
        assert_eq!(trk.committed(), 0);
        set_matched(&mut trk, &[(2, 7)]);
        assert_eq!(trk.committed(), 7);
    }

    #[test]
    fn committed_in_joint_config_needs_both_halves() {
        let mut trk = tracker(&[1, 2, 3], &[3, 4, 5], &[]);
        set_matched(&mut trk, &[(1, 10), (2, 10), (3, 8)]);
        assert_eq!(trk.committed(), 0);
        set_matched(&mut trk, &[(4, 9)]);
        assert_eq!(trk.committed(), 8);
    }

    #[test]
    fn singleton_and_ids() {
        let trk = tracker(&[1], &[], &[2]);
        assert!(trk.is_singleton());
        assert_eq!(trk.voter_ids(), vec![1]);
        assert_eq!(trk.learner_ids(), vec![2]);
        let trk = tracker(&[1], &[1, 3], &[2]);
        assert!(!trk.is_singleton());
        assert_eq!(trk.voter_ids(), vec![1, 3]);
    }

    #[test]
    fn quorum_active_counts_recently_active_voters_only() {
        let mut trk = tracker(&[1, 2, 3], &[], &[4, 5]);
        for id in [1, 4, 5] {
            trk.get_mut(id).expect("member").recent_active = true;
        }
        assert!(!trk.quorum_active(), "active learners do not make a quorum");
        trk.get_mut(2).expect("member").recent_active = true;
        assert!(trk.quorum_active());
    }

    #[test]
    fn quorum_active_in_joint_config_needs_both_halves() {
        let mut trk = tracker(&[1, 2, 3], &[4, 5, 6], &[]);
        for id in [1, 2] {
            trk.get_mut(id).expect("member").recent_active = true;
        }
        assert!(!trk.quorum_active());
        for id in [4, 5] {
            trk.get_mut(id).expect("member").recent_active = true;
        }
        assert!(trk.quorum_active());
    }

    #[test]
    fn first_vote_wins_and_tally_counts_voters() {
        let mut trk = tracker(&[1, 2, 3, 4, 5], &[], &[6]);
        trk.record_vote(1, true);
        trk.record_vote(1, false);
        trk.record_vote(6, true); // A learner's vote is informational only.
        trk.record_vote(9, true); // So is that of a stranger.
        assert_eq!(trk.vote_of(1), Some(true));
        assert_eq!(trk.tally_votes(), (1, 0, VoteResult::Pending));
        trk.record_vote(2, false);
        trk.record_vote(3, false);
        assert_eq!(trk.tally_votes(), (1, 2, VoteResult::Pending));
        trk.record_vote(4, false);
        assert_eq!(trk.tally_votes(), (1, 3, VoteResult::Lost));
        trk.reset_votes();
        assert_eq!(trk.tally_votes(), (0, 0, VoteResult::Pending));
        for id in [3, 4, 5] {
            trk.record_vote(id, true);
        }
        assert_eq!(trk.tally_votes(), (3, 0, VoteResult::Won));
    }

    #[test]
    fn joint_election_needs_both_halves() {
        let mut trk = tracker(&[1, 2, 3], &[3, 4, 5], &[]);
        for id in [1, 2] {
            trk.record_vote(id, true);
        }
        assert_eq!(trk.tally_votes(), (2, 0, VoteResult::Pending));
        trk.record_vote(4, false);
        trk.record_vote(5, false);
        assert_eq!(trk.tally_votes(), (2, 2, VoteResult::Lost));
    }

    #[test]
    fn conf_state_reflects_config() {
        let trk = tracker(&[1, 2], &[2, 3], &[4]);
        let cs = trk.conf_state();
        assert_eq!(
            (cs.voters, cs.voters_outgoing, cs.learners),
            (vec![1, 2], vec![2, 3], vec![4])
        );
    }

    #[test]
    fn idle_three_voter_tracker_is_small() {
        // Goal: the memory target of an idle replica. Method: build a three-voter tracker the
        // way a configuration change does and measure stack plus heap.
        let mut trk = tracker(&[1, 2, 3], &[], &[]);
        trk.config.shrink_to_fit();
        trk.progress.shrink_to_fit();
        let total = size_of::<ProgressTracker>() + trk.heap_bytes();
        assert!(total < 600, "idle tracker takes {total} bytes");
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invariant: applied config is valid")]
    fn apply_conf_rejects_config_without_progress() {
        let mut trk = ProgressTracker::new(8, 0);
        trk.apply_conf(
            TrackerConfig {
                voters: JointConfig::new([1]),
                ..Default::default()
            },
            ProgressMap::default(),
        );
    }
}
