//! Log replication: proposals, forwarding, appends and their answers, commit rules, fast
//! back-off after rejections, message size limits and the uncommitted-size limit.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{Entry, HardState, Message, MessageType};
use raft::tracker::ProgressState;
use raft::{DropReason, Error, MemStorage, Raft, StateRole};
use support::*;

fn append_resp(from: u64, to: u64, term: u64, index: u64) -> Message {
    Message {
        index,
        ..msg_term(from, to, MessageType::MsgAppResp, term)
    }
}

fn acks_for(msgs: &[Message], term: u64) -> Vec<Message> {
    msgs.iter()
        .filter(|m| m.kind() == MessageType::MsgApp)
        .map(|m| append_resp(m.to, m.from, term, m.index + m.entries.len() as u64))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Proposals.
// ---------------------------------------------------------------------------------------------

#[test]
fn committed_proposals_reach_every_log() {
    // Goal: what the leader commits ends up, identical and committed, in every node's log,
    // also across a change of leader.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.propose(1, b"somedata");
    nw.elect(2);
    nw.propose(2, b"somedata2");
    for id in 1..=3 {
        let r = nw.node(id);
        assert_eq!(r.raft_log.committed, 4, "node {id}");
        assert_eq!(log_terms(r), vec![1, 1, 2, 2]);
        let data = log_data(r);
        assert_eq!(
            (&data[1][..], &data[3][..]),
            (&b"somedata"[..], &b"somedata2"[..])
        );
    }
}

#[test]
fn single_node_commits_each_proposal_once_durable() {
    // Goal: a group of one commits a proposal as soon as its own append is durable.
    let mut nw = Network::new(1);
    nw.elect(1);
    nw.propose(1, b"some data");
    nw.propose(1, b"some data");
    assert_eq!(nw.node(1).raft_log.committed, 3);
}

#[test]
fn leader_commits_only_after_its_own_append_is_durable() {
    // Goal: the leader counts its own log towards the quorum only once it is persisted: its
    // acknowledgement waits with the other after-append messages.
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(propose(1, b"a")).unwrap();
    r.step(propose(1, b"b")).unwrap();
    assert_eq!(r.raft_log.committed, 1, "not durable yet");
    let own: Vec<&Message> = r.msgs_after_append.iter().filter(|m| m.to == 1).collect();
    assert_eq!(own.len(), 1, "consecutive own acknowledgements merge");
    assert_eq!((own[0].kind(), own[0].index), (MessageType::MsgAppResp, 3));
    let _ = read_messages(&mut r);
    assert_eq!(r.raft_log.committed, 3);
}

#[test]
fn follower_acknowledges_appends_only_after_persisting() {
    // Goal: a follower's MsgAppResp promises durability, so it is held until the entries are
    // persisted (queued after the append, not sent at once).
    let mut r = new_node(1, &[1, 2]);
    r.step(append(2, 1, 1, (0, 0), vec![entry(1, 1, b"x")], 0))
        .unwrap();
    assert!(r.msgs.is_empty());
    assert_eq!(kinds(&r.msgs_after_append), vec![MessageType::MsgAppResp]);
    assert_eq!(r.msgs_after_append[0].index, 1);
}

#[test]
fn proposals_before_a_ready_go_out_in_one_append_per_follower() {
    // Goal: the leader defers its append broadcast to the next Ready, so a burst of proposals
    // costs one MsgApp per follower.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    for _ in 0..5 {
        r.step(propose(1, b"burst")).unwrap();
    }
    assert!(r.msgs.is_empty(), "nothing is sent before the flush");
    assert!(r.has_deferred());
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp; 2]);
    assert!(msgs.iter().all(|m| m.entries.len() == 5 && m.index == 1));
    assert!(!r.has_deferred());
}

