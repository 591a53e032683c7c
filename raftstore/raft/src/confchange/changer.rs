//! [`Changer`]: computes the configuration that a membership change leads to, or refuses it.
//!
//! Each operation copies the tracker's configuration and progress, checks that the copy is
//! well formed, applies the changes to the copy and checks the result again. The tracker itself
//! is only borrowed, so a refused change leaves no trace; an accepted one is installed by the
//! caller with `ProgressTracker::apply_conf`.

use crate::Error;
use crate::raftpb::{ConfChangeSingle, ConfChangeType};
use crate::tracker::{Progress, ProgressMap, ProgressTracker, TrackerConfig};
use crate::tracker::{sorted_insert, sorted_remove};

/// A configuration and progress map computed by a [`Changer`], ready for
/// `ProgressTracker::apply_conf`.
pub type Changed = (TrackerConfig, ProgressMap);

/// Computes configuration changes against a tracker, validating them as etcd does.
#[derive(Clone, Copy, Debug)]
pub struct Changer<'a> {
    /// The tracker whose configuration is being changed; never modified.
    pub tracker: &'a ProgressTracker,
    /// The index of the last log entry; new members start probing from it.
    pub last_index: u64,
}

impl Changer<'_> {
    /// Enters a joint configuration: the current voters become the outgoing half, and the
    /// changes are applied to the incoming half, giving `C_old,new` of the Raft thesis
    /// (section 4.3). With `auto_leave`, the group leaves the joint state on its own once it
    /// can; otherwise it waits for an explicit [`Changer::leave_joint`].
    ///
    /// Refused if the configuration is already joint, if it has no voters (a group cannot be
    /// bootstrapped into a joint state), or if the changes remove every incoming voter.
    pub fn enter_joint(
        &self,
        auto_leave: bool,
        ccs: &[ConfChangeSingle],
    ) -> crate::Result<Changed> {
        let (mut cfg, mut progress) = self.check_and_copy()?;
        if cfg.voters.is_joint() {
            return invalid("config is already joint");
        }
        if cfg.voters.incoming.is_empty() {
            return invalid("can't make a zero-voter config joint");
        }
        cfg.voters.outgoing = cfg.voters.incoming.clone();
        self.apply(&mut cfg, &mut progress, ccs)?;
        cfg.auto_leave = auto_leave;
        check_and_return(cfg, progress)
    }

    /// Leaves a joint configuration: the incoming half becomes the only one (`C_new`), staged
    /// learners (`learners_next`) become learners, and outgoing voters that are neither voters
    /// nor learners any more are dropped with their progress.
    ///
    /// Refused if the configuration is not joint.
    pub fn leave_joint(&self) -> crate::Result<Changed> {
        let (mut cfg, mut progress) = self.check_and_copy()?;
        if !cfg.voters.is_joint() {
            return invalid("can't leave a non-joint config");
        }
        for id in std::mem::take(&mut cfg.learners_next) {
            sorted_insert(&mut cfg.learners, id);
            // Every staged learner has a progress (checked on copy); were one missing, the
            // final check would refuse the result.
            if let Some(pr) = progress.get_mut(id) {
                pr.is_learner = true;
            }
        }
        for &id in cfg.voters.outgoing.ids() {
            let stays = cfg.voters.incoming.contains(id) || cfg.learners.binary_search(&id).is_ok();
            if !stays {
                progress.remove(id);
            }
        }
        cfg.voters.outgoing.clear();
        cfg.auto_leave = false;
        check_and_return(cfg, progress)
    }

    /// Applies changes that, taken together, add or remove at most one voter, without joint
    /// consensus (any number of learners may change).
    ///
    /// Refused in a joint configuration, if more than one voter would change, or if no voter
    /// would remain.
    pub fn simple(&self, ccs: &[ConfChangeSingle]) -> crate::Result<Changed> {
        let (mut cfg, mut progress) = self.check_and_copy()?;
        if cfg.voters.is_joint() {
            return invalid("can't apply simple config change in joint config");
        }
        self.apply(&mut cfg, &mut progress, ccs)?;
        let before = self.tracker.config.voters.incoming.ids();
        if symmetric_difference(before, cfg.voters.incoming.ids()) > 1 {
            return invalid("more than one voter changed without entering joint config");
        }
        check_and_return(cfg, progress)
    }

    /// Applies each change to the incoming half (the outgoing half, if any, is frozen).
    ///
    /// Changes for node 0 are skipped: applications zero the node id of a change they decided
    /// not to carry out. `UpdateNode` changes nothing here.
    fn apply(
        &self,
        cfg: &mut TrackerConfig,
        progress: &mut ProgressMap,
        ccs: &[ConfChangeSingle],
    ) -> crate::Result<()> {
        for cc in ccs {
            let id = cc.node_id;
            if id == 0 {
                continue;
            }
            match ConfChangeType::try_from(cc.change_type) {
                Ok(ConfChangeType::AddNode) => self.make_voter(cfg, progress, id),
                Ok(ConfChangeType::AddLearnerNode) => self.make_learner(cfg, progress, id),
                Ok(ConfChangeType::RemoveNode) => remove(cfg, progress, id),
                Ok(ConfChangeType::UpdateNode) => {}
                Err(_) => {
                    let reason = format!("unexpected conf change type {}", cc.change_type);
                    return Err(Error::ConfChangeInvalid { reason });
                }
            }
        }
        if cfg.voters.incoming.is_empty() {
            return invalid("removed all voters");
        }
        Ok(())
    }

    /// Adds `id` as an incoming voter, or promotes it if it is a learner (staged or not).
    fn make_voter(&self, cfg: &mut TrackerConfig, progress: &mut ProgressMap, id: u64) {
        let Some(pr) = progress.get_mut(id) else {
            self.init_progress(cfg, progress, id, false);
            return;
        };
        pr.is_learner = false;
        sorted_remove(&mut cfg.learners, id);
        sorted_remove(&mut cfg.learners_next, id);
        cfg.voters.incoming.insert(id);
    }

    /// Adds `id` as a learner, or demotes it if it is a voter.
    ///
    /// A voter of the outgoing half keeps voting there until the joint state is left, and a
    /// member is never voter and learner at once, so such a voter is staged in
    /// `learners_next` instead of becoming a learner now. The progress is kept either way.
    fn make_learner(&self, cfg: &mut TrackerConfig, progress: &mut ProgressMap, id: u64) {
        let Some(pr) = progress.get_mut(id) else {
            self.init_progress(cfg, progress, id, true);
            return;
        };
        if pr.is_learner {
            return;
        }
        cfg.voters.incoming.remove(id);
        sorted_remove(&mut cfg.learners, id);
        sorted_remove(&mut cfg.learners_next, id);
        if cfg.voters.outgoing.contains(id) {
            sorted_insert(&mut cfg.learners_next, id);
        } else {
            pr.is_learner = true;
            sorted_insert(&mut cfg.learners, id);
        }
    }

    /// Adds the new member `id` (voter or learner) with a fresh progress.
    ///
    /// The follower is probed from the last index (optimistic: a new member usually has no log
    /// and will need a snapshot), and counts as recently active so that check-quorum does not
    /// depose the leader before the newcomer had a chance to answer.
    fn init_progress(
        &self,
        cfg: &mut TrackerConfig,
        progress: &mut ProgressMap,
        id: u64,
        is_learner: bool,
    ) {
        if is_learner {
            sorted_insert(&mut cfg.learners, id);
        } else {
            cfg.voters.incoming.insert(id);
        }
        let trk = self.tracker;
        // `max(1)` keeps `matched (0) < next` on an empty log.
        let mut pr = Progress::new(
            self.last_index.max(1),
            trk.max_inflight,
            trk.max_inflight_bytes,
        );
        pr.is_learner = is_learner;
        pr.recent_active = true;
        progress.insert(id, pr);
    }

    /// Returns copies of the tracker's configuration and progress, after checking them.
    fn check_and_copy(&self) -> crate::Result<Changed> {
        let cfg = self.tracker.config.clone();
        let progress = self.tracker.progress.clone();
        cfg.check_invariants(&progress)?;
        Ok((cfg, progress))
    }
}

