//! Membership changes: validating them and computing the configuration they lead to.
//!
//! The leader proposes a change; once it is committed, every member applies it by asking a
//! [`Changer`] for the new configuration and progress map and installing them with
//! `ProgressTracker::apply_conf`. Three operations exist, mirroring etcd:
//!
//! - [`Changer::simple`]: at most one voter changes; the new configuration applies at once.
//! - [`Changer::enter_joint`]: any changes, through joint consensus (`C_old,new`).
//! - [`Changer::leave_joint`]: finishes a joint change (`C_new`).
//!
//! [`restore`] rebuilds a configuration from a [`crate::raftpb::ConfState`] by replaying such
//! changes. [`parse_changes`] and [`format_changes`] translate between changes and the compact
//! notation `v1 l2 r3 u4` that tests and golden scripts use.

mod changer;
mod restore;

pub use changer::{Changed, Changer};
pub use restore::restore;

use crate::Error;
use crate::raftpb::{ConfChangeSingle, ConfChangeType};

/// Parses changes written as space-separated tokens: `v<id>` adds a voter, `l<id>` a learner,
/// `r<id>` removes a member and `u<id>` updates one. Example: `"v1 l2 r3"`.
pub fn parse_changes(text: &str) -> crate::Result<Vec<ConfChangeSingle>> {
    text.split_whitespace()
        .map(|token| {
            let unknown = || Error::ConfChangeInvalid {
                reason: format!("unknown conf change token {token:?}"),
            };
            let mut chars = token.chars();
            let kind = match chars.next() {
                Some('v') => ConfChangeType::AddNode,
                Some('l') => ConfChangeType::AddLearnerNode,
                Some('r') => ConfChangeType::RemoveNode,
                Some('u') => ConfChangeType::UpdateNode,
                _ => return Err(unknown()),
            };
            let id = chars.as_str().parse().map_err(|_| unknown())?;
            Ok(ConfChangeSingle::new(kind, id))
        })
        .collect()
}

