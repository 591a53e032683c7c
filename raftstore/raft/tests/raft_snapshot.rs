//! Snapshots: when the leader sends one, how the follower's progress moves through the snapshot
//! state, how reports and answers end it, and how a follower restores one.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{ConfState, HardState, Message, MessageType};
use raft::tracker::ProgressState;
use raft::{MemStorage, Raft, StateRole};
use support::*;

/// A leader of {1, 2} whose storage starts from a snapshot at (11, 11): everything before
/// index 12 is compacted away.
fn leader_after_snapshot() -> Raft<MemStorage> {
    let storage = MemStorage::new();
    storage
        .wl()
        .apply_snapshot(snapshot(11, 11, &[1, 2]))
        .unwrap();
    storage.wl().set_hard_state(HardState {
        term: 11,
        vote: 0,
        commit: 11,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    make_leader(&mut r);
    r
}

fn snap_msg(from: u64, to: u64, term: u64, snap: raft::raftpb::Snapshot) -> Message {
    Message {
        snapshot: Some(Box::new(snap)),
        ..msg_term(from, to, MessageType::MsgSnap, term)
    }
}

#[test]
fn leader_sends_a_snapshot_when_the_follower_needs_compacted_entries() {
    // Goal: when the entries a follower needs were compacted, the leader sends the snapshot and
    // puts the follower in snapshot state, pending at the snapshot's index.
    let mut r = leader_after_snapshot();
    let reject = Message {
        reject: true,
        ..msg_term(2, 1, MessageType::MsgAppResp, 12)
    };
    let reject = Message {
        index: r.prs.get(2).unwrap().next - 1,
        ..reject
    };
    r.step(reject).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.pending_snapshot, pr.next),
        (ProgressState::Snapshot, 11, 12)
    );
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgSnap]);
    let snap = msgs[0].snapshot.as_ref().unwrap();
    assert_eq!((snap.index(), snap.term()), (11, 11));
}

#[test]
fn pending_snapshot_pauses_replication() {
    // Goal: while a snapshot is pending, no append is sent to that follower, not even on
    // heartbeat responses.
    let mut r = leader_after_snapshot();
    r.prs.get_mut(2).unwrap().become_snapshot(11);
    r.step(propose(1, b"somedata")).unwrap();
    assert!(read_messages(&mut r).is_empty());
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 12))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
}

#[test]
fn failed_snapshot_report_returns_the_follower_to_probe_from_its_match() {
    // Goal: a failed snapshot is forgotten: the follower goes back to probing from its match
    // and the leader waits for a heartbeat response before trying again.
    let mut r = leader_after_snapshot();
    r.prs.get_mut(2).unwrap().become_snapshot(11);
    r.step(Message {
        reject: true,
        ..msg(2, 1, MessageType::MsgSnapStatus)
    })
    .unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.pending_snapshot, pr.next),
        (ProgressState::Probe, 0, 1)
    );
    assert!(pr.msg_app_flow_paused);
}

#[test]
fn successful_snapshot_report_probes_after_the_snapshot() {
    // Goal: a delivered snapshot moves the follower to probe just after the snapshot's index,
    // paused until the follower answers.
    let mut r = leader_after_snapshot();
    r.prs.get_mut(2).unwrap().become_snapshot(11);
    r.step(msg(2, 1, MessageType::MsgSnapStatus)).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.pending_snapshot, pr.next),
        (ProgressState::Probe, 0, 12)
    );
    assert!(pr.msg_app_flow_paused);
}

#[test]
fn snapshot_report_outside_snapshot_state_is_ignored() {
    // Goal: a late or duplicated report does not disturb a follower that already left the
    // snapshot state.
    let mut r = leader_after_snapshot();
    r.step(Message {
        index: 12,
        ..msg_term(2, 1, MessageType::MsgAppResp, 12)
    })
    .unwrap();
    let before = r.prs.get(2).unwrap().clone();
    assert_eq!(before.state, ProgressState::Replicate);
    r.step(Message {
        reject: true,
        ..msg(2, 1, MessageType::MsgSnapStatus)
    })
    .unwrap();
    assert_eq!(r.prs.get(2).unwrap(), &before);
}

