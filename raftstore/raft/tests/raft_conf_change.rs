//! Membership changes: proposing (one at a time, validated against the applied configuration),
//! applying v1 and v2 changes, joint consensus left automatically or explicitly, learners,
//! promotion and demotion, removal of the leader, and campaigning with unapplied changes.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{
    ConfChangeTransition, ConfChangeType, ConfState, Entry, EntryType, HardState, Message,
    MessageType,
};
use raft::{DropReason, Error, MemStorage, Raft, StateRole};
use support::*;

use ConfChangeTransition::{Auto, Explicit, Implicit};
use ConfChangeType::{AddLearnerNode, AddNode, RemoveNode};

/// Persists the node's log, applies the committed entries (configuration changes included, as
/// an application does) and reports them applied. Returns them.
fn apply_committed(r: &mut Raft<MemStorage>) -> Vec<Entry> {
    next_entries_applying(r, |r, e| {
        if raft::raft::is_conf_change_entry(e) {
            let cc = raft::decode_conf_change(e).unwrap();
            r.apply_conf_change(&cc).unwrap();
        }
    })
}

/// The voters and learners of the node's configuration, sorted.
fn members(r: &Raft<MemStorage>) -> (Vec<u64>, Vec<u64>) {
    let cs = r.prs.conf_state();
    let (mut voters, mut learners) = (cs.voters, cs.learners);
    voters.sort_unstable();
    learners.sort_unstable();
    (voters, learners)
}

/// A single-voter leader whose empty entry is committed and applied.
fn single_leader() -> Raft<MemStorage> {
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    let _ = apply_committed(&mut r);
    assert!(r.is_leader());
    r
}

fn invalid(err: &Error) -> bool {
    matches!(err, Error::ConfChangeInvalid { .. })
}

// ---------------------------------------------------------------------------------------------
// Proposing.
// ---------------------------------------------------------------------------------------------

#[test]
fn leader_accepts_one_pending_change_at_a_time() {
    // Goal: while a configuration change is in the log and not applied, the leader refuses
    // another one with `ConfChangeInvalid`, and appends nothing.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    r.step(propose_conf_change(1, &conf_change(AddNode, 3)))
        .unwrap();
    let index = r.raft_log.last_index();
    assert_eq!(r.pending_conf_index(), index);
    let err = r
        .step(propose_conf_change(1, &conf_change(AddNode, 4)))
        .unwrap_err();
    assert!(invalid(&err), "{err:?}");
    let v2 = conf_change_v2(Auto, &[(AddNode, 4)]);
    assert!(invalid(
        &r.step(propose_conf_change_v2(1, &v2)).unwrap_err()
    ));
    assert_eq!(r.raft_log.last_index(), index);
    // Normal proposals are unaffected.
    r.step(propose(1, b"data")).unwrap();
}

#[test]
fn change_is_accepted_once_the_previous_one_is_applied() {
    // Goal: applying the pending change opens the way for the next.
    let mut r = single_leader();
    r.step(propose_conf_change(1, &conf_change(AddLearnerNode, 2)))
        .unwrap();
    let applied = apply_committed(&mut r);
    assert_eq!(applied.len(), 1);
    assert_eq!(members(&r), (vec![1], vec![2]));
    r.step(propose_conf_change(1, &conf_change(AddLearnerNode, 3)))
        .unwrap();
}

