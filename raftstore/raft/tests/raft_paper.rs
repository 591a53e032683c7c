//! The rules of the Raft paper ("In Search of an Understandable Consensus Algorithm", extended
//! version), section by section: 5.1 terms, 5.2 leader election, 5.3 log replication, 5.4
//! safety (with the scenarios of figures 7 and 8).
//!
//! Each test drives one node (or a small network) by hand and checks the exact messages and
//! state the paper prescribes.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use raft::StateRole;
use raft::raftpb::{HardState, MessageType};
use support::*;

// ---------------------------------------------------------------------------------------------
// 5.1 Raft basics: terms.
// ---------------------------------------------------------------------------------------------

#[test]
fn every_role_adopts_a_higher_term_and_becomes_follower() {
    // Goal: a node of any role that sees a larger term in an append takes that term, becomes a
    // follower and recognizes the sender as leader (paper 5.1).
    // Method: put a node in each role at term 1 (or 0), step a term-2 MsgApp from node 2.
    for role in [
        StateRole::Follower,
        StateRole::Candidate,
        StateRole::PreCandidate,
        StateRole::Leader,
    ] {
        let mut r = new_node_with(1, &[1, 2, 3], |c| c.pre_vote = true);
        match role {
            StateRole::Follower => r.become_follower(1, 2),
            StateRole::Candidate => r.become_candidate(),
            StateRole::PreCandidate => r.become_pre_candidate(),
            StateRole::Leader => {
                r.become_candidate();
                r.become_leader();
            }
        }
        r.step(append(2, 1, 2, (0, 0), vec![], 0)).unwrap();
        assert_eq!(r.term, 2, "{role}");
        assert_eq!(r.state, StateRole::Follower, "{role}");
        assert_eq!(r.leader_id, 2, "{role}");
        assert_eq!(r.vote, 0, "{role}: a new term starts without a vote");
    }
}

#[test]
fn higher_term_vote_request_makes_a_node_follower_without_leader() {
    // Goal: a vote request from a later term moves any node to that term as a follower, but the
    // candidate is not taken for a leader.
    // Method: a leader of term 1 receives a MsgVote of term 5 from an up-to-date candidate.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    let vote = raft::raftpb::Message {
        index: 1,
        log_term: 1,
        ..msg_term(2, 1, MessageType::MsgVote, 5)
    };
    r.step(vote).unwrap();
    assert_eq!((r.term, r.state, r.leader_id), (5, StateRole::Follower, 0));
    assert_eq!(r.vote, 2);
}

#[test]
fn node_ignores_messages_with_stale_term() {
    // Goal: a message from an earlier term is dropped: it changes neither log nor term, and (with
    // CheckQuorum and PreVote off) gets no answer (paper 5.1).
    // Method: a node at term 2 receives a term-1 MsgApp carrying an entry.
    let storage = storage_with_voters(&[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 2,
        vote: 0,
        commit: 0,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    r.step(append(2, 1, 1, (0, 0), vec![entry(1, 1, b"stale")], 0))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
    assert_eq!(r.raft_log.last_index(), 0);
    assert_eq!((r.term, r.state, r.leader_id), (2, StateRole::Follower, 0));
}

#[test]
fn nodes_start_as_followers() {
    // Goal: a new node is a follower of term 0 with no leader and no vote (paper 5.2).
    let r = new_node(1, &[1, 2, 3]);
    assert_eq!(
        (r.state, r.term, r.vote, r.leader_id),
        (StateRole::Follower, 0, 0, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// 5.2 Leader election.
// ---------------------------------------------------------------------------------------------

#[test]
fn leader_sends_heartbeats_every_heartbeat_interval() {
    // Goal: a leader sends a heartbeat to every follower each heartbeat interval, carrying no
    // commit index beyond what the follower is known to hold (paper 5.2).
    // Method: a leader with heartbeat interval 2 ticks once (nothing) and once more (beats).
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut r = new_raft(1, ELECTION, 2, &storage);
    make_leader(&mut r);
    r.tick();
    assert!(read_messages(&mut r).is_empty());
    r.tick();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgHeartbeat; 2]);
    for (m, to) in msgs.iter().zip([2, 3]) {
        assert_eq!((m.from, m.to, m.term, m.commit), (1, to, 1, 0));
        assert!(m.entries.is_empty());
    }
}

#[test]
fn follower_campaigns_after_election_timeout() {
    // Goal: a follower that hears nothing for its election timeout becomes a candidate of the
    // next term, votes for itself and asks every other voter for a vote (paper 5.2).
    // Method: a follower of term 1 ticks 2 * election - 1 times (more than any drawn timeout,
    // less than two of them).
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_follower(1, 2);
    for _ in 1..2 * ELECTION {
        r.tick();
    }
    assert_eq!((r.term, r.state, r.vote), (2, StateRole::Candidate, 1));
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgVote; 2]);
    for (m, to) in msgs.iter().zip([2, 3]) {
        assert_eq!(
            (m.from, m.to, m.term, m.index, m.log_term),
            (1, to, 2, 0, 0)
        );
    }
}

#[test]
fn candidate_starts_a_new_election_after_timeout() {
    // Goal: a candidate whose election times out without a winner starts a new election in the
    // next term (paper 5.2: split votes).
    // Method: a candidate of term 1 ticks 2 * election - 1 times.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_candidate();
    let _ = read_messages(&mut r);
    for _ in 1..2 * ELECTION {
        r.tick();
    }
    assert_eq!((r.term, r.state, r.vote), (2, StateRole::Candidate, 1));
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgVote; 2]);
    assert!(msgs.iter().all(|m| m.term == 2));
}