/// Removes `id` from the incoming voters and the learners. Its progress goes too, unless it
/// still votes in the outgoing half.
fn remove(cfg: &mut TrackerConfig, progress: &mut ProgressMap, id: u64) {
    if !progress.contains(id) {
        return;
    }
    cfg.voters.incoming.remove(id);
    sorted_remove(&mut cfg.learners, id);
    sorted_remove(&mut cfg.learners_next, id);
    if !cfg.voters.outgoing.contains(id) {
        progress.remove(id);
    }
}

/// Checks the result of a change and trims its memory before handing it out.
fn check_and_return(mut cfg: TrackerConfig, mut progress: ProgressMap) -> crate::Result<Changed> {
    cfg.check_invariants(&progress)?;
    cfg.shrink_to_fit();
    progress.shrink_to_fit();
    Ok((cfg, progress))
}

/// Returns how many ids are in exactly one of the sorted lists `a` and `b`.
fn symmetric_difference(a: &[u64], b: &[u64]) -> usize {
    let only_a = a.iter().filter(|id| b.binary_search(id).is_err()).count();
    let only_b = b.iter().filter(|id| a.binary_search(id).is_err()).count();
    only_a + only_b
}

/// Returns the refusal with the given reason.
fn invalid<T>(reason: &str) -> crate::Result<T> {
    Err(Error::ConfChangeInvalid {
        reason: reason.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    //! Scenario tests. Each runs a script of changes against one tracker, the way the leader
    //! applies them, and compares the printed configuration and progress after every step.
    //! The last index grows by one per step, so a progress's `next` tells in which step it was
    //! created.

    use super::*;
    use crate::confchange::parse_changes;

    /// A tracker and a log that grows by one entry per step.
    struct Script {
        tracker: ProgressTracker,
        last_index: u64,
    }

    impl Script {
        fn new() -> Self {
            Script {
                tracker: ProgressTracker::new(10, 0),
                last_index: 0,
            }
        }

        /// Runs one step and returns the new config and progress, or the refusal's reason.
        fn run(&mut self, op: &str, changes: &str) -> String {
            let ccs = parse_changes(changes).expect("test scripts are well formed");
            let changer = Changer {
                tracker: &self.tracker,
                last_index: self.last_index,
            };
            let result = match op {
                "simple" => changer.simple(&ccs),
                "enter-joint" => changer.enter_joint(false, &ccs),
                "enter-joint-auto" => changer.enter_joint(true, &ccs),
                "leave-joint" => changer.leave_joint(),
                _ => panic!("unknown op {op}"),
            };
            self.last_index += 1;
            match result {
                Ok((cfg, progress)) => {
                    self.tracker.apply_conf(cfg, progress);
                    format!("{}\n{}", self.tracker.config, self.tracker.progress)
                }
                Err(Error::ConfChangeInvalid { reason }) => reason,
                Err(other) => panic!("unexpected error kind {other:?}"),
            }
        }

        /// Runs one step and checks its output.
        fn expect(&mut self, op: &str, changes: &str, want: &str) {
            let before = self.tracker.clone();
            let got = self.run(op, changes);
            assert_eq!(got.trim_end(), want.trim_end(), "{op} {changes}");
            if !want.starts_with("voters=") {
                assert_eq!(
                    self.tracker, before,
                    "a refused change leaves the tracker alone"
                );
            }
        }
    }

    #[test]
    fn simple_changes_are_idempotent() {
        let mut s = Script::new();
        s.expect("simple", "v1", "voters=(1)\n1: StateProbe match=0 next=1");
        s.expect("simple", "v1", "voters=(1)\n1: StateProbe match=0 next=1");
        let two = "voters=(1 2)\n1: StateProbe match=0 next=1\n2: StateProbe match=0 next=2";
        s.expect("simple", "v2", two);
        let demoted = "voters=(2) learners=(1)\n\
                       1: StateProbe match=0 next=1 learner\n\
                       2: StateProbe match=0 next=2";
        s.expect("simple", "l1", demoted);
        s.expect("simple", "l1", demoted);
        s.expect("simple", "r1", "voters=(2)\n2: StateProbe match=0 next=2");
        s.expect("simple", "r1", "voters=(2)\n2: StateProbe match=0 next=2");
        let added = "voters=(2 3)\n2: StateProbe match=0 next=2\n3: StateProbe match=0 next=7";
        s.expect("simple", "v3", added);
        s.expect("simple", "r3", "voters=(2)\n2: StateProbe match=0 next=2");
        s.expect("simple", "r3", "voters=(2)\n2: StateProbe match=0 next=2");
        s.expect("simple", "r4", "voters=(2)\n2: StateProbe match=0 next=2");
    }

    #[test]
    fn simple_changes_are_limited_to_one_voter() {
        let mut s = Script::new();
        s.expect("simple", "l1", "removed all voters");
        s.expect("simple", "v1", "voters=(1)\n1: StateProbe match=0 next=1");
        let want = "voters=(1 2) learners=(3)\n\
                    1: StateProbe match=0 next=1\n\
                    2: StateProbe match=0 next=2\n\
                    3: StateProbe match=0 next=2 learner";
        s.expect("simple", "v2 l3", want);
        let two_voters = "more than one voter changed without entering joint config";
        s.expect("simple", "r1 v5", two_voters);
        s.expect("simple", "r1 r2", "removed all voters");
        s.expect("simple", "v3 v4", two_voters);
        s.expect("simple", "l1 v5", two_voters);
        s.expect("simple", "l1 l2", "removed all voters");
        let want = "voters=(1) learners=(2 3 4 5)\n\
                    1: StateProbe match=0 next=1\n\
                    2: StateProbe match=0 next=2 learner\n\
                    3: StateProbe match=0 next=2 learner\n\
                    4: StateProbe match=0 next=8 learner\n\
                    5: StateProbe match=0 next=8 learner";
        s.expect("simple", "l2 l3 l4 l5", want);
        s.expect("simple", "r1", "removed all voters");
        s.expect(
            "simple",
            "r2 r3 r4 r5",
            "voters=(1)\n1: StateProbe match=0 next=1",
        );
    }

    #[test]
    fn simple_promote_and_demote_keep_progress() {
        let mut s = Script::new();
        s.run("simple", "v1");
        s.run("simple", "v2");
        let three = "voters=(1 2 3)\n\
                     1: StateProbe match=0 next=1\n\
                     2: StateProbe match=0 next=1\n\
                     3: StateProbe match=0 next=2";
        s.expect("simple", "v3", three);
        // Demoting and promoting at once is pointless but allowed.
        s.expect("simple", "l1 v1", three);
        let demoted = "voters=(1 3) learners=(2)\n\
                       1: StateProbe match=0 next=1\n\
                       2: StateProbe match=0 next=1 learner\n\
                       3: StateProbe match=0 next=2";
        s.expect("simple", "l2", demoted);
        s.expect("simple", "v2 l2", demoted);
        s.expect("simple", "v2", three);
    }

    #[test]
    fn update_and_node_zero_change_nothing() {
        let mut s = Script::new();
        s.expect(
            "simple",
            "v1 r0 v0 l0",
            "voters=(1)\n1: StateProbe match=0 next=1",
        );
        let two = "voters=(1 2)\n1: StateProbe match=0 next=1\n2: StateProbe match=0 next=1";
        s.expect("simple", "v2 u1", two);
        s.expect("simple", "u1 u2 u3 u1 u2 u3", two);
    }

    #[test]
    fn unknown_change_type_is_refused() {
        let mut s = Script::new();
        s.run("simple", "v1");
        let changer = Changer {
            tracker: &s.tracker,
            last_index: 1,
        };
        let bogus = ConfChangeSingle {
            change_type: 42,
            node_id: 2,
        };
        let err = changer
            .simple(&[bogus])
            .expect_err("type 42 does not exist");
        assert!(
            err.to_string().contains("unexpected conf change type 42"),
            "{err}"
        );
    }

    #[test]
    fn joint_state_rules() {
        let mut s = Script::new();
        s.expect("leave-joint", "", "can't leave a non-joint config");
        s.expect("enter-joint", "", "can't make a zero-voter config joint");
        s.expect("enter-joint", "v1", "can't make a zero-voter config joint");
        s.expect("simple", "v1", "voters=(1)\n1: StateProbe match=0 next=3");
        s.expect("leave-joint", "", "can't leave a non-joint config");
        // Entering with no changes is allowed.
        s.expect(
            "enter-joint",
            "",
            "voters=(1)&&(1)\n1: StateProbe match=0 next=3",
        );
        s.expect("enter-joint", "", "config is already joint");
        s.expect(
            "leave-joint",
            "",
            "voters=(1)\n1: StateProbe match=0 next=3",
        );
        s.expect("leave-joint", "", "can't leave a non-joint config");
        let joint = "voters=(2 3)&&(1) learners=(4)\n\
                     1: StateProbe match=0 next=3\n\
                     2: StateProbe match=0 next=9\n\
                     3: StateProbe match=0 next=9\n\
                     4: StateProbe match=0 next=9 learner";
        s.expect("enter-joint", "r1 v2 v3 l4", joint);
        s.expect("enter-joint", "", "config is already joint");
        s.expect("enter-joint", "v12", "config is already joint");
        s.expect(
            "simple",
            "l15",
            "can't apply simple config change in joint config",
        );
        let left = "voters=(2 3) learners=(4)\n\
                    2: StateProbe match=0 next=9\n\
                    3: StateProbe match=0 next=9\n\
                    4: StateProbe match=0 next=9 learner";
        s.expect("leave-joint", "", left);
        let want = "voters=(2 3) learners=(4 9)\n\
                    2: StateProbe match=0 next=9\n\
                    3: StateProbe match=0 next=9\n\
                    4: StateProbe match=0 next=9 learner\n\
                    9: StateProbe match=0 next=14 learner";
        s.expect("simple", "l9", want);
    }

    #[test]
    fn auto_leave_is_recorded_and_cleared() {
        let mut s = Script::new();
        s.run("simple", "v1");
        let all = "1: StateProbe match=0 next=1\n\
                   2: StateProbe match=0 next=1\n\
                   3: StateProbe match=0 next=1";
        s.expect(
            "enter-joint-auto",
            "v2 v3",
            &format!("voters=(1 2 3)&&(1) autoleave\n{all}"),
        );
        assert!(s.tracker.conf_state().auto_leave);
        s.expect("enter-joint", "", "config is already joint");
        s.expect("leave-joint", "", &format!("voters=(1 2 3)\n{all}"));
        assert!(!s.tracker.config.auto_leave);
    }

    #[test]
    fn demoted_voter_waits_in_learners_next() {
        let mut s = Script::new();
        s.run("simple", "v1");
        let joint = "voters=(2)&&(1) learners_next=(1)\n\
                     1: StateProbe match=0 next=1\n\
                     2: StateProbe match=0 next=1";
        s.expect("enter-joint", "v2 l1", joint);
        let left = "voters=(2) learners=(1)\n\
                    1: StateProbe match=0 next=1 learner\n\
                    2: StateProbe match=0 next=1";
        s.expect("leave-joint", "", left);
    }

    #[test]
    fn joint_changes_are_idempotent() {
        let mut s = Script::new();
        s.run("simple", "v1");
        let joint = "voters=(3)&&(1) learners=(2) learners_next=(1)\n\
                     1: StateProbe match=0 next=1\n\
                     2: StateProbe match=0 next=1 learner\n\
                     3: StateProbe match=0 next=1";
        s.expect(
            "enter-joint",
            "r1 r2 r9 v2 v3 v4 v2 v3 v4 l2 l2 r4 r4 l1 l1",
            joint,
        );
        let left = "voters=(3) learners=(1 2)\n\
                    1: StateProbe match=0 next=1 learner\n\
                    2: StateProbe match=0 next=1 learner\n\
                    3: StateProbe match=0 next=1";
        s.expect("leave-joint", "", left);
    }

    #[test]
    fn leaving_joint_drops_removed_voters_and_keeps_progress_of_others() {
        // Goal: progress survives a joint round trip for members that stay. Method: advance
        // the progress of every voter, replace one voter through joint consensus, and check
        // the survivors' progress and the removal of the leaver.
        let mut s = Script::new();
        s.run("simple", "v1");
        s.run("simple", "v2");
        s.run("simple", "v3");
        for id in 1..=3 {
            s.tracker.get_mut(id).expect("voter").maybe_update(id * 10);
        }
        s.run("enter-joint", "r3 v4");
        assert_eq!(
            s.tracker.get(3).map(|pr| pr.matched),
            Some(30),
            "3 still votes outgoing"
        );
        assert_eq!(s.tracker.config.to_string(), "voters=(1 2 4)&&(1 2 3)");
        s.run("leave-joint", "");
        assert!(s.tracker.get(3).is_none());
        assert_eq!(s.tracker.get(2).map(|pr| pr.matched), Some(20));
        assert_eq!(s.tracker.voter_ids(), vec![1, 2, 4]);
    }

    #[test]
    fn re_adding_an_outgoing_voter_cancels_its_demotion() {
        let mut s = Script::new();
        s.run("simple", "v1");
        s.run("simple", "v2");
        s.run("enter-joint", "l2");
        assert_eq!(s.tracker.config.learners_next, vec![2]);
        let mut s2 = Script::new();
        s2.run("simple", "v1");
        s2.run("simple", "v2");
        s2.run("enter-joint", "l2 v2");
        assert!(s2.tracker.config.learners_next.is_empty());
        assert_eq!(s2.tracker.config.to_string(), "voters=(1 2)&&(1 2)");
    }

    #[test]
    fn new_members_use_tracker_limits_and_are_active() {
        let mut tracker = ProgressTracker::new(3, 4096);
        tracker.max_inflight = 5;
        let changer = Changer {
            tracker: &tracker,
            last_index: 0,
        };
        let (cfg, progress) = changer
            .simple(&parse_changes("v7").expect("valid"))
            .expect("ok");
        let pr = progress.get(7).expect("7 was added");
        assert_eq!(
            (pr.next, pr.matched),
            (1, 0),
            "next is at least 1 on an empty log"
        );
        assert!(pr.recent_active);
        assert_eq!((pr.inflights.cap(), pr.inflights.max_bytes()), (5, 4096));
        assert_eq!(cfg.voters.incoming.ids(), &[7]);
    }

    #[test]
    fn corrupt_tracker_is_refused() {
        let mut tracker = ProgressTracker::new(3, 0);
        tracker.config.voters.incoming.insert(1); // No progress for 1.
        let changer = Changer {
            tracker: &tracker,
            last_index: 0,
        };
        let err = changer.simple(&[]).expect_err("config without progress");
        assert_eq!(
            err,
            Error::ConfChangeInvalid {
                reason: "no progress for 1".to_owned()
            }
        );
    }

    #[test]
    fn symmetric_difference_counts_both_sides() {
        assert_eq!(symmetric_difference(&[], &[]), 0);
        assert_eq!(symmetric_difference(&[1, 2, 3], &[1, 2, 3]), 0);
        assert_eq!(symmetric_difference(&[1, 2, 3], &[1, 2]), 1);
        assert_eq!(symmetric_difference(&[1, 2], &[2, 5]), 2);
        assert_eq!(symmetric_difference(&[1], &[2, 3, 4]), 4);
    }
}