#[test]
fn new_leader_refuses_changes_until_it_applied_its_log() {
    // Goal: a new leader cannot tell whether its unapplied log holds a change, so it refuses
    // changes until it has applied everything up to its election (etcd-io/raft#80). With
    // `Config::applied` set at restart, the applied part counts.
    let storage = storage_with_log(&[1], &[1, 1]);
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 2,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    make_leader(&mut r);
    assert_eq!(r.pending_conf_index(), 2);
    assert!(invalid(
        &r.step(propose_conf_change(1, &conf_change(AddNode, 2)))
            .unwrap_err()
    ));
    let _ = apply_committed(&mut r);
    assert!(r.raft_log.applied >= 2);
    r.step(propose_conf_change(1, &conf_change(AddNode, 2)))
        .unwrap();

    let storage = storage_with_log(&[1], &[1, 1]);
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 2,
    });
    let cfg = raft::Config {
        applied: 2,
        ..config(1, ELECTION, HEARTBEAT)
    };
    let mut r = new_raft_with_config(&cfg, &storage);
    assert_eq!(r.raft_log.applied, 2);
    make_leader(&mut r);
    r.step(propose_conf_change(1, &conf_change(AddNode, 2)))
        .unwrap();
}

#[test]
fn forwarded_change_the_leader_refuses_becomes_an_empty_entry() {
    // Goal: a change forwarded by a follower cannot be refused to its proposer, so the leader
    // appends an empty normal entry in its place.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgAppResp);
    nw.send(vec![propose_conf_change(
        1,
        &conf_change(AddLearnerNode, 4),
    )]);
    nw.send(vec![propose_conf_change(
        2,
        &conf_change(AddLearnerNode, 5),
    )]);
    let log = nw.node(1).raft_log.all_entries();
    assert_eq!(log.len(), 3);
    assert_eq!(log[1].entry_type, EntryType::EntryConfChange as i32);
    assert_eq!(log[2].entry_type, EntryType::EntryNormal as i32);
    assert!(log[2].data.is_empty());
    assert_eq!(
        nw.node(1).pending_conf_index(),
        2,
        "the no-op is not a pending change"
    );
}

#[test]
fn joint_rules_are_checked_at_proposal() {
    // Goal: in a joint configuration only the change that leaves it is accepted; outside one,
    // a leave is refused.
    let mut r = single_leader();
    assert!(invalid(
        &r.step(propose_conf_change_v2(1, &leave_joint()))
            .unwrap_err()
    ));
    let enter = conf_change_v2(Explicit, &[(AddLearnerNode, 2), (AddLearnerNode, 3)]);
    r.step(propose_conf_change_v2(1, &enter)).unwrap();
    let _ = apply_committed(&mut r);
    assert!(r.prs.config.voters.is_joint());
    let other = conf_change_v2(Auto, &[(AddLearnerNode, 4)]);
    assert!(invalid(
        &r.step(propose_conf_change_v2(1, &other)).unwrap_err()
    ));
    assert!(invalid(
        &r.step(propose_conf_change(1, &conf_change(AddLearnerNode, 4)))
            .unwrap_err()
    ));
    r.step(propose_conf_change_v2(1, &leave_joint())).unwrap();
}

#[test]
fn disabled_validation_lets_any_decodable_change_through() {
    // Goal: with `disable_conf_change_validation` the leader appends changes without checking
    // pending changes or joint rules (the application serializes them itself); an undecodable
    // change is still refused.
    let mut r = new_node_with(1, &[1, 2], |c| c.disable_conf_change_validation = true);
    make_leader(&mut r);
    r.step(propose_conf_change(1, &conf_change(AddNode, 3)))
        .unwrap();
    r.step(propose_conf_change(1, &conf_change(AddNode, 4)))
        .unwrap();
    r.step(propose_conf_change_v2(1, &leave_joint())).unwrap();
    assert_eq!(r.raft_log.last_index(), 4);
    let garbage = Entry {
        entry_type: EntryType::EntryConfChangeV2 as i32,
        data: Bytes::from_static(&[0xff, 0xff, 0xff]),
        ..Entry::default()
    };
    let m = Message {
        entries: vec![garbage],
        ..msg(1, 1, MessageType::MsgProp)
    };
    assert!(invalid(&r.step(m).unwrap_err()));
    assert_eq!(r.raft_log.last_index(), 4);
}

