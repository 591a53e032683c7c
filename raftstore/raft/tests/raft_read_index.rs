//! Read-index requests: Safe reads confirmed by one heartbeat round per batch, held until the
//! leader commits in its term; follower reads through the leader; lease-based reads.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{Message, MessageType};
use raft::{DropReason, Error, ReadOnlyOption, ReadState};
use support::*;

fn read_state(index: u64, ctx: &'static [u8]) -> ReadState {
    ReadState {
        index,
        request_ctx: Bytes::from_static(ctx),
    }
}

fn lease_based(c: &mut raft::Config) {
    c.check_quorum = true;
    c.read_only_option = ReadOnlyOption::LeaseBased;
}

fn heartbeats(msgs: &[Message]) -> Vec<&Message> {
    msgs.iter()
        .filter(|m| m.kind() == MessageType::MsgHeartbeat)
        .collect()
}

#[test]
fn safe_reads_share_one_heartbeat_round_per_batch() {
    // Goal: in Safe mode the reads that arrive before the next flush share one heartbeat round
    // (one heartbeat per follower), answered together once a quorum acknowledged it, at the
    // commit index of the moment the round was sent.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.propose(1, b"x");
    let commit = nw.node(1).raft_log.committed;
    let leader = nw.peer(1);
    leader.step(read_index(1, b"a")).unwrap();
    leader.step(read_index(1, b"b")).unwrap();
    leader.step(read_index(1, b"c")).unwrap();
    assert!(leader.msgs.is_empty(), "the round is sent at flush time");
    assert!(leader.has_deferred());
    nw.delivered.clear();
    nw.flush(1);
    let sent = heartbeats(&nw.delivered);
    assert_eq!(sent.len(), 2, "one heartbeat per follower");
    assert_eq!(
        sent[0].context.len(),
        8,
        "the round id is an 8-byte leader-chosen context"
    );
    assert_eq!(sent[0].context, sent[1].context);
    let states = std::mem::take(&mut nw.peer(1).read_states);
    assert_eq!(
        states,
        vec![
            read_state(commit, b"a"),
            read_state(commit, b"b"),
            read_state(commit, b"c")
        ]
    );
    // The round is done: the next periodic heartbeat carries no round id.
    nw.delivered.clear();
    nw.tick(1);
    assert!(
        heartbeats(&nw.delivered)
            .iter()
            .all(|m| m.context.is_empty())
    );
}

#[test]
fn a_read_after_a_sent_round_waits_for_a_new_round() {
    // Goal: a request never joins a round sent before it arrived (a quorum that answered an
    // earlier round proves nothing about the time of this request): it opens a new round, with
    // a new id, even when its context repeats an earlier request's.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgHeartbeatResp);
    nw.peer(1).step(read_index(1, b"same")).unwrap();
    nw.flush(1);
    let first = heartbeats(&nw.delivered).last().unwrap().context.clone();
    nw.peer(1).step(read_index(1, b"same")).unwrap();
    nw.flush(1);
    let second = heartbeats(&nw.delivered).last().unwrap().context.clone();
    assert_ne!(first, second);
    assert!(nw.node(1).read_states.is_empty());
    // Only the first round is acknowledged: only the first request is answered.
    nw.recover();
    nw.send(vec![Message {
        context: first,
        ..msg_term(2, 1, MessageType::MsgHeartbeatResp, 1)
    }]);
    assert_eq!(
        std::mem::take(&mut nw.peer(1).read_states),
        vec![read_state(1, b"same")]
    );
    nw.send(vec![Message {
        context: second,
        ..msg_term(2, 1, MessageType::MsgHeartbeatResp, 1)
    }]);
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"same")]);
}

#[test]
fn acknowledging_a_later_round_answers_the_earlier_ones_too() {
    // Goal: leadership confirmed at a later round was also held at earlier ones, so a quorum
    // for the newest round answers every request before it, each at its own round's index.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgHeartbeatResp);
    nw.peer(1).step(read_index(1, b"a")).unwrap();
    nw.flush(1);
    nw.propose(1, b"x");
    nw.peer(1).step(read_index(1, b"b")).unwrap();
    nw.flush(1);
    let last = heartbeats(&nw.delivered).last().unwrap().context.clone();
    nw.recover();
    nw.send(vec![Message {
        context: last,
        ..msg_term(2, 1, MessageType::MsgHeartbeatResp, 1)
    }]);
    let states = std::mem::take(&mut nw.peer(1).read_states);
    assert_eq!(states, vec![read_state(1, b"a"), read_state(2, b"b")]);
}