#[test]
fn proposals_succeed_only_with_a_reachable_quorum() {
    // Goal: a proposal commits when the leader can reach a majority and stays uncommitted (but
    // appended) otherwise.
    let cases: Vec<(Vec<bool>, bool)> = vec![
        (vec![true, true, true], true),
        (vec![true, true, false], true),
        (vec![true, false, false], false),
        (vec![true, false, false, true], false),
        (vec![true, false, false, true, true], true),
    ];
    for (i, (alive, want_commit)) in cases.into_iter().enumerate() {
        let n = alive.len() as u64;
        let ids: Vec<u64> = (1..=n).collect();
        let nodes = alive
            .iter()
            .zip(1..)
            .map(|(&up, id)| up.then(|| new_node(id, &ids)))
            .collect();
        let mut nw = Network::with_black_holes(nodes);
        // Without a majority no leader can be elected; force one for the test.
        if want_commit {
            nw.elect(1);
        } else {
            let r = nw.peer(1);
            r.become_candidate();
            r.become_leader();
            let _ = read_messages(r);
        }
        nw.propose(1, b"somedata");
        let r = nw.node(1);
        assert_eq!(r.raft_log.last_index(), 2, "case {i}");
        assert_eq!(
            r.raft_log.committed,
            if want_commit { 2 } else { 0 },
            "case {i}"
        );
    }
}

#[test]
fn follower_forwards_proposals_to_its_leader() {
    // Goal: a proposal made at a follower is forwarded to the leader and committed like any
    // other.
    let mut nw = Network::new(3);
    nw.elect(1);
    let out = nw.step_one(propose(2, b"somedata"));
    assert_eq!(kinds(&out), vec![MessageType::MsgProp]);
    assert_eq!(
        (out[0].to, out[0].term),
        (1, 0),
        "forwarded as if local, without a term"
    );
    nw.send(out);
    for id in 1..=3 {
        assert_eq!(nw.node(id).raft_log.committed, 2);
        assert_eq!(&log_data(nw.node(id))[1][..], b"somedata");
    }
}

#[test]
fn follower_with_forwarding_disabled_drops_proposals() {
    // Goal: with `disable_proposal_forwarding` a follower refuses proposals instead of
    // forwarding them; the leader still takes its own.
    let mut nw = Network::new_with_config(3, |c| c.disable_proposal_forwarding = true);
    nw.elect(1);
    let err = nw.peer(2).step(propose(2, b"x")).unwrap_err();
    assert_eq!(
        err,
        Error::ProposalDropped {
            reason: DropReason::ForwardingDisabled
        }
    );
    assert!(read_messages(nw.peer(2)).is_empty());
    nw.propose(1, b"y");
    assert_eq!(nw.node(2).raft_log.committed, 2);
}