#[test]
fn candidate_wins_loses_or_waits_by_vote_count() {
    // Goal: one round of votes decides the election: a majority of grants wins, a majority of
    // rejections loses, anything else keeps the candidate waiting (paper 5.2).
    // Method: for each cluster size and set of answers, a node campaigns and receives exactly
    // those vote responses.
    // (group size, vote answers (from, granted), resulting role)
    type Case = (u64, &'static [(u64, bool)], StateRole);
    let cases: &[Case] = &[
        (1, &[], StateRole::Leader),
        (3, &[(2, true), (3, true)], StateRole::Leader),
        (3, &[(2, true)], StateRole::Leader),
        (
            5,
            &[(2, true), (3, true), (4, true), (5, true)],
            StateRole::Leader,
        ),
        (5, &[(2, true), (3, true), (4, true)], StateRole::Leader),
        (5, &[(2, true), (3, true)], StateRole::Leader),
        (3, &[(2, false), (3, false)], StateRole::Follower),
        (
            5,
            &[(2, false), (3, false), (4, false), (5, false)],
            StateRole::Follower,
        ),
        (
            5,
            &[(2, true), (3, false), (4, false), (5, false)],
            StateRole::Follower,
        ),
        (3, &[], StateRole::Candidate),
        (5, &[(2, true)], StateRole::Candidate),
        (5, &[(2, false), (3, false)], StateRole::Candidate),
        (5, &[], StateRole::Candidate),
    ];
    for (i, &(size, answers, want)) in cases.iter().enumerate() {
        let ids: Vec<u64> = (1..=size).collect();
        let mut r = new_node(1, &ids);
        r.step(hup(1)).unwrap();
        let _ = read_messages(&mut r);
        for &(from, granted) in answers {
            let resp = raft::raftpb::Message {
                reject: !granted,
                ..msg_term(from, 1, MessageType::MsgVoteResp, 1)
            };
            r.step(resp).unwrap();
        }
        assert_eq!(r.state, want, "case {i}");
        assert_eq!(r.term, 1, "case {i}");
    }
}

#[test]
fn follower_votes_at_most_once_per_term() {
    // Goal: a follower grants at most one vote per term, first come first served; it may repeat
    // its vote for the same candidate (paper 5.2).
    // Method: a follower of term 1 that voted for `voted` (0: nobody) receives a MsgVote of term
    // 1 from `candidate`.
    let cases = [
        (0, 2, false),
        (0, 3, false),
        (2, 2, false),
        (3, 3, false),
        (2, 3, true),
        (3, 2, true),
    ];
    for (voted, candidate, want_reject) in cases {
        let storage = storage_with_voters(&[1, 2, 3]);
        storage.wl().set_hard_state(HardState {
            term: 1,
            vote: voted,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        r.step(msg_term(candidate, 1, MessageType::MsgVote, 1))
            .unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(
            (m.kind(), m.to, m.term, m.reject),
            (MessageType::MsgVoteResp, candidate, 1, want_reject)
        );
        let want_vote = if want_reject { voted } else { candidate };
        assert_eq!(r.vote, want_vote);
    }
}

#[test]
fn candidate_returns_to_follower_on_append_from_a_leader() {
    // Goal: a candidate that receives an append from a leader of its own or a later term
    // recognizes that leader and becomes its follower (paper 5.2).
    // Method: a candidate of term 1 receives a MsgApp of term 1 and, separately, of term 2.
    for term in [1, 2] {
        let mut r = new_node(1, &[1, 2, 3]);
        r.step(hup(1)).unwrap();
        let _ = read_messages(&mut r);
        assert_eq!(r.state, StateRole::Candidate);
        r.step(append(2, 1, term, (0, 0), vec![], 0)).unwrap();
        assert_eq!(
            (r.state, r.term, r.leader_id),
            (StateRole::Follower, term, 2)
        );
    }
}

#[test]
fn election_timeout_is_randomized_within_one_to_two_timeouts() {
    // Goal: every reset of the election clock draws a timeout in [election, 2 * election), every
    // value of that range is used, and the node campaigns exactly when the drawn timeout runs out
    // (paper 5.2: randomized timeouts make split votes rare).
    // Method: move a follower through 300 terms; in each, check the drawn timeout and tick up to
    // it.
    let mut r = new_node(1, &[1, 2, 3]);
    let mut seen = BTreeSet::new();
    for term in 1..=300 {
        r.become_follower(term, 0);
        let timeout = r.randomized_election_timeout();
        assert!(
            (ELECTION..2 * ELECTION).contains(&timeout),
            "drawn {timeout}"
        );
        seen.insert(timeout);
        for _ in 1..timeout {
            r.tick();
        }
        assert_eq!(
            r.state,
            StateRole::Follower,
            "campaigned before {timeout} ticks"
        );
        r.tick();
        assert_eq!(
            r.state,
            StateRole::Candidate,
            "did not campaign after {timeout} ticks"
        );
        let _ = read_messages(&mut r);
    }
    assert_eq!(
        seen.len(),
        ELECTION,
        "every timeout in the range is drawn: {seen:?}"
    );
}

#[test]
fn candidate_election_timeout_is_randomized_too() {
    // Goal: a candidate redraws its timeout for each new election, within the same range.
    // Method: let a candidate time out 200 times, checking each drawn timeout.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_candidate();
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        let term = r.term;
        let timeout = r.randomized_election_timeout();
        assert!((ELECTION..2 * ELECTION).contains(&timeout));
        seen.insert(timeout);
        for _ in 0..timeout {
            r.tick();
        }
        assert_eq!(
            r.term,
            term + 1,
            "a new election after exactly {timeout} ticks"
        );
        let _ = read_messages(&mut r);
    }
    assert_eq!(seen.len(), ELECTION);
}

#[test]
fn nodes_of_one_group_rarely_time_out_together() {
    // Goal: the nodes of a group draw different timeouts (each node's generator mixes its id
    // into the seed), so that usually one of them times out first (paper 5.2).
    // Method: reset five nodes 1000 times with the same config seed and count the rounds in
    // which the smallest timeout is shared; with ten possible values that happens about a
    // quarter of the time, and never in every round.
    let ids = [1, 2, 3, 4, 5];
    let mut nodes: Vec<_> = ids.iter().map(|&id| new_node(id, &ids)).collect();
    let mut conflicts = 0;
    let mut identical = 0;
    for term in 1..=1000 {
        let timeouts: Vec<usize> = nodes
            .iter_mut()
            .map(|r| {
                r.become_follower(term, 0);
                r.randomized_election_timeout()
            })
            .collect();
        let min = *timeouts.iter().min().unwrap();
        if timeouts.iter().filter(|&&t| t == min).count() > 1 {
            conflicts += 1;
        }
        if timeouts.iter().all(|&t| t == timeouts[0]) {
            identical += 1;
        }
    }
    assert!(
        conflicts <= 300,
        "{conflicts} of 1000 rounds had a shared minimum"
    );
    assert!(
        identical < 10,
        "{identical} rounds with identical timeouts on all nodes"
    );
}

#[test]
fn new_leader_announces_itself_with_an_empty_entry() {
    // Goal: a node that wins an election appends an empty entry of its term and sends it to
    // every follower at once, establishing its authority (paper 5.2 and 8).
    // Method: a node of three campaigns and receives one vote.
    let mut r = new_node(1, &[1, 2, 3]);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(msg_term(2, 1, MessageType::MsgVoteResp, 1)).unwrap();
    assert_eq!(r.state, StateRole::Leader);
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp; 2]);
    for m in &msgs {
        assert_eq!((m.index, m.log_term, m.term, m.commit), (0, 0, 1, 0));
        assert_eq!(m.entries, vec![empty_entry(1, 1)]);
    }
}

