//! Rebuilding a tracker configuration from a [`ConfState`] (after a restart or a snapshot).
//!
//! A `ConfState` is only a description; the configuration is rebuilt by replaying changes
//! through a [`Changer`], starting from an empty tracker, so that it passes exactly the checks
//! a live membership change would. For a joint `ConfState` the replay first builds the outgoing
//! voters as a plain configuration, then enters the joint state with changes that produce the
//! incoming voters and the learners:
//!
//! ```text
//! voters=(1 2 3) voters_outgoing=(1 2 4 6) learners=(5) learners_next=(4)
//!
//! one by one:  v1, v2, v4, v6                       -> (1 2 4 6)
//! enter joint: r1 r2 r4 r6  v1 v2 v3  l5  l4        -> (1 2 3)&&(1 2 4 6)
//!                                                      learners=(5) learners_next=(4)
//! ```
//!
//! Whether 5 was a learner before the joint state began cannot be known, and does not matter.

use super::{Changed, Changer};
use crate::raftpb::{ConfChangeSingle, ConfChangeType, ConfState};
use crate::tracker::ProgressTracker;

/// Builds the configuration and progress described by `cs`, as a series of changes applied to
/// an empty tracker.
///
/// Only the inflight limits of `changer.tracker` and `changer.last_index` are used (new
/// members start probing from the last index); the tracker's current membership is ignored.
///
/// # Errors
///
/// [`crate::Error::ConfChangeInvalid`] if `cs` does not describe a configuration that a series
/// of valid changes can reach (for example, one without voters but with learners).
pub fn restore(changer: Changer<'_>, cs: &ConfState) -> crate::Result<Changed> {
    let trk = changer.tracker;
    let mut scratch = ProgressTracker::new(trk.max_inflight, trk.max_inflight_bytes);
    let last_index = changer.last_index;
    let (outgoing, incoming) = conf_state_to_changes(cs);
    if outgoing.is_empty() {
        // Not joint: add the voters, then the learners, one at a time.
        for cc in incoming {
            step(&mut scratch, last_index, |c| c.simple(&[cc]))?;
        }
    } else {
        // Build the outgoing half as a plain configuration, then enter the joint state.
        for cc in outgoing {
            step(&mut scratch, last_index, |c| c.simple(&[cc]))?;
        }
        step(&mut scratch, last_index, |c| {
            c.enter_joint(cs.auto_leave, &incoming)
        })?;
    }
    Ok((scratch.config, scratch.progress))
}