#[test]
fn batch_with_two_changes_is_refused_as_a_whole() {
    // Goal: one proposal carrying two changes is refused entirely (the second would be pending
    // behind the first), and nothing of it is appended.
    let mut r = single_leader();
    let first = propose_conf_change(1, &conf_change(AddLearnerNode, 2));
    let second = propose_conf_change(1, &conf_change(AddLearnerNode, 3));
    let data = propose(1, b"data");
    let batch = Message {
        entries: vec![
            first.entries[0].clone(),
            data.entries[0].clone(),
            second.entries[0].clone(),
        ],
        ..msg(1, 1, MessageType::MsgProp)
    };
    let last = r.raft_log.last_index();
    assert!(invalid(&r.step(batch).unwrap_err()));
    assert_eq!(r.raft_log.last_index(), last);
    assert_eq!(r.pending_conf_index(), 0);
}

// ---------------------------------------------------------------------------------------------
// Applying.
// ---------------------------------------------------------------------------------------------

#[test]
fn adding_and_removing_voters_and_learners() {
    // Goal: applied v1 changes add and remove voters and learners, create and drop their
    // progress, and are idempotent.
    let mut r = new_node(1, &[1]);
    let cs = r
        .apply_conf_change(&conf_change(AddNode, 2).into_v2())
        .unwrap();
    assert_eq!(cs.voters.len(), 2);
    assert_eq!(members(&r), (vec![1, 2], vec![]));
    assert!(!r.prs.get(2).unwrap().is_learner);
    r.apply_conf_change(&conf_change(AddNode, 2).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1, 2], vec![]));
    r.apply_conf_change(&conf_change(AddLearnerNode, 3).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1, 2], vec![3]));
    assert!(r.prs.get(3).unwrap().is_learner);
    r.apply_conf_change(&conf_change(RemoveNode, 3).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1, 2], vec![]));
    assert!(r.prs.get(3).is_none());
    r.apply_conf_change(&conf_change(RemoveNode, 2).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1], vec![]));
    r.apply_conf_change(&conf_change(RemoveNode, 2).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1], vec![]));
}

#[test]
fn removing_a_voter_commits_what_the_remaining_quorum_holds() {
    // Goal: after a voter is removed, the smaller quorum may already hold an entry the old
    // quorum did not: the leader commits it at once.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, b"data")).unwrap();
    let _ = read_messages(&mut r);
    let last = r.raft_log.last_index();
    assert_eq!(r.raft_log.committed, last - 1);
    r.apply_conf_change(&conf_change(RemoveNode, 2).into_v2())
        .unwrap();
    assert_eq!(r.raft_log.committed, last);
}

#[test]
fn learner_promotion_and_simple_demotion() {
    // Goal: AddNode promotes a learner (keeping its progress) and AddLearnerNode demotes a
    // voter; each changes a single voter, so no joint configuration is needed.
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage_with_learners(&[1], &[2]));
    make_leader(&mut r);
    r.step(Message {
        index: 1,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    r.apply_conf_change(&conf_change(AddNode, 2).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1, 2], vec![]));
    assert_eq!(
        r.prs.get(2).unwrap().matched,
        1,
        "progress survives the promotion"
    );
    r.apply_conf_change(&conf_change(AddLearnerNode, 2).into_v2())
        .unwrap();
    assert_eq!(members(&r), (vec![1], vec![2]));
    assert!(!r.prs.config.voters.is_joint());
}

#[test]
fn two_voter_change_goes_through_a_joint_configuration() {
    // Goal: changing more than one voter at once requires joint consensus, which a v2 change
    // with the Auto transition enters by itself; in the joint configuration, a simple change
    // is refused and changes nothing.
    let mut r = new_node(1, &[1]);
    let two = conf_change_v2(Auto, &[(AddNode, 2), (AddNode, 3)]);
    let cs = r.apply_conf_change(&two).unwrap();
    assert_eq!(cs.voters_outgoing, vec![1], "entered a joint configuration");
    assert!(cs.auto_leave);
    // A change of the joint configuration other than leaving it is refused.
    let before = members(&r);
    let err = r
        .apply_conf_change(&conf_change(AddNode, 4).into_v2())
        .unwrap_err();
    assert!(invalid(&err));
    assert_eq!(members(&r), before);
}