// ---------------------------------------------------------------------------------------------
// 5.3 Log replication.
// ---------------------------------------------------------------------------------------------

#[test]
fn leader_appends_a_proposal_and_replicates_it() {
    // Goal: a leader appends a client command to its log in its term and sends it in parallel
    // to every follower after the entry that precedes it (paper 5.3).
    // Method: a leader whose empty entry is committed proposes one command.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    let li = r.raft_log.last_index();
    r.step(propose(1, b"some data")).unwrap();
    assert_eq!(r.raft_log.last_index(), li + 1);
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp; 2]);
    for (m, to) in msgs.iter().zip([2, 3]) {
        assert_eq!((m.to, m.index, m.log_term, m.commit), (to, li, 1, li));
        assert_eq!(m.entries, vec![entry(1, li + 1, b"some data")]);
    }
    assert_eq!(
        r.raft_log.committed, li,
        "not committed before a quorum has it"
    );
}

#[test]
fn leader_commits_an_entry_once_a_quorum_stores_it() {
    // Goal: once a majority stores an entry of the leader's term, the leader commits it, hands
    // it to the application, and tells the followers the new commit index (paper 5.3).
    // Method: a leader proposes, the followers acknowledge the append.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    let li = r.raft_log.last_index();
    r.step(propose(1, b"some data")).unwrap();
    for m in read_messages(&mut r) {
        let ack = raft::raftpb::Message {
            index: m.index + m.entries.len() as u64,
            ..msg_term(m.to, 1, MessageType::MsgAppResp, 1)
        };
        r.step(ack).unwrap();
    }
    assert_eq!(r.raft_log.committed, li + 1);
    let committed = next_entries(&mut r);
    assert_eq!(committed, vec![entry(1, li + 1, b"some data")]);
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgApp; 2]);
    for m in &msgs {
        assert_eq!(
            (m.commit, m.index),
            (li + 1, li + 1),
            "commit index sent on"
        );
        assert!(m.entries.is_empty());
    }
}