#[test]
fn append_answer_past_the_snapshot_ends_the_snapshot_state() {
    // Goal: an acknowledgement at or beyond the pending snapshot shows the follower caught up
    // (by whatever snapshot): it goes straight to replicate and gets the next entries.
    let mut r = leader_after_snapshot();
    r.prs.get_mut(2).unwrap().become_snapshot(11);
    r.step(Message {
        index: 11,
        ..msg_term(2, 1, MessageType::MsgAppResp, 12)
    })
    .unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.pending_snapshot, pr.matched, pr.next),
        (ProgressState::Replicate, 0, 11, 13)
    );
    assert_eq!(
        pr.inflights.count(),
        1,
        "the leader's empty entry went out optimistically"
    );
    let apps = read_messages_of(&mut r, MessageType::MsgApp);
    assert_eq!(apps.len(), 1);
    assert_eq!((apps[0].index, apps[0].entries.len()), (11, 1));
}

#[test]
fn temporarily_unavailable_snapshot_is_retried() {
    // Goal: when storage cannot produce a snapshot yet, the leader sends nothing, keeps probing
    // and asks again on the next heartbeat response.
    let mut r = leader_after_snapshot();
    r.raft_log.store.wl().trigger_snapshot_unavailable();
    let reject = Message {
        reject: true,
        index: 11,
        ..msg_term(2, 1, MessageType::MsgAppResp, 12)
    };
    r.step(reject).unwrap();
    assert!(read_messages(&mut r).is_empty());
    assert_eq!(r.prs.get(2).unwrap().state, ProgressState::Probe);
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 12))
        .unwrap();
    assert_eq!(kinds(&read_messages(&mut r)), vec![MessageType::MsgSnap]);
    assert_eq!(r.prs.get(2).unwrap().state, ProgressState::Snapshot);
}

#[test]
fn no_snapshot_is_sent_to_an_inactive_follower() {
    // Goal: a snapshot is expensive; it goes only to followers heard from recently.
    let mut r = leader_after_snapshot();
    {
        let pr = r.prs.get_mut(2).unwrap();
        pr.next = 1;
        pr.recent_active = false;
    }
    r.step(propose(1, b"somedata")).unwrap();
    assert!(read_messages_of(&mut r, MessageType::MsgSnap).is_empty());
    assert_eq!(r.prs.get(2).unwrap().state, ProgressState::Probe);
}

#[test]
fn failed_snapshot_is_sent_again_after_a_heartbeat() {
    // Goal: after a failure report the follower still needs the snapshot; it gets it again once
    // a heartbeat response shows it reachable.
    let mut r = leader_after_snapshot();
    let reject = Message {
        reject: true,
        index: 11,
        ..msg_term(2, 1, MessageType::MsgAppResp, 12)
    };
    r.step(reject).unwrap();
    assert_eq!(kinds(&read_messages(&mut r)), vec![MessageType::MsgSnap]);
    r.step(Message {
        reject: true,
        ..msg(2, 1, MessageType::MsgSnapStatus)
    })
    .unwrap();
    assert!(read_messages(&mut r).is_empty());
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 12))
        .unwrap();
    assert_eq!(kinds(&read_messages(&mut r)), vec![MessageType::MsgSnap]);
}

#[test]
fn follower_restores_a_snapshot_and_acknowledges_its_index() {
    // Goal: a follower installs a newer snapshot as its log base: last index, term and
    // configuration come from it, and it answers with the snapshot's index.
    let mut r = new_node(1, &[1, 2]);
    let snap = snapshot(11, 11, &[1, 2, 3]);
    r.step(snap_msg(2, 1, 12, snap.clone())).unwrap();
    assert_eq!(
        (
            r.raft_log.last_index(),
            r.raft_log.last_term(),
            r.raft_log.committed
        ),
        (11, 11, 11)
    );
    let mut voters = r.prs.conf_state().voters;
    voters.sort_unstable();
    assert_eq!(voters, vec![1, 2, 3]);
    assert_eq!(r.leader_id, 2);
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgAppResp]);
    assert_eq!((msgs[0].index, msgs[0].reject), (11, false));
    assert_eq!(
        r.raft_log.store.rl().snapshot(),
        snap,
        "persisted by the harness"
    );
    // The same snapshot again is ignored and answered with the commit index.
    r.step(snap_msg(2, 1, 12, snapshot(11, 11, &[1, 2, 3])))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!((msgs[0].index, r.raft_log.last_index()), (11, 11));
}