#[test]
fn demotion_through_a_joint_configuration() {
    // Goal: a v2 change can demote a voter through a joint configuration: the voter stays a
    // voter of the outgoing half (in learners_next) and becomes a learner when the joint state
    // is left.
    let mut r = new_node(1, &[1, 2, 3]);
    let demote = conf_change_v2(Explicit, &[(AddLearnerNode, 3)]);
    let cs = r.apply_conf_change(&demote).unwrap();
    let mut outgoing = cs.voters_outgoing.clone();
    outgoing.sort_unstable();
    assert_eq!(outgoing, vec![1, 2, 3]);
    assert_eq!(cs.learners_next, vec![3]);
    assert!(!cs.auto_leave);
    let cs = r.apply_conf_change(&leave_joint()).unwrap();
    assert_eq!(
        (cs.learners, cs.learners_next, cs.voters_outgoing),
        (vec![3], vec![], vec![])
    );
    assert_eq!(members(&r), (vec![1, 2], vec![3]));
}

#[test]
fn joint_configuration_is_left_automatically_once_applied() {
    // Goal: with the Auto or Implicit transition the leader proposes the leaving change by
    // itself as soon as the entering change is applied, exactly once; the group ends in the new
    // configuration.
    for transition in [Auto, Implicit] {
        let mut r = single_leader();
        let cc = conf_change_v2(transition, &[(AddLearnerNode, 2), (AddLearnerNode, 3)]);
        r.step(propose_conf_change_v2(1, &cc)).unwrap();
        let enter_index = r.raft_log.last_index();
        let _ = apply_committed(&mut r);
        assert!(r.prs.config.voters.is_joint(), "{transition:?}");
        assert!(r.prs.config.auto_leave);
        let leave = r.raft_log.all_entries().pop().unwrap();
        assert_eq!(
            leave.index,
            enter_index + 1,
            "the leader proposed the leave"
        );
        assert_eq!(leave.entry_type, EntryType::EntryConfChangeV2 as i32);
        assert_eq!(raft::decode_conf_change(&leave).unwrap(), leave_joint());
        let _ = apply_committed(&mut r);
        assert!(!r.prs.config.voters.is_joint());
        assert_eq!(members(&r), (vec![1], vec![2, 3]));
        assert_eq!(r.raft_log.last_index(), enter_index + 1, "left once");
    }
}

#[test]
fn explicit_joint_configuration_waits_for_the_application_to_leave() {
    // Goal: with the Explicit transition the joint configuration stays until the application
    // proposes the empty change.
    let mut r = single_leader();
    let cc = conf_change_v2(Explicit, &[(AddLearnerNode, 2), (AddLearnerNode, 3)]);
    r.step(propose_conf_change_v2(1, &cc)).unwrap();
    let enter_index = r.raft_log.last_index();
    let _ = apply_committed(&mut r);
    for _ in 0..3 {
        r.step(propose(1, b"data")).unwrap();
        let _ = apply_committed(&mut r);
    }
    assert!(r.prs.config.voters.is_joint());
    let changes = r
        .raft_log
        .all_entries()
        .iter()
        .filter(|e| raft::raft::is_conf_change_entry(e))
        .count();
    assert_eq!(changes, 1);
    assert!(r.raft_log.last_index() > enter_index);
    r.step(propose_conf_change_v2(1, &leave_joint())).unwrap();
    let _ = apply_committed(&mut r);
    assert!(!r.prs.config.voters.is_joint());
}