#[test]
fn leader_commits_when_a_majority_acknowledges() {
    // Goal: an entry commits when a majority (leader included) holds it, and not before
    // (paper 5.3).
    // Method: in groups of 1, 3 and 5, only the listed followers acknowledge the append.
    let cases: &[(u64, &[u64], bool)] = &[
        (1, &[], true),
        (3, &[], false),
        (3, &[2], true),
        (3, &[2, 3], true),
        (5, &[], false),
        (5, &[2], false),
        (5, &[2, 3], true),
        (5, &[2, 3, 4], true),
        (5, &[2, 3, 4, 5], true),
    ];
    for (i, &(size, acceptors, want)) in cases.iter().enumerate() {
        let ids: Vec<u64> = (1..=size).collect();
        let mut r = new_node(1, &ids);
        make_leader(&mut r);
        commit_noop_entry(&mut r);
        let li = r.raft_log.last_index();
        r.step(propose(1, b"some data")).unwrap();
        for m in read_messages(&mut r) {
            if acceptors.contains(&m.to) {
                let ack = raft::raftpb::Message {
                    index: m.index + m.entries.len() as u64,
                    ..msg_term(m.to, 1, MessageType::MsgAppResp, 1)
                };
                r.step(ack).unwrap();
            }
        }
        assert_eq!(r.raft_log.committed > li, want, "case {i}");
    }
}

