//! A group's membership as the leader tracks it: voters (two sets while joint) and learners.
//!
//! [`TrackerConfig`] is plain data. It is built by `crate::confchange`, which checks it with
//! [`TrackerConfig::check_invariants`] before handing it out, and it converts to and from the
//! [`ConfState`] that snapshots and the log carry.

use std::fmt;

use super::ProgressMap;
use crate::Error;
use crate::quorum::{JointConfig, MajorityConfig};
use crate::raftpb::ConfState;

/// The voters and learners of a group.
///
/// Invariants (checked by [`TrackerConfig::check_invariants`]): no learner is a voter in either
/// half; every id in `learners_next` is an outgoing voter; outside a joint configuration
/// `learners_next` is empty and `auto_leave` is false. The id lists are strictly increasing.
#[derive(Clone, Default, PartialEq, Eq, Debug)]
pub struct TrackerConfig {
    /// The voters: the incoming half, and while joint also the outgoing half.
    pub voters: JointConfig,
    /// Whether the joint configuration is left automatically as soon as possible; otherwise the
    /// application leaves it with an explicit empty change. False when not joint.
    pub auto_leave: bool,
    /// The learners: they receive the log but neither vote nor count toward any quorum.
    ///
    /// Invariant: sorted, unique, disjoint from both halves of `voters`.
    pub learners: Vec<u64>,
    /// Outgoing voters that become learners when the joint configuration is left.
    ///
    /// Demoting a voter through joint consensus cannot make it a learner right away, because
    /// it still votes in the outgoing half and a member is never voter and learner at once. It
    /// waits here instead: `(1 2)&&(1 2 3)` with `learners_next=(3)` becomes `(1 2)` with
    /// `learners=(3)` on leaving.
    ///
    /// Invariant: sorted, unique, a subset of `voters.outgoing`; empty when not joint.
    pub learners_next: Vec<u64>,
}

impl TrackerConfig {
    /// Returns the [`ConfState`] describing this configuration.
    pub fn to_conf_state(&self) -> ConfState {
        ConfState {
            voters: self.voters.incoming.ids().to_vec(),
            learners: self.learners.clone(),
            voters_outgoing: self.voters.outgoing.ids().to_vec(),
            learners_next: self.learners_next.clone(),
            auto_leave: self.auto_leave,
        }
    }

    /// Checks that this configuration is well formed and matches `progress`, by the rules etcd
    /// applies to every configuration change (before and after it).
    ///
    /// The empty configuration is allowed, so that a group can be bootstrapped from nothing.
    pub fn check_invariants(&self, progress: &ProgressMap) -> crate::Result<()> {
        for (name, ids) in [
            ("learners", &self.learners),
            ("learners_next", &self.learners_next),
        ] {
            if !ids.windows(2).all(|w| w[0] < w[1]) {
                return invalid(format!("{name} {ids:?} are not sorted and unique"));
            }
        }
        let voters = self.voters.ids();
        let members = voters
            .iter()
            .chain(&self.learners)
            .chain(&self.learners_next);
        if let Some(id) = members.copied().find(|&id| !progress.contains(id)) {
            return invalid(format!("no progress for {id}"));
        }
        for &id in &self.learners_next {
            if !self.voters.outgoing.contains(id) {
                return invalid(format!(
                    "{id} is in learners_next but not an outgoing voter"
                ));
            }
            if progress.get(id).is_some_and(|pr| pr.is_learner) {
                return invalid(format!(
                    "{id} is in learners_next but already marked learner"
                ));
            }
        }
        for &id in &self.learners {
            if self.voters.outgoing.contains(id) {
                return invalid(format!("{id} is both a learner and an outgoing voter"));
            }
            if self.voters.incoming.contains(id) {
                return invalid(format!("{id} is both a learner and an incoming voter"));
            }
            if progress.get(id).is_some_and(|pr| !pr.is_learner) {
                return invalid(format!(
                    "{id} is a learner but its progress is not marked so"
                ));
            }
        }
        if !self.voters.is_joint() {
            if !self.learners_next.is_empty() {
                return invalid("learners_next must be empty when not joint".to_owned());
            }
            if self.auto_leave {
                return invalid("auto_leave must be false when not joint".to_owned());
            }
        }
        Ok(())
    }

    /// Releases spare capacity in every id list.
    pub fn shrink_to_fit(&mut self) {
        self.voters.incoming.shrink_to_fit();
        self.voters.outgoing.shrink_to_fit();
        self.learners.shrink_to_fit();
        self.learners_next.shrink_to_fit();
    }

    /// Returns the heap memory the configuration holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        let lists = self.learners.capacity() + self.learners_next.capacity();
        self.voters.heap_bytes() + lists * size_of::<u64>()
    }
}

/// Prints etcd's form, e.g. `voters=(1 2 3)&&(1 2) learners=(4) learners_next=(5) autoleave`;
/// empty learner lists are left out.
impl fmt::Display for TrackerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "voters={}", self.voters)?;
        if !self.learners.is_empty() {
            write!(
                f,
                " learners={}",
                MajorityConfig::new(self.learners.iter().copied())
            )?;
        }
        if !self.learners_next.is_empty() {
            let next = MajorityConfig::new(self.learners_next.iter().copied());
            write!(f, " learners_next={next}")?;
        }
        if self.auto_leave {
            f.write_str(" autoleave")?;
        }
        Ok(())
    }
}