#[test]
fn snapshot_configuration_with_learners_and_joint_voters_is_restored() {
    // Goal: restoring installs the snapshot's whole configuration: learners (possibly this
    // node), and both halves of a joint configuration.
    let cs = ConfState {
        voters: vec![1, 2],
        learners: vec![3],
        ..ConfState::default()
    };
    let mut r = new_raft(3, ELECTION, HEARTBEAT, &storage_with_voters(&[1, 2, 3]));
    r.step(snap_msg(1, 3, 2, snapshot_with_conf(11, 11, cs)))
        .unwrap();
    assert!(r.is_learner);
    assert!(r.prs.get(3).unwrap().is_learner);
    assert!(!r.promotable());

    let joint = ConfState {
        voters: vec![2, 3, 4],
        voters_outgoing: vec![1, 2, 3],
        ..ConfState::default()
    };
    let mut r = new_node(1, &[1, 2, 3]);
    r.step(snap_msg(2, 1, 2, snapshot_with_conf(11, 11, joint)))
        .unwrap();
    assert!(r.prs.config.voters.is_joint());
    let mut ids = r.prs.voter_ids();
    ids.sort_unstable();
    assert_eq!(ids, vec![1, 2, 3, 4]);
}

#[test]
fn snapshot_can_demote_a_voter_or_promote_a_learner() {
    // Goal: a snapshot's configuration wins over the node's own, in both directions.
    let mut voter = new_raft(3, ELECTION, HEARTBEAT, &storage_with_voters(&[1, 2, 3]));
    let cs = ConfState {
        voters: vec![1, 2],
        learners: vec![3],
        ..ConfState::default()
    };
    voter
        .step(snap_msg(1, 3, 2, snapshot_with_conf(11, 11, cs)))
        .unwrap();
    assert!(voter.is_learner);
    let mut learner = new_raft(
        3,
        ELECTION,
        HEARTBEAT,
        &storage_with_learners(&[1, 2], &[3]),
    );
    assert!(learner.is_learner);
    learner
        .step(snap_msg(1, 3, 2, snapshot(11, 11, &[1, 2, 3])))
        .unwrap();
    assert!(!learner.is_learner);
    assert!(
        !learner.promotable(),
        "not while the snapshot is unpersisted"
    );
    persist(&mut learner);
    assert!(learner.promotable());
}

#[test]
fn snapshot_not_newer_than_the_commit_index_is_ignored() {
    // Goal: a snapshot never moves the log backwards: one at or below the commit index is
    // ignored; one whose last entry the log already holds only advances the commit index.
    let storage = storage_with_log(&[1, 2], &[1, 1, 1]);
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 0,
        commit: 1,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    r.step(snap_msg(2, 1, 1, snapshot(1, 1, &[1, 2]))).unwrap();
    assert_eq!((r.raft_log.committed, r.raft_log.last_index()), (1, 3));
    let msgs = read_messages(&mut r);
    assert_eq!(
        (msgs[0].kind(), msgs[0].index),
        (MessageType::MsgAppResp, 1)
    );
    r.step(snap_msg(2, 1, 1, snapshot(2, 1, &[1, 2]))).unwrap();
    assert_eq!(
        (r.raft_log.committed, r.raft_log.last_index()),
        (2, 3),
        "fast-forwarded, log kept"
    );
    assert!(r.raft_log.unstable.snapshot.is_none());
}

#[test]
fn snapshot_that_conflicts_with_the_log_replaces_it() {
    // Goal: a snapshot whose (index, term) is not in the log replaces the whole log.
    let storage = storage_with_log(&[1, 2], &[1, 1, 1]);
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    r.step(snap_msg(2, 1, 2, snapshot(2, 2, &[1, 2]))).unwrap();
    assert_eq!(
        (
            r.raft_log.last_index(),
            r.raft_log.last_term(),
            r.raft_log.committed
        ),
        (2, 2, 2)
    );
    let _ = read_messages(&mut r);
    assert_eq!(r.raft_log.first_index(), 3);
}