#[test]
fn proposals_without_a_leader_are_dropped() {
    // Goal: a follower that knows no leader, and a (pre-)candidate, refuse proposals.
    let mut r = new_node(1, &[1, 2, 3]);
    assert_eq!(
        r.step(propose(1, b"x")).unwrap_err(),
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
    r.become_candidate();
    assert_eq!(
        r.step(propose(1, b"x")).unwrap_err(),
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
    let mut p = new_node_with(1, &[1, 2, 3], |c| c.pre_vote = true);
    p.step(hup(1)).unwrap();
    assert_eq!(p.state, StateRole::PreCandidate);
    assert!(matches!(
        p.step(propose(1, b"x")),
        Err(Error::ProposalDropped { .. })
    ));
    assert_eq!(r.raft_log.last_index(), 0);
}

#[test]
fn empty_proposal_is_refused() {
    // Goal: a MsgProp without entries is a caller error and appends nothing.
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    let err = r.step(msg(1, 1, MessageType::MsgProp)).unwrap_err();
    assert!(matches!(err, Error::RequestRefused { .. }));
    assert_eq!(r.raft_log.last_index(), 1);
}

#[test]
fn new_leader_appends_one_empty_entry_per_term() {
    // Goal: every leader starts its term with one empty entry, which is how entries of earlier
    // terms get committed.
    let mut nw = Network::new(3);
    for (campaigner, term) in [(1, 1), (2, 2), (3, 3), (1, 4)] {
        nw.elect(campaigner);
        let last = nw.node(1).raft_log.all_entries().pop().unwrap();
        assert_eq!((last.term, last.index, last.data.len()), (term, term, 0));
    }
    assert_eq!(log_terms(nw.node(3)), vec![1, 2, 3, 4]);
}

#[test]
fn old_messages_from_deposed_leaders_are_ignored() {
    // Goal: an append from the leader of an earlier term changes nothing, so the log holds
    // exactly the entries of the successive leaders.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.elect(2);
    nw.elect(1);
    // An append of term 2 arrives late, after term 3 started.
    nw.send(vec![append(
        2,
        1,
        2,
        (2, 2),
        vec![entry(2, 3, b"stale")],
        0,
    )]);
    nw.propose(1, b"somedata");
    for id in 1..=3 {
        assert_eq!(log_terms(nw.node(id)), vec![1, 2, 3, 3], "node {id}");
        assert_eq!(nw.node(id).raft_log.committed, 4);
    }
}

// ---------------------------------------------------------------------------------------------
// Followers handling appends and heartbeats.
// ---------------------------------------------------------------------------------------------

#[test]
fn follower_handles_appends_and_commit_indexes() {
    // Goal: a follower with log [1@t1, 2@t2] accepts appends that match, rejects those that do
    // not, and commits up to min(leader commit, last new entry).
    // (previous entry, entries, leader commit, last index, commit, rejected)
    type Case = ((u64, u64), Vec<Entry>, u64, u64, u64, bool);
    let cases: Vec<Case> = vec![
        // (previous entry, entries, leader commit, last index, commit, rejected)
        ((2, 3), vec![], 3, 2, 0, true),
        ((3, 3), vec![], 3, 2, 0, true),
        ((1, 1), vec![], 1, 2, 1, false),
        ((0, 0), vec![empty_entry(2, 1)], 1, 1, 1, false),
        (
            (2, 2),
            vec![empty_entry(2, 3), empty_entry(2, 4)],
            3,
            4,
            3,
            false,
        ),
        ((2, 2), vec![empty_entry(2, 3)], 4, 3, 3, false),
        ((1, 1), vec![empty_entry(2, 2)], 4, 2, 2, false),
        ((1, 1), vec![], 3, 2, 1, false),
        ((1, 1), vec![empty_entry(2, 2)], 3, 2, 2, false),
        ((2, 2), vec![], 3, 2, 2, false),
        ((2, 2), vec![], 4, 2, 2, false),
    ];
    for (i, (prev, entries, commit, want_last, want_commit, want_reject)) in
        cases.into_iter().enumerate()
    {
        let storage = storage_with_log(&[1, 2], &[1, 2]);
        storage.wl().set_hard_state(HardState {
            term: 2,
            vote: 0,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        r.step(append(2, 1, 2, prev, entries, commit)).unwrap();
        assert_eq!(r.raft_log.last_index(), want_last, "case {i}");
        assert_eq!(r.raft_log.committed, want_commit, "case {i}");
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgAppResp], "case {i}");
        assert_eq!(msgs[0].reject, want_reject, "case {i}");
    }
}

#[test]
fn follower_answers_an_append_below_its_commit_with_its_commit_index() {
    // Goal: an append whose previous entry is already committed (a duplicate) is answered with
    // the commit index, which lets the leader skip ahead.
    let storage = storage_with_log(&[1, 2], &[1, 1, 1]);
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 0,
        commit: 3,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    r.step(append(2, 1, 1, (1, 1), vec![empty_entry(1, 2)], 1))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(
        (msgs[0].kind(), msgs[0].index, msgs[0].reject),
        (MessageType::MsgAppResp, 3, false)
    );
    assert_eq!(r.raft_log.last_index(), 3);
}

#[test]
fn follower_commits_from_heartbeats_but_never_backwards_or_past_its_log() {
    // Goal: a heartbeat raises the follower's commit index to the leader's, never lowers it,
    // never moves it past the local log, and is answered with its context echoed.
    let cases = [(3, 3), (1, 2), (10, 3)];
    for (leader_commit, want) in cases {
        let storage = storage_with_log(&[1, 2], &[1, 2, 3]);
        storage.wl().set_hard_state(HardState {
            term: 3,
            vote: 0,
            commit: 2,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        let hb = Message {
            commit: leader_commit,
            context: Bytes::from_static(b"ctx"),
            ..msg_term(2, 1, MessageType::MsgHeartbeat, 3)
        };
        r.step(hb).unwrap();
        assert_eq!(r.raft_log.committed, want, "leader commit {leader_commit}");
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgHeartbeatResp]);
        assert_eq!(&msgs[0].context[..], b"ctx");
    }
}

#[test]
fn heartbeat_never_carries_a_commit_beyond_what_the_follower_holds() {
    // Goal: the leader bounds the commit index in each heartbeat by the follower's match, so a
    // follower is never told to commit entries it does not have.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    r.step(append_resp(2, 1, 1, 1)).unwrap();
    let _ = read_messages(&mut r);
    assert_eq!(r.raft_log.committed, 1);
    r.step(beat(1)).unwrap();
    let msgs = read_messages(&mut r);
    let commits: Vec<(u64, u64)> = msgs.iter().map(|m| (m.to, m.commit)).collect();
    assert_eq!(commits, vec![(2, 1), (3, 0)]);
}

#[test]
fn heartbeat_response_resends_appends_until_the_follower_caught_up() {
    // Goal: each heartbeat response from a follower that lacks entries triggers an append;
    // once it acknowledged everything, heartbeat responses trigger nothing.
    let storage = storage_with_log(&[1, 2, 3], &[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 3,
        vote: 0,
        commit: 0,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    make_leader(&mut r);
    let last = r.raft_log.last_index();
    for _ in 0..2 {
        r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 4))
            .unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgApp]);
    }
    r.step(append_resp(2, 1, 4, last)).unwrap();
    let _ = read_messages(&mut r);
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 4))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Leaders handling answers.
// ---------------------------------------------------------------------------------------------

