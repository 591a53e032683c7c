//! Leadership transfer: the leader catches the transferee up, tells it to campaign at once
//! (bypassing pre-vote and leader stickiness), refuses proposals meanwhile, and abandons the
//! transfer after an election timeout or when the transferee leaves.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{ConfChangeTransition, ConfChangeType, Message, MessageType};
use raft::{DropReason, Error, StateRole};
use support::*;

fn check_leader(nw: &Network, leader: u64, term: u64) {
    let r = nw.node(leader);
    assert_eq!(
        (r.state, r.term, r.lead_transferee),
        (StateRole::Leader, term, 0),
        "node {leader}"
    );
    for (&id, p) in &nw.peers {
        if id != leader {
            assert_eq!(p.state, StateRole::Follower, "node {id}");
        }
    }
}

#[test]
fn transfer_to_an_up_to_date_follower_and_back() {
    // Goal: a caught-up transferee is told to campaign at once and wins the next term; a
    // transfer back works the same way.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.send(vec![transfer(2, 1)]);
    check_leader(&nw, 2, 2);
    nw.propose(2, b"x");
    nw.send(vec![transfer(1, 2)]);
    check_leader(&nw, 1, 3);
}

#[test]
fn transfer_requested_at_a_follower_is_forwarded_to_the_leader() {
    // Goal: the application may ask any node; a follower forwards the request to its leader.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.send(vec![transfer(2, 2)]);
    check_leader(&nw, 2, 2);
}

#[test]
fn transfer_campaign_bypasses_leader_stickiness_and_pre_vote() {
    // Goal: the transferee's campaign is ordered by the leader: it skips PreVote and carries a
    // context that makes followers vote although they still hear from the old leader.
    let mut nw = Network::new_with_config(3, |c| {
        c.check_quorum = true;
        c.pre_vote = true;
    });
    nw.elect(1);
    nw.delivered.clear();
    nw.send(vec![transfer(2, 1)]);
    check_leader(&nw, 2, 2);
    let votes: Vec<&Message> = nw
        .delivered
        .iter()
        .filter(|m| m.kind() == MessageType::MsgVote)
        .collect();
    assert_eq!(votes.len(), 2);
    assert!(
        votes
            .iter()
            .all(|m| m.context == Bytes::from_static(b"CampaignTransfer"))
    );
    assert!(
        nw.delivered
            .iter()
            .all(|m| m.kind() != MessageType::MsgPreVote)
    );
}

#[test]
fn transfer_to_a_slow_follower_waits_until_it_caught_up() {
    // Goal: a lagging transferee first receives the missing entries; only when it acknowledges
    // the leader's last index is it told to campaign.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, b"x");
    nw.recover();
    assert_eq!(nw.node(1).prs.get(3).unwrap().matched, 1);
    nw.delivered.clear();
    nw.send(vec![transfer(3, 1)]);
    let kinds_to_3: Vec<MessageType> = nw
        .delivered
        .iter()
        .filter(|m| m.to == 3)
        .map(Message::kind)
        .collect();
    let first_timeout = kinds_to_3
        .iter()
        .position(|&k| k == MessageType::MsgTimeoutNow)
        .unwrap();
    assert!(
        kinds_to_3[..first_timeout].contains(&MessageType::MsgApp),
        "{kinds_to_3:?}"
    );
    check_leader(&nw, 3, 2);
}