#[test]
fn snapshot_without_this_node_in_its_configuration_is_ignored() {
    // Goal: a node does not install a snapshot of a configuration it is not part of.
    let mut r = new_node(1, &[1, 2]);
    r.step(snap_msg(2, 1, 2, snapshot(11, 11, &[2, 3])))
        .unwrap();
    assert_eq!(r.raft_log.last_index(), 0);
    let msgs = read_messages(&mut r);
    assert_eq!(
        (msgs[0].kind(), msgs[0].index),
        (MessageType::MsgAppResp, 0)
    );
}

#[test]
fn candidate_receiving_a_snapshot_becomes_follower_of_the_sender() {
    // Goal: a snapshot comes from a leader; a candidate of that term follows it and installs it.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_candidate();
    r.step(snap_msg(2, 1, 1, snapshot(11, 11, &[1, 2, 3])))
        .unwrap();
    assert_eq!(
        (r.state, r.leader_id, r.raft_log.last_index()),
        (StateRole::Follower, 2, 11)
    );
}

#[test]
fn node_with_an_unpersisted_snapshot_does_not_campaign() {
    // Goal: a node installing a snapshot cannot campaign until the snapshot is durable.
    let mut r = new_node(1, &[1, 2]);
    r.step(snap_msg(2, 1, 2, snapshot(11, 11, &[1, 2])))
        .unwrap();
    assert!(!r.promotable());
    for _ in 0..4 * ELECTION {
        r.tick();
    }
    assert_eq!(r.state, StateRole::Follower);
    persist(&mut r);
    assert!(r.promotable());
    tick_until_election(&mut r);
    assert_eq!(r.state, StateRole::Candidate);
}

#[test]
fn slow_follower_catches_up_through_a_snapshot() {
    // Goal: a follower that missed entries the leader has since compacted catches up by
    // snapshot and then by appends, and commits what the others commit.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    for _ in 0..20 {
        nw.propose(1, b"somedata");
    }
    let leader = nw.peer(1);
    let _ = next_entries(leader);
    let applied = leader.raft_log.applied;
    let cs = leader.prs.conf_state();
    {
        let mut store = leader.raft_log.store.wl();
        store
            .create_snapshot(applied, Some(cs), Bytes::from_static(b"state"))
            .unwrap();
        store.compact(applied).unwrap();
    }
    nw.recover();
    // Heartbeats show node 3 alive; it needs entries that are gone, so it gets the snapshot.
    for _ in 0..3 {
        nw.send(vec![beat(1)]);
    }
    nw.propose(1, b"somedata");
    assert_eq!(nw.node(3).raft_log.committed, nw.node(1).raft_log.committed);
    assert_eq!(nw.node(3).raft_log.first_index(), applied + 1);
    assert_eq!(nw.node(3).raft_log.store.rl().snapshot().index(), applied);
    assert_eq!(
        nw.node(1).prs.get(3).unwrap().state,
        ProgressState::Replicate
    );
}

#[test]
fn learner_catches_up_through_a_snapshot() {
    // Goal: a learner, like a voter, gets a snapshot when it needs compacted entries.
    let leader_storage = storage_with_learners(&[1], &[2]);
    let mut n1 = new_raft(1, ELECTION, HEARTBEAT, &leader_storage);
    let n2 = new_raft(2, ELECTION, HEARTBEAT, &storage_with_learners(&[1], &[2]));
    n1.step(hup(1)).unwrap();
    let _ = read_messages(&mut n1);
    for _ in 0..3 {
        n1.step(propose(1, b"x")).unwrap();
        let _ = read_messages(&mut n1);
    }
    let _ = next_entries(&mut n1);
    let applied = n1.raft_log.applied;
    let cs = n1.prs.conf_state();
    leader_storage
        .wl()
        .create_snapshot(applied, Some(cs), Bytes::new())
        .unwrap();
    leader_storage.wl().compact(applied).unwrap();
    n1.msgs.clear();
    let mut nw = Network::from_peers(vec![n1, n2]);
    nw.send(vec![beat(1)]);
    nw.send(vec![beat(1)]);
    assert_eq!(nw.node(2).raft_log.committed, nw.node(1).raft_log.committed);
    assert_eq!(nw.node(2).raft_log.store.rl().snapshot().index(), applied);
}