#[test]
fn acknowledgement_moves_a_probing_follower_to_replicate() {
    // Goal: the first successful answer of a probed follower moves it to replicate state,
    // streaming from just after its match.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    assert_eq!(r.prs.get(2).unwrap().state, ProgressState::Probe);
    r.step(append_resp(2, 1, 1, 1)).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.matched, pr.next),
        (ProgressState::Replicate, 1, 2)
    );
}

#[test]
fn replicating_leader_advances_next_optimistically_and_probing_leader_does_not() {
    // Goal: in replicate state `next` moves past what was sent without waiting for answers;
    // in probe state it stays at the probed index.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.prs.get_mut(3).unwrap().become_probe();
    r.step(propose(1, b"a")).unwrap();
    r.step(propose(1, b"b")).unwrap();
    let _ = read_messages(&mut r);
    assert_eq!(r.prs.get(2).unwrap().next, 4);
    assert_eq!(r.prs.get(3).unwrap().next, 2);
    assert!(r.prs.get(3).unwrap().msg_app_flow_paused);
}

#[test]
fn probing_follower_gets_one_append_until_it_answers() {
    // Goal: while a follower is probed, the leader sends one append and waits: new proposals
    // add nothing; a heartbeat still goes out and its response releases the next probe.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    r.step(propose(1, b"somedata")).unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp]);
    assert_eq!(msgs[0].index, 0);
    assert!(r.prs.get(2).unwrap().msg_app_flow_paused);
    for _ in 0..10 {
        r.step(propose(1, b"somedata")).unwrap();
        assert!(read_messages(&mut r).is_empty());
    }
    r.step(beat(1)).unwrap();
    assert_eq!(
        kinds(&read_messages(&mut r)),
        vec![MessageType::MsgHeartbeat]
    );
    assert!(r.prs.get(2).unwrap().msg_app_flow_paused);
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 1))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp]);
    assert_eq!((msgs[0].index, msgs[0].entries.len()), (0, 12));
    assert!(r.prs.get(2).unwrap().msg_app_flow_paused);
}

#[test]
fn replicating_follower_gets_an_append_per_batch() {
    // Goal: in replicate state every batch of proposals goes out at once.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    for i in 0..10 {
        r.step(propose(1, b"somedata")).unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgApp], "batch {i}");
        assert_eq!(msgs[0].entries.len(), 1);
    }
}

#[test]
fn rejection_sends_a_replicating_follower_back_to_probe() {
    // Goal: a rejected append means the follower's log diverges after its match: the leader
    // goes back to probing from match + 1 and sends a probe at once.
    // Method: two appends are in flight (after entries 1 and 2); the follower lost the first
    // and rejects the second.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, b"a")).unwrap();
    let _ = read_messages(&mut r);
    r.step(propose(1, b"b")).unwrap();
    let _ = read_messages(&mut r);
    assert_eq!(r.prs.get(2).unwrap().next, 4);
    let reject = Message {
        reject: true,
        reject_hint: 1,
        log_term: 1,
        ..append_resp(2, 1, 1, 2)
    };
    r.step(reject).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!((pr.state, pr.next), (ProgressState::Probe, 2));
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp]);
    assert_eq!(msgs[0].index, 1);
}