#[test]
fn auto_leave_waits_while_a_transfer_blocks_proposals() {
    // Goal: leaving the joint state is a proposal: refused during a leadership transfer, and
    // retried on a later apply once the transfer is over.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    let cc = conf_change_v2(Auto, &[(AddLearnerNode, 3), (AddLearnerNode, 4)]);
    r.step(propose_conf_change_v2(1, &cc)).unwrap();
    let _ = read_messages(&mut r);
    let enter_index = r.raft_log.last_index();
    r.step(Message {
        index: enter_index,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    // A transfer to node 2 is under way.
    r.step(transfer(2, 1)).unwrap();
    assert_eq!(r.lead_transferee, 2);
    let _ = apply_committed(&mut r);
    assert!(r.prs.config.voters.is_joint());
    assert_eq!(
        r.raft_log.last_index(),
        enter_index,
        "no leave during the transfer"
    );
    // The transfer times out; the next apply proposes the leave.
    for _ in 0..ELECTION {
        r.tick();
    }
    assert_eq!(r.lead_transferee, 0);
    r.step(propose(1, b"data")).unwrap();
    let _ = read_messages(&mut r);
    let last = r.raft_log.last_index();
    r.step(Message {
        index: last,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    let _ = apply_committed(&mut r);
    let entries = r.raft_log.all_entries();
    let leave = entries
        .iter()
        .rev()
        .find(|e| raft::raft::is_conf_change_entry(e))
        .unwrap();
    assert!(leave.index > enter_index);
}

// ---------------------------------------------------------------------------------------------
// Removing or demoting the leader.
// ---------------------------------------------------------------------------------------------

#[test]
fn removed_leader_steps_down_and_hands_off_to_the_most_up_to_date_voter() {
    // Goal: with `step_down_on_removal` (the default) a leader removed from the voters steps
    // down and tells its most up-to-date voter to campaign at once.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, b"data")).unwrap();
    let _ = read_messages(&mut r);
    let last = r.raft_log.last_index();
    r.step(Message {
        index: last,
        ..msg_term(3, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    let _ = read_messages(&mut r);
    r.apply_conf_change(&conf_change(RemoveNode, 1).into_v2())
        .unwrap();
    assert_eq!((r.state, r.leader_id, r.term), (StateRole::Follower, 0, 1));
    let msgs = read_messages(&mut r);
    let timeout_now: Vec<&Message> = msgs
        .iter()
        .filter(|m| m.kind() == MessageType::MsgTimeoutNow)
        .collect();
    assert_eq!(timeout_now.len(), 1);
    assert_eq!(
        timeout_now[0].to, 3,
        "node 3 holds the whole log, node 2 does not"
    );
}

#[test]
fn demoted_leader_steps_down() {
    // Goal: a leader demoted to learner steps down like a removed one.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.apply_conf_change(&conf_change(AddLearnerNode, 1).into_v2())
        .unwrap();
    assert!(r.is_learner);
    assert_eq!(r.state, StateRole::Follower);
    let msgs = read_messages(&mut r);
    assert_eq!(
        msgs.iter()
            .filter(|m| m.kind() == MessageType::MsgTimeoutNow)
            .count(),
        1
    );
}

#[test]
fn leader_kept_outside_the_configuration_refuses_proposals() {
    // Goal: with `step_down_on_removal` off a removed leader keeps leading (so it can commit
    // its own removal elsewhere) but refuses new proposals with `LeaderRemoved`.
    let mut r = new_node_with(1, &[1, 2, 3], |c| c.step_down_on_removal = false);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.apply_conf_change(&conf_change(RemoveNode, 1).into_v2())
        .unwrap();
    assert_eq!(r.state, StateRole::Leader);
    assert!(read_messages_of(&mut r, MessageType::MsgTimeoutNow).is_empty());
    let err = r.step(propose(1, b"data")).unwrap_err();
    assert_eq!(
        err,
        Error::ProposalDropped {
            reason: DropReason::LeaderRemoved
        }
    );
}

#[test]
fn removed_leader_hand_off_completes_an_election_in_the_new_configuration() {
    // Goal: end to end, removing the leader yields a new leader among the remaining voters
    // without waiting for an election timeout.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.send(vec![propose_conf_change(1, &conf_change(RemoveNode, 1))]);
    for id in [2, 3, 1] {
        let applied = apply_committed(nw.peer(id));
        assert_eq!(applied.len(), 2, "node {id}");
    }
    nw.flush(1);
    let leaders: Vec<u64> = [2, 3]
        .into_iter()
        .filter(|&id| nw.node(id).state == StateRole::Leader)
        .collect();
    assert_eq!(leaders.len(), 1, "one of the remaining voters took over");
    assert_eq!(nw.node(1).state, StateRole::Follower);
}

// ---------------------------------------------------------------------------------------------
// Campaigning and configuration.
// ---------------------------------------------------------------------------------------------

#[test]
fn node_with_unapplied_committed_change_does_not_campaign() {
    // Goal: a node whose log holds a committed but unapplied configuration change could elect
    // a wrong quorum, so it does not campaign (on timeout, campaign request or MsgTimeoutNow)
    // until it has applied it.
    for v2 in [false, true] {
        let mut nw = Network::new(2);
        nw.elect(1);
        if v2 {
            let cc = conf_change_v2(Auto, &[(AddLearnerNode, 3)]);
            nw.send(vec![propose_conf_change_v2(1, &cc)]);
        } else {
            nw.send(vec![propose_conf_change(
                1,
                &conf_change(AddLearnerNode, 3),
            )]);
        }
        nw.send(vec![beat(1)]);
        let r = nw.peer(2);
        assert_eq!(r.raft_log.committed, 2);
        assert_eq!(r.raft_log.applied, 0);
        r.step(hup(2)).unwrap();
        r.step(msg_term(1, 2, MessageType::MsgTimeoutNow, 1))
            .unwrap();
        for _ in 0..2 * ELECTION {
            r.tick();
        }
        assert_eq!((r.state, r.term), (StateRole::Follower, 1), "v2 {v2}");
        let _ = apply_committed(r);
        r.step(hup(2)).unwrap();
        assert_eq!(r.state, StateRole::Candidate, "v2 {v2}");
    }
}

#[test]
fn newly_added_voter_counts_as_active_for_check_quorum() {
    // Goal: a freshly added voter is presumed active, so the next quorum check does not depose
    // the leader before the new voter had a chance to answer; the one after does.
    let mut r = new_node_with(1, &[1], |c| c.check_quorum = true);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    for _ in 0..ELECTION - 1 {
        r.tick();
    }
    r.apply_conf_change(&conf_change(AddNode, 2).into_v2())
        .unwrap();
    r.tick();
    assert_eq!(r.state, StateRole::Leader);
    for _ in 0..ELECTION {
        r.tick();
    }
    assert_eq!(r.state, StateRole::Follower);
}

#[test]
fn promotable_means_voter_without_a_pending_snapshot() {
    // Goal: a node may campaign only if it is a voter of its own configuration.
    let cases: [(&[u64], &[u64], bool); 4] = [
        (&[1], &[], true),
        (&[1, 2, 3], &[], true),
        (&[2, 3], &[], false),
        (&[2], &[1], false),
    ];
    for (voters, learners, want) in cases {
        let r = new_raft(
            1,
            ELECTION,
            HEARTBEAT,
            &storage_with_learners(voters, learners),
        );
        assert_eq!(
            r.promotable(),
            want,
            "voters {voters:?} learners {learners:?}"
        );
    }
}

#[test]
fn configuration_is_restored_from_storage() {
    // Goal: a node starts with the configuration its storage reports, joint ones included.
    let cs = ConfState {
        voters: vec![1, 2],
        voters_outgoing: vec![1, 2, 3],
        learners: vec![4],
        learners_next: vec![3],
        auto_leave: true,
    };
    let r = new_raft(
        1,
        ELECTION,
        HEARTBEAT,
        &MemStorage::new_with_conf_state(cs.clone()),
    );
    let mut got = r.prs.conf_state();
    for ids in [
        &mut got.voters,
        &mut got.voters_outgoing,
        &mut got.learners,
        &mut got.learners_next,
    ] {
        ids.sort_unstable();
    }
    assert_eq!(got, cs);
}

// ---------------------------------------------------------------------------------------------
// Joint quorums.
// ---------------------------------------------------------------------------------------------

/// A leader in the joint configuration {1, 2, 3} (incoming) & {1, 4, 5} (outgoing): it led
/// {1, 4, 5} and applied a change towards {1, 2, 3}, so both halves matter.
fn joint_leader() -> Raft<MemStorage> {
    let mut r = new_node(1, &[1, 4, 5]);
    make_leader(&mut r);
    for id in [4, 5] {
        r.step(Message {
            index: 1,
            ..msg_term(id, 1, MessageType::MsgAppResp, 1)
        })
        .unwrap();
    }
    let _ = apply_committed(&mut r);
    let cc = conf_change_v2(
        Explicit,
        &[(AddNode, 2), (AddNode, 3), (RemoveNode, 4), (RemoveNode, 5)],
    );
    r.apply_conf_change(&cc).unwrap();
    assert!(r.prs.config.voters.is_joint());
    let _ = read_messages(&mut r);
    r
}

#[test]
fn joint_configuration_commits_only_with_both_majorities() {
    // Goal: in a joint configuration an entry commits only when a majority of each half holds
    // it.
    let mut r = joint_leader();
    r.step(propose(1, b"data")).unwrap();
    let _ = read_messages(&mut r);
    let last = r.raft_log.last_index();
    for id in [2, 3] {
        r.step(Message {
            index: last,
            ..msg_term(id, 1, MessageType::MsgAppResp, 1)
        })
        .unwrap();
    }
    assert!(
        r.raft_log.committed < last,
        "the new half alone is not enough"
    );
    r.step(Message {
        index: last,
        ..msg_term(4, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    assert_eq!(r.raft_log.committed, last);
}

#[test]
fn joint_configuration_elects_only_with_both_majorities() {
    // Goal: a candidate in a joint configuration needs a majority of each half.
    let mut r = joint_leader();
    r.become_follower(2, 0);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    for id in [2, 3] {
        r.step(msg_term(id, 1, MessageType::MsgVoteResp, 3))
            .unwrap();
    }
    assert_eq!(r.state, StateRole::Candidate);
    r.step(msg_term(5, 1, MessageType::MsgVoteResp, 3)).unwrap();
    assert_eq!(r.state, StateRole::Leader);
}

#[test]
fn leader_removed_through_a_joint_configuration_steps_down_when_it_is_left() {
    // Goal: a leader that only the outgoing half contains keeps leading through the joint
    // configuration (it is needed to commit the leave) and steps down once it is left.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    let cc = conf_change_v2(Explicit, &[(RemoveNode, 1), (AddNode, 4)]);
    r.apply_conf_change(&cc).unwrap();
    assert_eq!(r.state, StateRole::Leader);
    r.apply_conf_change(&leave_joint()).unwrap();
    assert_eq!(r.state, StateRole::Follower);
}

#[test]
fn check_quorum_ignores_learners() {
    // Goal: only voters make a quorum active: a leader that hears only from a learner steps
    // down at the next check.
    let storage = storage_with_learners(&[1, 2, 3], &[4]);
    let cfg = raft::Config {
        check_quorum: true,
        ..config(1, ELECTION, HEARTBEAT)
    };
    let mut r = new_raft_with_config(&cfg, &storage);
    make_leader(&mut r);
    for _ in 0..ELECTION {
        r.step(msg_term(4, 1, MessageType::MsgHeartbeatResp, 1))
            .unwrap();
        r.tick();
    }
    assert_eq!(r.state, StateRole::Follower);
}