/// Inserts `id` into the sorted, unique list `ids` (no-op if present).
pub(crate) fn sorted_insert(ids: &mut Vec<u64>, id: u64) {
    if let Err(pos) = ids.binary_search(&id) {
        ids.insert(pos, id);
    }
}

/// Removes `id` from the sorted, unique list `ids` (no-op if absent), freeing the list's
/// memory once it is empty.
pub(crate) fn sorted_remove(ids: &mut Vec<u64>, id: u64) {
    if let Ok(pos) = ids.binary_search(&id) {
        ids.remove(pos);
    }
    if ids.is_empty() {
        *ids = Vec::new();
    }
}

/// Returns the error for a configuration that breaks a rule.
fn invalid(reason: String) -> crate::Result<()> {
    Err(Error::ConfChangeInvalid { reason })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quorum::MajorityConfig;
    use crate::tracker::Progress;

    fn config(incoming: &[u64], outgoing: &[u64], learners: &[u64], next: &[u64]) -> TrackerConfig {
        TrackerConfig {
            voters: JointConfig {
                incoming: MajorityConfig::new(incoming.iter().copied()),
                outgoing: MajorityConfig::new(outgoing.iter().copied()),
            },
            auto_leave: false,
            learners: learners.to_vec(),
            learners_next: next.to_vec(),
        }
    }

    /// Progress for every id in `voters` and, marked learner, in `learners`.
    fn progress(voters: &[u64], learners: &[u64]) -> ProgressMap {
        let voter = voters.iter().map(|&id| (id, Progress::new(1, 8, 0)));
        let learner = learners.iter().map(|&id| {
            let mut pr = Progress::new(1, 8, 0);
            pr.is_learner = true;
            (id, pr)
        });
        voter.chain(learner).collect()
    }

    fn reason(cfg: &TrackerConfig, prs: &ProgressMap) -> String {
        match cfg.check_invariants(prs) {
            Err(Error::ConfChangeInvalid { reason }) => reason,
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn display_matches_etcd_form() {
        assert_eq!(TrackerConfig::default().to_string(), "voters=()");
        let mut cfg = config(&[1, 2, 3], &[1, 2], &[4], &[5]);
        cfg.auto_leave = true;
        let want = "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(5) autoleave";
        assert_eq!(cfg.to_string(), want);
        assert_eq!(config(&[1], &[], &[], &[]).to_string(), "voters=(1)");
    }

    #[test]
    fn to_conf_state_copies_every_list() {
        let mut cfg = config(&[1, 2], &[1, 3], &[4], &[3]);
        cfg.auto_leave = true;
        let cs = cfg.to_conf_state();
        assert_eq!(cs.voters, vec![1, 2]);
        assert_eq!(cs.voters_outgoing, vec![1, 3]);
        assert_eq!(cs.learners, vec![4]);
        assert_eq!(cs.learners_next, vec![3]);
        assert!(cs.auto_leave);
    }

    #[test]
    fn well_formed_configs_pass() {
        assert!(
            TrackerConfig::default()
                .check_invariants(&ProgressMap::default())
                .is_ok()
        );
        let cfg = config(&[1, 2], &[1, 3], &[4], &[3]);
        assert!(cfg.check_invariants(&progress(&[1, 2, 3], &[4])).is_ok());
    }

    #[test]
    fn every_rule_is_enforced() {
        let prs = progress(&[1, 2, 3], &[4]);
        assert_eq!(
            reason(&config(&[1, 9], &[], &[], &[]), &prs),
            "no progress for 9"
        );
        let cfg = config(&[1], &[], &[4, 4], &[]);
        assert!(reason(&cfg, &prs).contains("not sorted"));
        let cfg = config(&[1], &[2], &[], &[3]);
        assert!(reason(&cfg, &prs).contains("not an outgoing voter"));
        let cfg = config(&[1], &[4], &[], &[4]);
        assert!(reason(&cfg, &prs).contains("already marked learner"));
        let cfg = config(&[1], &[4], &[4], &[]);
        assert!(reason(&cfg, &prs).contains("learner and an outgoing voter"));
        let cfg = config(&[4], &[], &[4], &[]);
        assert!(reason(&cfg, &prs).contains("learner and an incoming voter"));
        let cfg = config(&[1], &[], &[2], &[]);
        assert!(reason(&cfg, &prs).contains("not marked"));
        let mut cfg = config(&[1], &[], &[], &[]);
        cfg.auto_leave = true;
        assert!(reason(&cfg, &prs).contains("auto_leave"));
    }

    #[test]
    fn sorted_helpers_keep_order_and_free_memory() {
        let mut ids = Vec::new();
        for id in [3, 1, 2, 3] {
            sorted_insert(&mut ids, id);
        }
        assert_eq!(ids, vec![1, 2, 3]);
        sorted_remove(&mut ids, 2);
        sorted_remove(&mut ids, 7);
        assert_eq!(ids, vec![1, 3]);
        sorted_remove(&mut ids, 1);
        sorted_remove(&mut ids, 3);
        assert_eq!(ids.capacity(), 0);
    }
}