#[test]
fn stale_answers_change_nothing() {
    // Goal: an acknowledgement at or below the known match, or a rejection of an index already
    // known to match, is stale and leaves the progress as it is.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, b"a")).unwrap();
    r.step(propose(1, b"b")).unwrap();
    let out = read_messages(&mut r);
    for ack in acks_for(&out, 1) {
        r.step(ack).unwrap();
    }
    let _ = read_messages(&mut r);
    let before = r.prs.get(2).unwrap().clone();
    assert_eq!(before.matched, 3);
    r.step(append_resp(2, 1, 1, 2)).unwrap();
    let reject = Message {
        reject: true,
        reject_hint: 1,
        ..append_resp(2, 1, 1, 2)
    };
    r.step(reject).unwrap();
    assert_eq!(r.prs.get(2).unwrap(), &before);
    assert!(read_messages(&mut r).is_empty());
}

#[test]
fn unreachable_follower_in_replicate_falls_back_to_probe() {
    // Goal: after the transport reports a follower unreachable, the optimistic appends are
    // presumed lost: replication restarts by probing from match + 1.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, b"a")).unwrap();
    r.step(propose(1, b"b")).unwrap();
    let _ = read_messages(&mut r);
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.matched, pr.next),
        (ProgressState::Replicate, 1, 4)
    );
    r.step(msg(2, 1, MessageType::MsgUnreachable)).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(
        (pr.state, pr.matched, pr.next),
        (ProgressState::Probe, 1, 2)
    );
}

#[test]
fn answers_from_peers_outside_the_configuration_are_ignored() {
    // Goal: a leader ignores replication answers from a node it has no progress for.
    let mut r = new_node(1, &[1, 2]);
    make_leader(&mut r);
    let before = fingerprint(&r);
    r.step(append_resp(9, 1, 1, 1)).unwrap();
    r.step(msg_term(9, 1, MessageType::MsgHeartbeatResp, 1))
        .unwrap();
    assert_eq!(fingerprint(&r), before);
}

/// Runs the consistency check between a fresh leader and one follower, returning the
/// (index, term) of every append the leader sent until the follower accepted one.
fn probes_until_accepted(
    leader: &mut Raft<MemStorage>,
    follower: &mut Raft<MemStorage>,
) -> Vec<(u64, u64)> {
    let mut probes = Vec::new();
    leader.step(beat(1)).unwrap();
    let _ = read_messages(leader);
    leader
        .step(msg_term(2, 1, MessageType::MsgHeartbeatResp, leader.term))
        .unwrap();
    for _ in 0..10 {
        let app = read_messages(leader)
            .into_iter()
            .find(|m| m.kind() == MessageType::MsgApp)
            .unwrap();
        probes.push((app.index, app.log_term));
        follower.step(app).unwrap();
        let resp = read_messages(follower).pop().unwrap();
        let accepted = !resp.reject;
        leader.step(resp).unwrap();
        if accepted {
            return probes;
        }
    }
    panic!("never accepted: {probes:?}");
}