#[test]
fn transfer_to_a_follower_that_needs_a_snapshot() {
    // Goal: when the transferee needs a snapshot, the transfer completes after the snapshot
    // is installed and acknowledged.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, b"x");
    let leader = nw.peer(1);
    let _ = next_entries(leader);
    let (applied, cs) = (leader.raft_log.applied, leader.prs.conf_state());
    leader
        .raft_log
        .store
        .wl()
        .create_snapshot(applied, Some(cs), Bytes::new())
        .unwrap();
    leader.raft_log.store.wl().compact(applied).unwrap();
    nw.recover();
    // Stop the snapshot on its way: the transfer must wait.
    nw.ignore(MessageType::MsgSnap);
    nw.send(vec![transfer(3, 1)]);
    nw.send(vec![msg_term(3, 1, MessageType::MsgHeartbeatResp, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    nw.recover();
    // The lost snapshot is reported; the next heartbeat response brings a new one.
    nw.send(vec![Message {
        reject: true,
        ..msg(3, 1, MessageType::MsgSnapStatus)
    }]);
    nw.send(vec![msg_term(3, 1, MessageType::MsgHeartbeatResp, 1)]);
    check_leader(&nw, 3, 2);
}

#[test]
fn transfer_to_self_or_to_a_stranger_is_ignored() {
    // Goal: a leader ignores transfers to itself and to nodes outside the configuration.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.send(vec![transfer(1, 1)]);
    check_leader(&nw, 1, 1);
    nw.send(vec![transfer(4, 1)]);
    check_leader(&nw, 1, 1);
}

#[test]
fn transfer_to_a_learner_is_ignored() {
    // Goal: a learner cannot lead, so it is never made transferee.
    let storage = |_| storage_with_learners(&[1, 2], &[3]);
    let mut nw = Network::from_peers(
        (1..=3)
            .map(|id| new_raft(id, ELECTION, HEARTBEAT, &storage(id)))
            .collect(),
    );
    nw.elect(1);
    nw.send(vec![transfer(3, 1)]);
    check_leader(&nw, 1, 1);
}

#[test]
fn unfinished_transfer_is_abandoned_after_an_election_timeout() {
    // Goal: a transfer that does not complete within an election timeout is abandoned, and
    // the leader takes proposals again.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    for _ in 0..HEARTBEAT {
        nw.tick(1);
    }
    assert_eq!(nw.node(1).lead_transferee, 3);
    for _ in 0..ELECTION - HEARTBEAT {
        nw.tick(1);
    }
    check_leader(&nw, 1, 1);
    nw.propose(1, b"x");
    assert_eq!(nw.node(1).raft_log.last_index(), 2);
}

#[test]
fn proposals_are_refused_during_a_transfer() {
    // Goal: a leader handing over refuses proposals (they could not commit under its term
    // anyway) with `TransferInProgress`, and its log and progress stay as they are.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    let before = fingerprint(nw.node(1));
    let err = nw.peer(1).step(propose(1, b"x")).unwrap_err();
    assert_eq!(
        err,
        Error::ProposalDropped {
            reason: DropReason::TransferInProgress
        }
    );
    assert_eq!(fingerprint(nw.node(1)), before);
    assert_eq!(nw.node(1).prs.get(1).unwrap().matched, 1);
}

#[test]
fn higher_term_vote_ends_a_transfer() {
    // Goal: a leader that steps down for a higher term forgets its transfer.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    nw.elect(2);
    check_leader(&nw, 2, 2);
}

#[test]
fn removing_the_transferee_ends_the_transfer() {
    // Goal: a transfer to a node that is removed from the voters is abandoned.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgTimeoutNow);
    nw.send(vec![transfer(3, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    nw.peer(1)
        .apply_conf_change(&conf_change(ConfChangeType::RemoveNode, 3).into_v2())
        .unwrap();
    assert_eq!(nw.node(1).lead_transferee, 0);
}

#[test]
fn demoting_the_transferee_ends_the_transfer_when_the_joint_state_is_left() {
    // Goal: a transferee demoted through a joint configuration is still a voter of the outgoing
    // half; the transfer ends when the joint state is left and it is a learner.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgTimeoutNow);
    nw.send(vec![transfer(3, 1)]);
    let demote = conf_change_v2(
        ConfChangeTransition::Explicit,
        &[(ConfChangeType::AddLearnerNode, 3)],
    );
    nw.peer(1).apply_conf_change(&demote).unwrap();
    assert_eq!(nw.node(1).lead_transferee, 3);
    nw.peer(1).apply_conf_change(&leave_joint()).unwrap();
    assert_eq!(nw.node(1).lead_transferee, 0);
}

#[test]
fn transfer_back_to_the_leader_cancels_the_transfer() {
    // Goal: asking to transfer to the leader itself cancels a pending transfer.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    nw.send(vec![transfer(1, 1)]);
    check_leader(&nw, 1, 1);
}

#[test]
fn second_transfer_to_another_node_replaces_the_first() {
    // Goal: a new transfer request for another node replaces the pending one.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    nw.send(vec![transfer(2, 1)]);
    check_leader(&nw, 2, 2);
}

#[test]
fn repeated_transfer_to_the_same_node_keeps_the_original_deadline() {
    // Goal: asking again for the same transferee does not extend the transfer's deadline.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.send(vec![transfer(3, 1)]);
    for _ in 0..ELECTION / 2 {
        nw.tick(1);
    }
    nw.send(vec![transfer(3, 1)]);
    for _ in 0..ELECTION - ELECTION / 2 {
        nw.tick(1);
    }
    check_leader(&nw, 1, 1);
}

#[test]
fn node_outside_the_configuration_ignores_timeout_now() {
    // Goal: only a voter of its own configuration may campaign, even when told to.
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage_with_voters(&[2, 3]));
    r.step(msg_term(2, 1, MessageType::MsgTimeoutNow, 1))
        .unwrap();
    assert_eq!((r.state, r.term), (StateRole::Follower, 1));
    assert!(read_messages(&mut r).is_empty());
}