/// Applies one change computed against `scratch` to `scratch`.
fn step(
    scratch: &mut ProgressTracker,
    last_index: u64,
    change: impl FnOnce(&Changer<'_>) -> crate::Result<Changed>,
) -> crate::Result<()> {
    let (config, progress) = change(&Changer {
        tracker: scratch,
        last_index,
    })?;
    scratch.apply_conf(config, progress);
    Ok(())
}

/// Returns the changes that build the outgoing voters from nothing, and the changes that turn
/// that into the joint (or, without outgoing voters, plain) configuration `cs` describes.
fn conf_state_to_changes(cs: &ConfState) -> (Vec<ConfChangeSingle>, Vec<ConfChangeSingle>) {
    let change = |kind: ConfChangeType| move |&id: &u64| ConfChangeSingle::new(kind, id);
    let outgoing = cs
        .voters_outgoing
        .iter()
        .map(change(ConfChangeType::AddNode))
        .collect();
    let incoming = cs
        .voters_outgoing
        .iter()
        .map(change(ConfChangeType::RemoveNode))
        .chain(cs.voters.iter().map(change(ConfChangeType::AddNode)))
        .chain(
            cs.learners
                .iter()
                .map(change(ConfChangeType::AddLearnerNode)),
        )
        // Staged learners are still outgoing voters: asking for them as learners stages them.
        .chain(
            cs.learners_next
                .iter()
                .map(change(ConfChangeType::AddLearnerNode)),
        )
        .collect();
    (outgoing, incoming)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;
    use crate::confchange::format_changes;

    fn conf_state(voters: &[u64], outgoing: &[u64], learners: &[u64], next: &[u64]) -> ConfState {
        ConfState {
            voters: voters.to_vec(),
            learners: learners.to_vec(),
            voters_outgoing: outgoing.to_vec(),
            learners_next: next.to_vec(),
            auto_leave: !outgoing.is_empty(),
        }
    }

    fn restored(cs: &ConfState) -> crate::Result<Changed> {
        let tracker = ProgressTracker::new(20, 0);
        restore(
            Changer {
                tracker: &tracker,
                last_index: 10,
            },
            cs,
        )
    }

    #[test]
    fn changes_for_a_joint_conf_state() {
        let cs = conf_state(&[1, 2, 3], &[1, 2, 4, 6], &[5], &[4]);
        let (outgoing, incoming) = conf_state_to_changes(&cs);
        assert_eq!(format_changes(&outgoing), "v1 v2 v4 v6");
        assert_eq!(format_changes(&incoming), "r1 r2 r4 r6 v1 v2 v3 l5 l4");
    }

    #[test]
    fn restores_plain_config() {
        let cs = conf_state(&[1, 2, 3], &[], &[4, 5], &[]);
        let (cfg, progress) = restored(&cs).expect("valid conf state");
        assert_eq!(cfg.to_string(), "voters=(1 2 3) learners=(4 5)");
        assert_eq!(cfg.to_conf_state(), cs);
        assert_eq!(progress.ids().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
        assert!(progress.iter().all(|(id, pr)| pr.is_learner == (id >= 4)));
        assert!(
            progress
                .iter()
                .all(|(_, pr)| pr.next == 10 && pr.inflights.cap() == 20)
        );
    }

    #[test]
    fn restores_joint_config_with_staged_learners() {
        let cs = conf_state(&[1, 2, 3], &[1, 2, 4, 6], &[5], &[4]);
        let (cfg, progress) = restored(&cs).expect("valid conf state");
        let want = "voters=(1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4) autoleave";
        assert_eq!(cfg.to_string(), want);
        assert_eq!(cfg.to_conf_state(), cs);
        assert_eq!(progress.ids().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6]);
        assert!(!progress.get(4).expect("staged learner").is_learner);
    }

    #[test]
    fn restores_explicit_joint_config() {
        let mut cs = conf_state(&[1, 2], &[2, 3], &[], &[]);
        cs.auto_leave = false;
        let (cfg, _) = restored(&cs).expect("valid conf state");
        assert_eq!(cfg.to_conf_state(), cs);
    }

    #[test]
    fn empty_conf_state_gives_empty_config() {
        let (cfg, progress) = restored(&ConfState::default()).expect("empty is allowed");
        assert_eq!(cfg, crate::tracker::TrackerConfig::default());
        assert!(progress.is_empty());
    }

    #[test]
    fn ignores_current_membership_of_changer_tracker() {
        let mut tracker = ProgressTracker::new(4, 0);
        let changer = Changer {
            tracker: &tracker,
            last_index: 1,
        };
        let (cfg, progress) = changer
            .simple(&[ConfChangeSingle::new(ConfChangeType::AddNode, 9)])
            .expect("valid");
        tracker.apply_conf(cfg, progress);
        let cs = conf_state(&[1], &[], &[], &[]);
        let (cfg, _) = restore(
            Changer {
                tracker: &tracker,
                last_index: 1,
            },
            &cs,
        )
        .expect("ok");
        assert_eq!(cfg.to_string(), "voters=(1)");
    }

    #[test]
    fn learners_without_voters_are_refused() {
        let cs = conf_state(&[], &[], &[1], &[]);
        let err = restored(&cs).expect_err("no voters");
        assert_eq!(
            err,
            Error::ConfChangeInvalid {
                reason: "removed all voters".to_owned()
            }
        );
    }
}