#[test]
fn rejection_hints_find_the_matching_entry_in_few_round_trips() {
    // Goal: a rejection carries the follower's best guess (the last entry at or below the probe
    // whose term is at most the probe's), and the leader skips every index whose term makes a
    // match impossible, so the divergence is found in about one round trip per term.
    // (leader log, follower log, probes until accepted)
    type Case = (&'static [u64], &'static [u64], Vec<(u64, u64)>);
    let cases: [Case; 5] = [
        // (leader log, follower log, probes until accepted)
        (
            &[1, 1, 3, 3, 3, 3],
            &[1, 1, 2, 2, 2, 2, 2, 2],
            vec![(6, 3), (2, 1)],
        ),
        (&[1, 1, 2, 2], &[1, 1, 3, 3, 3], vec![(4, 2), (2, 1)]),
        (&[1, 1, 1, 1, 1, 1], &[1, 1], vec![(6, 1), (2, 1)]),
        (&[1, 1, 1, 1], &[], vec![(4, 1), (0, 0)]),
        (
            &[1, 2, 2, 4, 4, 4, 4],
            &[1, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3],
            vec![(7, 4), (3, 2)],
        ),
    ];
    for (leader_log, follower_log, want) in cases {
        let ls = storage_with_log(&[1, 2], leader_log);
        ls.wl().set_hard_state(HardState {
            term: 5,
            vote: 0,
            commit: 0,
        });
        let fs = storage_with_log(&[1, 2], follower_log);
        fs.wl().set_hard_state(HardState {
            term: 5,
            vote: 0,
            commit: 0,
        });
        let mut leader = new_raft(1, ELECTION, HEARTBEAT, &ls);
        let mut follower = new_raft(2, ELECTION, HEARTBEAT, &fs);
        make_leader(&mut leader);
        follower.become_follower(6, 1);
        let probes = probes_until_accepted(&mut leader, &mut follower);
        assert_eq!(
            probes, want,
            "leader {leader_log:?}, follower {follower_log:?}"
        );
        let _ = read_messages(&mut leader);
        let mut nw = Network::from_peers(vec![leader, follower]);
        nw.send(vec![beat(1)]);
        assert_eq!(
            nw.node(2).raft_log.all_entries(),
            nw.node(1).raft_log.all_entries()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Size limits.
// ---------------------------------------------------------------------------------------------

#[test]
fn max_size_per_msg_bounds_each_append_but_sends_at_least_one_entry() {
    // Goal: an append carries entries up to `max_size_per_msg` bytes (payload plus a fixed
    // header per entry), always at least one; the rest follows as acknowledgements come back.
    // Method: ten 84-byte payloads (100 bytes each with header) under limits of 250 and 1.
    for (limit, per_msg) in [(250, 2), (1, 1)] {
        let mut r = new_node_with(1, &[1, 2], |c| c.max_size_per_msg = limit);
        make_leader(&mut r);
        commit_noop_entry(&mut r);
        for _ in 0..10 {
            r.step(propose(1, &[7; 84])).unwrap();
        }
        let mut received = 0;
        let mut out = read_messages(&mut r);
        loop {
            let apps: Vec<&Message> = out
                .iter()
                .filter(|m| m.kind() == MessageType::MsgApp && !m.entries.is_empty())
                .collect();
            if apps.is_empty() {
                break;
            }
            for app in apps {
                assert_eq!(app.entries.len(), per_msg, "limit {limit}");
                received += app.entries.len();
            }
            for ack in acks_for(&out, 1) {
                r.step(ack).unwrap();
            }
            out = read_messages(&mut r);
        }
        assert_eq!(received, 10);
        assert_eq!(r.raft_log.committed, 11);
    }
}

#[test]
fn uncommitted_size_limit_drops_proposals_until_entries_are_applied() {
    // Goal: a leader refuses proposals once the uncommitted payload bytes would exceed
    // `max_uncommitted_entries_size`; applying committed entries frees the budget.
    // Method: a limit of 3 payloads of 100 bytes, no follower answering.
    let mut r = new_node_with(1, &[1, 2, 3], |c| c.max_uncommitted_entries_size = 300);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    for _ in 0..3 {
        r.step(propose(1, &[1; 100])).unwrap();
    }
    assert_eq!(r.uncommitted_size(), 300);
    let err = r.step(propose(1, &[1; 100])).unwrap_err();
    assert_eq!(
        err,
        Error::ProposalDropped {
            reason: DropReason::UncommittedSizeExceeded
        }
    );
    assert_eq!(r.raft_log.last_index(), 4);
    // A batch that would exceed the limit is refused as a whole.
    let batch = Message {
        entries: vec![Entry::new(0, 0, Bytes::from_static(b"x")); 2],
        ..msg(1, 1, MessageType::MsgProp)
    };
    assert!(r.step(batch).is_err());
    // Commit and apply everything: the budget is back.
    let out = read_messages(&mut r);
    for ack in acks_for(&out, 1) {
        r.step(ack).unwrap();
    }
    assert_eq!(next_entries(&mut r).len(), 3);
    assert_eq!(r.uncommitted_size(), 0);
    r.step(propose(1, &[1; 100])).unwrap();
    assert_eq!(r.uncommitted_size(), 100);
}

#[test]
fn uncommitted_size_limit_always_admits_empty_entries_and_a_first_large_one() {
    // Goal: empty payloads never count against the limit, and with nothing uncommitted any
    // single proposal is accepted (so a proposal larger than the limit is not refused forever).
    let mut r = new_node_with(1, &[1, 2, 3], |c| c.max_uncommitted_entries_size = 50);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r.step(propose(1, &[1; 80])).unwrap();
    assert_eq!(r.uncommitted_size(), 80);
    assert!(r.step(propose(1, &[1; 1])).is_err());
    r.step(propose(1, b"")).unwrap();
    assert_eq!(r.uncommitted_size(), 80);
}

#[test]
fn uncommitted_size_is_reset_by_a_new_term_and_ignores_the_empty_entry() {
    // Goal: a new leader starts with an empty uncommitted budget; its empty entry is free.
    let mut r = new_node_with(1, &[1, 2, 3], |c| c.max_uncommitted_entries_size = 100);
    make_leader(&mut r);
    r.step(propose(1, &[1; 60])).unwrap();
    assert_eq!(r.uncommitted_size(), 60);
    r.become_follower(2, 0);
    assert_eq!(r.uncommitted_size(), 0);
    r.become_candidate();
    r.become_leader();
    assert_eq!(r.uncommitted_size(), 0);
}

#[test]
fn forwarded_proposal_over_the_limit_is_dropped_at_the_leader() {
    // Goal: the limit is enforced by the leader: a follower forwards without checking, and the
    // leader drops what does not fit.
    let mut nw = Network::new_with_config(3, |c| c.max_uncommitted_entries_size = 100);
    nw.elect(1);
    nw.ignore(MessageType::MsgAppResp);
    nw.propose(1, &[1; 80]);
    nw.send(vec![propose(2, &[2; 80])]);
    assert_eq!(
        nw.node(1).raft_log.last_index(),
        2,
        "the forwarded proposal was dropped"
    );
    assert_eq!(nw.node(1).uncommitted_size(), 80);
}

#[test]
fn learner_receives_entries_but_does_not_count_towards_commit() {
    // Goal: a learner is replicated to like a follower, but the leader commits without it.
    // Method: a group of voter 1 and learner 2; node 1 commits alone, node 2 gets the entries
    // and the commit index.
    let storage = |_| storage_with_learners(&[1], &[2]);
    let mut nw = Network::from_peers(
        (1..=2)
            .map(|id| new_raft(id, ELECTION, HEARTBEAT, &storage(id)))
            .collect(),
    );
    nw.elect(1);
    nw.cut(1, 2);
    nw.propose(1, b"somedata");
    assert_eq!(
        nw.node(1).raft_log.committed,
        2,
        "committed without the learner"
    );
    assert_eq!(nw.node(2).raft_log.last_index(), 1);
    nw.recover();
    nw.send(vec![beat(1)]);
    assert_eq!(nw.node(2).raft_log.committed, 2);
    assert_eq!(
        nw.node(2).raft_log.all_entries(),
        nw.node(1).raft_log.all_entries()
    );
    assert_eq!(nw.node(1).prs.get(2).unwrap().matched, 2);
}

/// Runs a group of three over links that lose 30% of the messages, with the network seeded by
/// `seed`, and returns how many messages were delivered.
fn lossy_run(seed: u64) -> usize {
    let mut nw = Network::new(3);
    nw.seed(seed);
    for (a, b) in [(1, 2), (1, 3), (2, 3)] {
        nw.drop_link(a, b, 0.3);
        nw.drop_link(b, a, 0.3);
    }
    for _ in 0..20 {
        if nw.node(1).state == StateRole::Leader {
            break;
        }
        nw.elect(1);
    }
    assert_eq!(nw.node(1).state, StateRole::Leader);
    for _ in 0..10 {
        nw.propose(1, b"lossy");
        nw.send(vec![beat(1)]);
    }
    nw.recover();
    nw.send(vec![beat(1)]);
    nw.send(vec![beat(1)]);
    let committed = nw.node(1).raft_log.committed;
    assert_eq!(committed, 11);
    for id in 2..=3 {
        assert_eq!(nw.node(id).raft_log.committed, committed, "node {id}");
        assert_eq!(
            nw.node(id).raft_log.all_entries(),
            nw.node(1).raft_log.all_entries()
        );
    }
    nw.delivered.len()
}

#[test]
fn lossy_links_delay_but_do_not_break_replication() {
    // Goal: lost appends and answers only cost retries (probes after heartbeat responses);
    // once the links heal, every log converges. The network's drop decisions are seeded, so a
    // run is reproducible.
    let first = lossy_run(7);
    assert_eq!(lossy_run(7), first, "same seed, same run");
}