#[test]
fn leader_commits_preceding_entries_with_its_own() {
    // Goal: committing an entry of the leader's term commits every entry before it, including
    // those of earlier terms (paper 5.3).
    // Method: a node whose log holds entries of terms 1 and 2 becomes leader of term 3,
    // proposes, and both followers acknowledge everything.
    let logs: [&[u64]; 4] = [&[], &[2], &[1, 2], &[1]];
    for prior in logs {
        let storage = storage_with_log(&[1, 2, 3], prior);
        storage.wl().set_hard_state(HardState {
            term: 2,
            vote: 0,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        make_leader(&mut r);
        r.step(propose(1, b"some data")).unwrap();
        let _ = read_messages(&mut r);
        let last = r.raft_log.last_index();
        for from in [2, 3] {
            let ack = raft::raftpb::Message {
                index: last,
                ..msg_term(from, 1, MessageType::MsgAppResp, 3)
            };
            r.step(ack).unwrap();
        }
        let li = prior.len() as u64;
        let mut want = entries_with_terms(1, prior);
        want.push(empty_entry(3, li + 1));
        want.push(entry(3, li + 2, b"some data"));
        assert_eq!(next_entries(&mut r), want, "prior log {prior:?}");
    }
}

#[test]
fn follower_commits_what_the_leader_committed() {
    // Goal: a follower applies an entry once the leader's commit index, carried by appends,
    // covers it; never beyond what it holds (paper 5.3).
    // Method: a follower receives appends with different entries and commit indexes.
    let cases: [(Vec<raft::raftpb::Entry>, u64); 4] = [
        (vec![entry(1, 1, b"some data")], 1),
        (
            vec![entry(1, 1, b"some data"), entry(1, 2, b"some data2")],
            2,
        ),
        (
            vec![entry(1, 1, b"some data2"), entry(1, 2, b"some data")],
            2,
        ),
        (
            vec![entry(1, 1, b"some data"), entry(1, 2, b"some data2")],
            1,
        ),
    ];
    for (entries, commit) in cases {
        let mut r = new_node(1, &[1, 2, 3]);
        r.become_follower(1, 2);
        r.step(append(2, 1, 1, (0, 0), entries.clone(), commit))
            .unwrap();
        assert_eq!(r.raft_log.committed, commit);
        assert_eq!(next_entries(&mut r), entries[..commit as usize].to_vec());
    }
}

#[test]
fn follower_checks_the_entry_before_an_append() {
    // Goal: a follower accepts an append only if its log holds the preceding entry with the
    // same term; a refusal carries a hint of where the logs may match (paper 5.3, consistency
    // check; the hint is etcd's fast back-off).
    // Method: a follower with log [1@t1, 2@t2] and commit 1 receives appends after different
    // (index, term) pairs.
    let cases = [
        // (prev term, prev index, response index, reject, hint index, hint term)
        (0, 0, 1, false, 0, 0),
        (1, 1, 1, false, 0, 0),
        (2, 2, 2, false, 0, 0),
        (1, 2, 2, true, 1, 1),
        (3, 3, 3, true, 2, 2),
    ];
    for (log_term, index, want_index, want_reject, want_hint, want_hint_term) in cases {
        let storage = storage_with_log(&[1, 2, 3], &[1, 2]);
        storage.wl().set_hard_state(HardState {
            term: 2,
            vote: 0,
            commit: 1,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        r.step(append(2, 1, 2, (index, log_term), vec![], 1))
            .unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.kind(), MessageType::MsgAppResp);
        assert_eq!(
            (m.to, m.term, m.index, m.reject),
            (2, 2, want_index, want_reject),
            "({index}, {log_term})"
        );
        if want_reject {
            assert_eq!(
                (m.reject_hint, m.log_term),
                (want_hint, want_hint_term),
                "({index}, {log_term})"
            );
        }
    }
}

#[test]
fn follower_appends_new_entries_and_truncates_conflicts() {
    // Goal: a follower that accepts an append deletes a conflicting suffix and appends what it
    // lacks, but keeps entries that already match (paper 5.3).
    // Method: a follower with log [1@t1, 2@t2] (nothing committed) receives four appends.
    // (previous entry of the append, its entries, resulting log terms)
    type Case = ((u64, u64), Vec<raft::raftpb::Entry>, Vec<u64>);
    let cases: [Case; 4] = [
        ((2, 2), vec![empty_entry(3, 3)], vec![1, 2, 3]),
        (
            (1, 1),
            vec![empty_entry(3, 2), empty_entry(4, 3)],
            vec![1, 3, 4],
        ),
        ((0, 0), vec![empty_entry(1, 1)], vec![1, 2]),
        ((0, 0), vec![empty_entry(3, 1)], vec![3]),
    ];
    for (prev, entries, want_terms) in cases {
        let storage = storage_with_log(&[1, 2, 3], &[1, 2]);
        storage.wl().set_hard_state(HardState {
            term: 2,
            vote: 0,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        r.step(append(2, 1, 2, prev, entries, 0)).unwrap();
        assert_eq!(log_terms(&r), want_terms, "after {prev:?}");
    }
}

#[test]
fn leader_brings_every_follower_log_of_figure_7_in_line() {
    // Goal: whatever a follower's log looks like (figure 7, a-f: missing entries, extra
    // uncommitted entries, or both), the leader's consistency checks find the last matching
    // entry and make the follower's log identical to its own (paper 5.3).
    // Method: a leader of term 8 with the figure's log and one follower with each log; the
    // third node is unreachable, so it votes by hand. Then one proposal and a comparison.
    let leader_log = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    let followers: [&[u64]; 8] = [
        &[1, 1, 1, 4, 4, 5, 5, 6, 6],
        &[1, 1, 1, 4],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
        &[1, 1, 1, 4, 4, 4, 4],
        &[1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
        &[],
        &[1, 1, 1, 4, 4, 5, 5, 6, 6, 6],
    ];
    for follower_log in followers {
        let s1 = storage_with_log(&[1, 2, 3], &leader_log);
        s1.wl().set_hard_state(HardState {
            term: 8,
            vote: 0,
            commit: leader_log.len() as u64,
        });
        let s2 = storage_with_log(&[1, 2, 3], follower_log);
        s2.wl().set_hard_state(HardState {
            term: 7,
            vote: 0,
            commit: 0,
        });
        let n1 = new_raft(1, ELECTION, HEARTBEAT, &s1);
        let n2 = new_raft(2, ELECTION, HEARTBEAT, &s2);
        let mut nw = Network::with_black_holes(vec![Some(n1), Some(n2), None]);
        nw.elect(1);
        // Node 2 may hold a longer log than node 1 and refuse; node 3's vote decides.
        nw.send(vec![msg_term(3, 1, MessageType::MsgVoteResp, 9)]);
        assert_eq!(nw.node(1).state, StateRole::Leader);
        let leader_before: Vec<u64> = log_terms(nw.node(1));
        nw.propose(1, b"x");
        let leader_after = log_terms(nw.node(1));
        assert_eq!(
            leader_after[..leader_before.len()],
            leader_before[..],
            "leader log is append-only"
        );
        assert_eq!(
            nw.node(1).raft_log.all_entries(),
            nw.node(2).raft_log.all_entries(),
            "follower {follower_log:?}"
        );
        assert_eq!(nw.node(2).raft_log.committed, nw.node(1).raft_log.committed);
    }
}

#[test]
fn leader_commits_only_current_term_entries_by_counting() {
    // Goal: a leader never commits an entry of an earlier term by counting replicas, only one of
    // its own term, which then commits the earlier ones (paper 5.4.2).
    // Method: a leader of term 3 with log [1@t1, 2@t2, 3@t3 (its empty entry)] hears one
    // follower acknowledge index 1, 2 or 3.
    for (index, want_commit) in [(1, 0), (2, 0), (3, 3)] {
        let storage = storage_with_log(&[1, 2, 3], &[1, 2]);
        storage.wl().set_hard_state(HardState {
            term: 2,
            vote: 0,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        make_leader(&mut r);
        assert_eq!(r.term, 3);
        let ack = raft::raftpb::Message {
            index,
            ..msg_term(2, 1, MessageType::MsgAppResp, 3)
        };
        r.step(ack).unwrap();
        assert_eq!(r.raft_log.committed, want_commit, "ack of index {index}");
    }
}

// ---------------------------------------------------------------------------------------------
// 5.4 Safety.
// ---------------------------------------------------------------------------------------------

#[test]
fn vote_request_carries_the_last_log_position() {
    // Goal: a candidate's vote request names the index and term of its last entry, which voters
    // compare with their own (paper 5.4.1).
    // Method: a follower receives entries from a leader, then times out and campaigns.
    for terms in [&[1][..], &[1, 2]] {
        let mut r = new_node(1, &[1, 2, 3]);
        let last_term = *terms.last().unwrap();
        r.step(append(
            2,
            1,
            last_term,
            (0, 0),
            entries_with_terms(1, terms),
            0,
        ))
        .unwrap();
        let _ = read_messages(&mut r);
        tick_until_election(&mut r);
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgVote; 2]);
        for m in &msgs {
            assert_eq!(
                (m.term, m.index, m.log_term),
                (last_term + 1, terms.len() as u64, last_term)
            );
        }
    }
}

#[test]
fn voter_grants_only_to_candidates_at_least_as_up_to_date() {
    // Goal: a voter refuses a candidate whose log is less up to date than its own: a later last
    // term wins, and with equal last terms the longer log wins (paper 5.4.1).
    // Method: a follower with a given log receives a MsgVote naming a last (index, term).
    let cases: [(&[u64], u64, u64, bool); 9] = [
        // (voter log terms, candidate last index, candidate last term, rejected)
        (&[1], 1, 1, false),
        (&[1], 2, 1, false),
        (&[1, 1], 1, 1, true),
        (&[1], 1, 2, false),
        (&[1], 2, 2, false),
        (&[1, 1], 1, 2, false),
        (&[2], 1, 1, true),
        (&[2], 2, 1, true),
        (&[1, 2], 1, 1, true),
    ];
    for (log, index, log_term, want_reject) in cases {
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage_with_log(&[1, 2], log));
        let vote = raft::raftpb::Message {
            index,
            log_term,
            ..msg_term(2, 1, MessageType::MsgVote, 3)
        };
        r.step(vote).unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].kind(), MessageType::MsgVoteResp);
        assert_eq!(
            msgs[0].reject, want_reject,
            "log {log:?} vs ({index}, {log_term})"
        );
    }
}

#[test]
fn leader_cannot_commit_earlier_term_entries_without_an_entry_of_its_term() {
    // Goal: entries a previous leader left uncommitted become committed only when the new
    // leader's own entry reaches a quorum (paper 5.4.2).
    // Method: in a group of five, node 1 replicates two proposals to node 2 only. Node 2 then
    // wins an election while appends are dropped: its commit index stays put. Once appends
    // flow again, everything commits.
    let mut nw = Network::new(5);
    nw.elect(1);
    for id in [3, 4, 5] {
        nw.cut(1, id);
    }
    nw.propose(1, b"a");
    nw.propose(1, b"b");
    assert_eq!(nw.node(1).raft_log.committed, 1);
    assert_eq!(nw.node(2).raft_log.last_index(), 3);
    nw.recover();
    nw.ignore(MessageType::MsgApp);
    nw.elect(2);
    assert_eq!(nw.node(2).state, StateRole::Leader);
    assert_eq!(nw.node(2).raft_log.last_index(), 4, "its own empty entry");
    assert_eq!(nw.node(2).raft_log.committed, 1);
    nw.recover();
    nw.send(vec![beat(2)]);
    assert_eq!(nw.node(2).raft_log.committed, 4);
    for id in 1..=5 {
        assert_eq!(log_terms(nw.node(id)), vec![1, 1, 1, 2], "node {id}");
    }
}

#[test]
fn leader_overwrites_uncommitted_entries_of_a_later_term_figure_8() {
    // Goal: an entry of an earlier term that reaches a majority without an entry of the
    // leader's term can still be overwritten by another leader, which is why counting replicas
    // may not commit it (paper figure 8, a-d).
    // Method: five nodes; appends carry one entry each. (a) Node 1, leader of term 1, gets
    // entry 2 only to node 2. (b) Node 5 wins term 2 with votes of 3 and 4 but its entry 2 stays
    // local. (c) Node 1 wins term 3 and replicates its entry 2 to nodes 2-4, while its entries
    // of term 3 are stripped in transit: entry 2 is on a majority, yet uncommitted. (d) Node 1
    // crashes; node 5 (last term 2) wins term 4 and overwrites entry 2 everywhere.
    let mut nw = Network::new_with_config(5, |c| c.max_size_per_msg = 1);
    nw.elect(1);
    for id in [3, 4, 5] {
        nw.cut(1, id);
    }
    nw.propose(1, b"from term 1");
    assert_eq!(log_terms(nw.node(2)), vec![1, 1]);

    // (b)
    nw.recover();
    nw.isolate(1);
    nw.cut(2, 5);
    nw.ignore(MessageType::MsgApp);
    nw.elect(5);
    assert_eq!((nw.node(5).state, nw.node(5).term), (StateRole::Leader, 2));
    assert_eq!(log_terms(nw.node(5)), vec![1, 2]);

    // (c) Node 1 restarts; the leader it was knows nothing of term 2.
    nw.recover();
    nw.isolate(5);
    nw.restart(1);
    nw.msg_hook = Some(Box::new(|m: &mut raft::raftpb::Message| {
        m.entries.retain(|e| e.term != 3);
        true
    }));
    nw.elect(1);
    if nw.node(1).state != StateRole::Leader {
        // Nodes 3 and 4 voted for 5 in term 2; the second try is in term 3.
        nw.elect(1);
    }
    assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 3));
    for id in [2, 3, 4] {
        assert_eq!(
            log_terms(nw.node(id)),
            vec![1, 1],
            "node {id} holds entry 2 of term 1"
        );
    }
    assert_eq!(
        nw.node(1).raft_log.committed,
        1,
        "entry 2 is on a majority but not committed"
    );

    // (d)
    nw.msg_hook = None;
    nw.recover();
    nw.isolate(1);
    nw.restart(5);
    nw.elect(5);
    if nw.node(5).state != StateRole::Leader {
        nw.elect(5);
    }
    assert_eq!(nw.node(5).state, StateRole::Leader);
    let term5 = nw.node(5).term;
    for id in [2, 3, 4, 5] {
        let terms = log_terms(nw.node(id));
        assert_eq!(
            terms[..2],
            [1, 2],
            "node {id}: entry 2 was overwritten by node 5's"
        );
        assert_eq!(*terms.last().unwrap(), term5);
        assert_eq!(nw.node(id).raft_log.committed, 3, "node {id}");
    }
}

#[test]
fn entry_of_the_leaders_term_on_a_majority_protects_earlier_entries_figure_8() {
    // Goal: once the leader's own entry is on a majority, the earlier entries before it are
    // committed and no later leader can lose them (paper figure 8, e).
    // Method: as in figure 8 (a)-(c), but node 1's entries of term 3 reach nodes 2-4; then
    // node 1 crashes and node 5 (whose last term is 2) cannot win.
    let mut nw = Network::new(5);
    nw.elect(1);
    for id in [3, 4, 5] {
        nw.cut(1, id);
    }
    nw.propose(1, b"from term 1");
    nw.recover();
    nw.isolate(1);
    nw.cut(2, 5);
    nw.ignore(MessageType::MsgApp);
    nw.elect(5);
    assert_eq!(nw.node(5).state, StateRole::Leader);
    nw.recover();
    nw.isolate(5);
    nw.restart(1);
    nw.elect(1);
    if nw.node(1).state != StateRole::Leader {
        nw.elect(1);
    }
    assert_eq!(nw.node(1).state, StateRole::Leader);
    assert_eq!(nw.node(1).raft_log.committed, 3);
    nw.recover();
    nw.isolate(1);
    nw.restart(5);
    for _ in 0..3 {
        nw.elect(5);
        assert_ne!(nw.node(5).state, StateRole::Leader);
    }
    for id in [2, 3, 4] {
        assert_eq!(
            log_terms(nw.node(id)),
            vec![1, 1, 3],
            "node {id} kept the committed entries"
        );
    }
}

#[test]
fn uncommitted_entry_of_a_later_term_is_overwritten_by_a_newer_leader() {
    // Goal: a node holding an uncommitted entry of a later term cannot stop a leader elected
    // without it from overwriting it (paper 5.4, figure 8 (d)).
    // Method: five nodes. Nodes 1 and 2 hold [t1]; node 3 holds [t2] (it won term 2 but
    // replicated nothing); nodes 4 and 5 voted for 3 in term 2 and hold nothing. Node 1 loses
    // term 2, wins term 3, and every log becomes [t1, t3].
    let with_log = |id: u64, terms: &[u64], term: u64, vote: u64| {
        let storage = storage_with_log(&[1, 2, 3, 4, 5], terms);
        storage.wl().set_hard_state(HardState {
            term,
            vote,
            commit: 0,
        });
        new_raft(id, ELECTION, HEARTBEAT, &storage)
    };
    let mut nw = Network::from_peers(vec![
        with_log(1, &[1], 1, 0),
        with_log(2, &[1], 1, 0),
        with_log(3, &[2], 2, 0),
        with_log(4, &[], 2, 3),
        with_log(5, &[], 2, 3),
    ]);
    nw.elect(1);
    assert_eq!(
        (nw.node(1).state, nw.node(1).term),
        (StateRole::Follower, 2)
    );
    nw.elect(1);
    assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 3));
    for id in 1..=5 {
        assert_eq!(log_terms(nw.node(id)), vec![1, 3], "node {id}");
    }
}