/// Formats changes in the notation [`parse_changes`] reads; a change of unknown type is
/// written `?<id>`.
pub fn format_changes(ccs: &[ConfChangeSingle]) -> String {
    let token = |cc: &ConfChangeSingle| {
        let kind = match ConfChangeType::try_from(cc.change_type) {
            Ok(ConfChangeType::AddNode) => 'v',
            Ok(ConfChangeType::AddLearnerNode) => 'l',
            Ok(ConfChangeType::RemoveNode) => 'r',
            Ok(ConfChangeType::UpdateNode) => 'u',
            Err(_) => '?',
        };
        format!("{kind}{}", cc.node_id)
    };
    ccs.iter().map(token).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    //! Property tests: random sequences of changes keep the configuration well formed, and
    //! every reachable configuration survives a round trip through `ConfState`.

    use super::*;
    use crate::raftpb::ConfState;
    use crate::tracker::ProgressTracker;
    use proptest::collection::vec;
    use proptest::prelude::*;

    #[test]
    fn parse_and_format_round_trip() {
        let ccs = parse_changes("  v1 l2\tr3 u4 v0 ").expect("valid");
        assert_eq!(ccs.len(), 5);
        assert_eq!(
            ccs[1],
            ConfChangeSingle::new(ConfChangeType::AddLearnerNode, 2)
        );
        assert_eq!(format_changes(&ccs), "v1 l2 r3 u4 v0");
        assert!(parse_changes("").expect("empty is valid").is_empty());
        let bogus = ConfChangeSingle {
            change_type: 9,
            node_id: 5,
        };
        assert_eq!(format_changes(&[bogus]), "?5");
    }

    #[test]
    fn parse_rejects_malformed_tokens() {
        for text in ["x1", "v", "vv1", "v-1", "l1 r"] {
            let err = parse_changes(text).expect_err(text);
            assert!(
                matches!(err, Error::ConfChangeInvalid { .. }),
                "{text}: {err}"
            );
        }
    }

    /// One membership operation of a random script.
    #[derive(Clone, Debug)]
    enum Op {
        Simple(Vec<ConfChangeSingle>),
        EnterJoint(bool, Vec<ConfChangeSingle>),
        LeaveJoint,
    }

    /// Changes of any valid type (and, rarely, an invalid one) for nodes 0..7; node 0 is the
    /// "skip me" id.
    fn changes() -> impl Strategy<Value = Vec<ConfChangeSingle>> {
        let kind = prop_oneof![10 => 0i32..4, 1 => Just(7i32)];
        let cc = (kind, 0u64..7).prop_map(|(change_type, node_id)| ConfChangeSingle {
            change_type,
            node_id,
        });
        vec(cc, 0..5)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => changes().prop_map(Op::Simple),
            2 => (any::<bool>(), changes()).prop_map(|(auto, ccs)| Op::EnterJoint(auto, ccs)),
            2 => Just(Op::LeaveJoint),
        ]
    }

    /// Checks the configuration rules beyond etcd's own check: every member has exactly one
    /// progress and the learner flags agree with the lists.
    fn check_strict(trk: &ProgressTracker) -> Result<(), TestCaseError> {
        let cfg = &trk.config;
        prop_assert!(cfg.check_invariants(&trk.progress).is_ok());
        prop_assert!(!cfg.voters.incoming.is_empty(), "some voter remains");
        for &id in &cfg.learners {
            prop_assert!(!cfg.voters.contains(id), "learner {} is not a voter", id);
        }
        for &id in &cfg.learners_next {
            prop_assert!(
                cfg.voters.outgoing.contains(id),
                "staged {} is outgoing",
                id
            );
            prop_assert!(
                !cfg.voters.incoming.contains(id),
                "staged {} is not incoming",
                id
            );
        }
        let mut members = cfg.voters.ids();
        members.extend(&cfg.learners);
        members.sort_unstable();
        prop_assert_eq!(trk.progress.ids().collect::<Vec<_>>(), members);
        for (id, pr) in trk.progress.iter() {
            prop_assert_eq!(pr.is_learner, cfg.learners.contains(&id));
        }
        if !cfg.voters.is_joint() {
            prop_assert!(cfg.learners_next.is_empty() && !cfg.auto_leave);
        }
        Ok(())
    }

    /// Checks that restoring the tracker's `ConfState` gives back the same configuration.
    fn check_restore(trk: &ProgressTracker) -> Result<(), TestCaseError> {
        let cs = trk.conf_state();
        let empty = ProgressTracker::new(trk.max_inflight, trk.max_inflight_bytes);
        let restored = restore(
            Changer {
                tracker: &empty,
                last_index: 100,
            },
            &cs,
        );
        let (cfg, progress) = restored.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&cfg, &trk.config);
        prop_assert_eq!(
            progress.ids().collect::<Vec<_>>(),
            trk.progress.ids().collect::<Vec<_>>()
        );
        for (id, pr) in progress.iter() {
            prop_assert_eq!(Some(pr.is_learner), trk.get(id).map(|p| p.is_learner));
        }
        Ok(())
    }

    /// Runs `op` against `trk`; returns the outcome and checks the rules that hold per kind.
    fn run(trk: &ProgressTracker, op: &Op, last_index: u64) -> crate::Result<Changed> {
        let changer = Changer {
            tracker: trk,
            last_index,
        };
        match op {
            Op::Simple(ccs) => changer.simple(ccs),
            Op::EnterJoint(auto_leave, ccs) => changer.enter_joint(*auto_leave, ccs),
            Op::LeaveJoint => changer.leave_joint(),
        }
    }

    /// Returns whether `err` refuses a change for breaking one of the rules of membership
    /// change (as opposed to an internal inconsistency).
    fn is_rule_refusal(err: &Error) -> bool {
        const RULES: [&str; 7] = [
            "config is already joint",
            "can't make a zero-voter config joint",
            "can't leave a non-joint config",
            "can't apply simple config change in joint config",
            "more than one voter changed without entering joint config",
            "removed all voters",
            "unexpected conf change type",
        ];
        let Error::ConfChangeInvalid { reason } = err else {
            return false;
        };
        RULES.iter().any(|rule| reason.starts_with(rule))
    }

    /// A random but valid `ConfState`: each of ids 1..10 gets a role.
    fn valid_conf_state() -> impl Strategy<Value = ConfState> {
        (vec(0u8..6, 9), any::<bool>()).prop_filter_map("needs a voter", |(roles, auto)| {
            let mut cs = ConfState::default();
            for (id, role) in (1u64..).zip(roles) {
                match role {
                    1 => cs.voters.push(id),
                    2 => cs.voters_outgoing.push(id),
                    3 => {
                        cs.voters.push(id);
                        cs.voters_outgoing.push(id);
                    }
                    4 => cs.learners.push(id),
                    5 => {
                        cs.voters_outgoing.push(id);
                        cs.learners_next.push(id);
                    }
                    _ => {}
                }
            }
            let joint = !cs.voters_outgoing.is_empty();
            cs.auto_leave = auto && joint;
            (!cs.voters.is_empty()).then_some(cs)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn random_changes_keep_config_well_formed(ops in vec(op(), 1..25)) {
            let mut trk = ProgressTracker::new(16, 0);
            let first = parse_changes("v1").expect("valid");
            let (cfg, progress) = run(&trk, &Op::Simple(first), 1).expect("bootstrap");
            trk.apply_conf(cfg, progress);
            for (step, op) in (2u64..).zip(&ops) {
                let before = trk.clone();
                let (cfg, progress) = match run(&trk, op, step) {
                    Ok(changed) => changed,
                    Err(err) => {
                        // Only the rules of membership change may refuse; a broken invariant in
                        // the computed result would show up as another reason.
                        prop_assert!(is_rule_refusal(&err), "unexpected refusal: {}", err);
                        prop_assert_eq!(&trk, &before);
                        continue;
                    }
                };
                if let Op::Simple(_) = op {
                    let old = before.config.voters.incoming.ids();
                    let new = cfg.voters.incoming.ids();
                    let changed = old.iter().filter(|id| !new.contains(id)).count()
                        + new.iter().filter(|id| !old.contains(id)).count();
                    prop_assert!(changed <= 1, "simple change moved {} voters", changed);
                }
                if let Op::LeaveJoint = op {
                    prop_assert_eq!(&cfg.voters.incoming, &before.config.voters.incoming);
                }
                trk.apply_conf(cfg, progress);
                check_strict(&trk)?;
                check_restore(&trk)?;
            }
        }

        #[test]
        fn restore_round_trips_valid_conf_states(cs in valid_conf_state()) {
            let empty = ProgressTracker::new(8, 0);
            let (cfg, progress) = restore(Changer { tracker: &empty, last_index: 5 }, &cs)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(cfg.to_conf_state(), cs);
            let mut trk = empty.clone();
            trk.apply_conf(cfg, progress);
            check_strict(&trk)?;
        }

        #[test]
        fn leaving_restored_joint_config_reaches_its_target(cs in valid_conf_state()) {
            // Goal: a restored joint configuration ends where it was heading. Method: restore,
            // leave the joint state, and compare with the incoming voters and all learners.
            prop_assume!(!cs.voters_outgoing.is_empty());
            let mut trk = ProgressTracker::new(8, 0);
            let (cfg, progress) = restore(Changer { tracker: &trk, last_index: 5 }, &cs)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            trk.apply_conf(cfg, progress);
            let (cfg, progress) = Changer { tracker: &trk, last_index: 6 }
                .leave_joint()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            trk.apply_conf(cfg, progress);
            check_strict(&trk)?;
            let mut learners = cs.learners.clone();
            learners.extend(&cs.learners_next);
            learners.sort_unstable();
            prop_assert_eq!(trk.config.voters.incoming.ids(), cs.voters.as_slice());
            prop_assert_eq!(&trk.config.learners, &learners);
        }
    }
}