#[test]
fn read_waits_for_the_first_commit_of_the_leaders_term() {
    // Goal: a new leader's commit index may lag the group's until it commits an entry of its
    // own term, so reads are held until then, and then answered at an index covering that
    // entry.
    let mut nw = Network::new(3);
    nw.ignore(MessageType::MsgAppResp);
    nw.elect(1);
    assert_eq!(nw.node(1).raft_log.committed, 0);
    nw.delivered.clear();
    nw.send(vec![read_index(1, b"ctx")]);
    assert!(
        heartbeats(&nw.delivered).is_empty(),
        "no round before the first commit"
    );
    assert!(nw.node(1).read_states.is_empty());
    nw.recover();
    nw.send(vec![beat(1)]);
    assert_eq!(nw.node(1).raft_log.committed, 1);
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"ctx")]);
}

#[test]
fn follower_read_is_confirmed_by_the_leader() {
    // Goal: a follower forwards a read to its leader, which confirms leadership with a round
    // and answers with its commit index; the follower gets the application's context back.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.propose(1, b"x");
    let out = nw.step_one(read_index(2, b"follower ctx"));
    assert_eq!(kinds(&out), vec![MessageType::MsgReadIndex]);
    assert_eq!(out[0].to, 1);
    nw.send(out);
    assert_eq!(nw.peer(2).read_states, vec![read_state(2, b"follower ctx")]);
    assert!(nw.node(1).read_states.is_empty());
}

#[test]
fn read_without_a_known_leader_is_dropped() {
    // Goal: a follower without a leader, or a candidate, cannot serve a read.
    let mut r = new_node(1, &[1, 2, 3]);
    assert_eq!(
        r.step(read_index(1, b"x")).unwrap_err(),
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
    r.become_candidate();
    assert_eq!(
        r.step(read_index(1, b"x")).unwrap_err(),
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
}

#[test]
fn lost_round_is_repeated_by_the_next_heartbeat() {
    // Goal: the periodic heartbeat repeats the newest round's id, so reads are not stranded
    // when the round's own heartbeats are lost.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgHeartbeat);
    nw.send(vec![read_index(1, b"ctx")]);
    assert!(nw.node(1).read_states.is_empty());
    nw.recover();
    nw.tick(1);
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"ctx")]);
}

#[test]
fn reads_pending_at_a_change_of_leader_are_dropped() {
    // Goal: rounds do not survive a change of role or term; the caller retries.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.ignore(MessageType::MsgHeartbeatResp);
    nw.send(vec![read_index(1, b"ctx")]);
    let old_round = heartbeats(&nw.delivered).last().unwrap().context.clone();
    nw.recover();
    nw.elect(2);
    nw.elect(1);
    nw.delivered.clear();
    nw.send(vec![beat(1)]);
    assert!(
        heartbeats(&nw.delivered)
            .iter()
            .all(|m| m.context.is_empty()),
        "no round left"
    );
    nw.send(vec![Message {
        context: old_round,
        ..msg_term(2, 1, MessageType::MsgHeartbeatResp, 3)
    }]);
    assert!(nw.node(1).read_states.is_empty());
}

#[test]
fn learner_acknowledgements_do_not_confirm_a_round() {
    // Goal: a round needs a quorum of voters; learners receive its heartbeats but their
    // answers do not count.
    let storage = |_| storage_with_learners(&[1, 2], &[3]);
    let mut nw = Network::from_peers(
        (1..=3)
            .map(|id| new_raft(id, ELECTION, HEARTBEAT, &storage(id)))
            .collect(),
    );
    nw.elect(1);
    nw.drop_link(2, 1, 1.0);
    nw.delivered.clear();
    nw.send(vec![read_index(1, b"ctx")]);
    let sent = heartbeats(&nw.delivered);
    assert_eq!(sent.iter().map(|m| m.to).collect::<Vec<_>>(), vec![2, 3]);
    assert!(
        nw.node(1).read_states.is_empty(),
        "the learner's answer is not enough"
    );
    nw.recover();
    nw.tick(1);
    assert_eq!(nw.node(1).read_states.len(), 1);
}

#[test]
fn single_voter_answers_reads_without_a_round() {
    // Goal: a group of one confirms reads by itself, once its entry of the term is durable.
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(read_index(1, b"ctx")).unwrap();
    assert_eq!(r.read_states, vec![read_state(1, b"ctx")]);
    assert!(read_messages(&mut r).is_empty());
}

#[test]
fn single_voter_read_waits_until_its_own_entry_is_durable() {
    // Goal: before its empty entry is persisted, even a group of one has not committed in its
    // term: the read waits for the durable commit.
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    // Deliver the self-vote only; the leader's own append is not acknowledged yet.
    let vote: Vec<Message> = std::mem::take(&mut r.msgs_after_append);
    for m in vote {
        r.step(m).unwrap();
    }
    assert!(r.is_leader());
    assert_eq!(r.raft_log.committed, 0);
    r.step(read_index(1, b"ctx")).unwrap();
    assert!(r.read_states.is_empty());
    let _ = read_messages(&mut r);
    assert_eq!(r.read_states, vec![read_state(1, b"ctx")]);
}

#[test]
fn lease_read_is_answered_at_once() {
    // Goal: with lease-based reads (and CheckQuorum) a leader that committed in its term
    // answers at once, without a heartbeat round.
    let mut nw = Network::new_with_config(3, lease_based);
    nw.elect(1);
    nw.delivered.clear();
    nw.peer(1).step(read_index(1, b"ctx")).unwrap();
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"ctx")]);
    nw.flush(1);
    assert!(heartbeats(&nw.delivered).is_empty());
}

#[test]
fn lease_read_of_a_follower_is_answered_by_the_leader_at_once() {
    // Goal: a follower's lease read costs one round trip to the leader and no heartbeats.
    let mut nw = Network::new_with_config(3, lease_based);
    nw.elect(1);
    nw.delivered.clear();
    nw.send(vec![read_index(3, b"ctx")]);
    assert_eq!(nw.peer(3).read_states, vec![read_state(1, b"ctx")]);
    assert!(heartbeats(&nw.delivered).is_empty());
}

#[test]
fn lease_read_still_waits_for_the_first_commit_of_the_term() {
    // Goal: a lease does not excuse a leader whose commit index may lag.
    let mut nw = Network::new_with_config(3, lease_based);
    nw.ignore(MessageType::MsgAppResp);
    nw.elect(1);
    nw.send(vec![read_index(1, b"ctx")]);
    assert!(nw.node(1).read_states.is_empty());
    nw.recover();
    nw.send(vec![beat(1)]);
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"ctx")]);
}

#[test]
fn lease_read_during_a_transfer_takes_a_heartbeat_round() {
    // Goal: during a leadership transfer the transferee may already lead, so the old leader's
    // lease proves nothing: a lease read takes a Safe round instead.
    let mut nw = Network::new_with_config(3, lease_based);
    nw.elect(1);
    nw.ignore(MessageType::MsgTimeoutNow);
    nw.ignore(MessageType::MsgHeartbeatResp);
    nw.send(vec![transfer(3, 1)]);
    assert_eq!(nw.node(1).lead_transferee, 3);
    nw.delivered.clear();
    nw.send(vec![read_index(1, b"ctx")]);
    assert!(
        nw.node(1).read_states.is_empty(),
        "not answered from the lease"
    );
    assert_eq!(heartbeats(&nw.delivered).len(), 2);
    let ctx = heartbeats(&nw.delivered)[0].context.clone();
    nw.recover();
    nw.send(vec![Message {
        context: ctx,
        ..msg_term(2, 1, MessageType::MsgHeartbeatResp, 1)
    }]);
    assert_eq!(nw.peer(1).read_states, vec![read_state(1, b"ctx")]);
}

#[test]
fn malformed_read_requests_are_ignored() {
    // Goal: a read request must carry exactly one context entry; anything else is dropped.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.delivered.clear();
    let none = Message {
        entries: vec![],
        ..msg(1, 1, MessageType::MsgReadIndex)
    };
    let mut two = read_index(1, b"a");
    two.entries.push(two.entries[0].clone());
    nw.send(vec![none, two]);
    assert!(heartbeats(&nw.delivered).is_empty(), "no round was opened");
    assert!(nw.node(1).read_states.is_empty());
}

#[test]
fn read_round_in_a_joint_configuration_needs_both_majorities() {
    // Goal: leadership is confirmed only by a majority of each half of a joint configuration.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    let cc = raft::raftpb::ConfChangeV2 {
        transition: raft::raftpb::ConfChangeTransition::Explicit as i32,
        changes: vec![
            raft::raftpb::ConfChangeSingle::new(raft::raftpb::ConfChangeType::RemoveNode, 2),
            raft::raftpb::ConfChangeSingle::new(raft::raftpb::ConfChangeType::RemoveNode, 3),
            raft::raftpb::ConfChangeSingle::new(raft::raftpb::ConfChangeType::AddNode, 4),
            raft::raftpb::ConfChangeSingle::new(raft::raftpb::ConfChangeType::AddNode, 5),
        ],
        context: Bytes::new(),
    };
    r.apply_conf_change(&cc).unwrap();
    let _ = read_messages(&mut r);
    r.step(read_index(1, b"ctx")).unwrap();
    let ctx = heartbeats(&read_messages(&mut r))[0].context.clone();
    let ack = |from: u64| Message {
        context: ctx.clone(),
        ..msg_term(from, 1, MessageType::MsgHeartbeatResp, 1)
    };
    r.step(ack(2)).unwrap();
    r.step(ack(3)).unwrap();
    assert!(
        r.read_states.is_empty(),
        "the outgoing half alone is not enough"
    );
    r.step(ack(5)).unwrap();
    assert_eq!(r.read_states, vec![read_state(1, b"ctx")]);
}
