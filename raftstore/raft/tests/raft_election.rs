//! Elections: who may campaign and when, how votes are granted, pre-vote, check-quorum, leader
//! stickiness and `forget_leader`.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use raft::StateRole;
use raft::raftpb::{ConfChangeType, HardState, Message, MessageType};
use support::*;

fn vote_request(from: u64, to: u64, kind: MessageType, term: u64, last: (u64, u64)) -> Message {
    Message {
        index: last.0,
        log_term: last.1,
        ..msg_term(from, to, kind, term)
    }
}

fn check_quorum(c: &mut raft::Config) {
    c.check_quorum = true;
}

fn pre_vote(c: &mut raft::Config) {
    c.pre_vote = true;
}

fn pre_vote_and_check_quorum(c: &mut raft::Config) {
    c.pre_vote = true;
    c.check_quorum = true;
}

// ---------------------------------------------------------------------------------------------
// Who wins.
// ---------------------------------------------------------------------------------------------

fn election_outcomes(pre_vote: bool) {
    type Case = (Vec<Option<raft::Raft<raft::MemStorage>>>, StateRole, u64);
    // Each case: the nodes (None: unreachable), the state of node 1 after it campaigns, and its
    // term. Without a majority a candidate waits; with PreVote it waits as a pre-candidate and
    // its term does not move.
    let (waiting, waiting_term) = if pre_vote {
        (StateRole::PreCandidate, 0)
    } else {
        (StateRole::Candidate, 1)
    };
    let cfg = move |c: &mut raft::Config| c.pre_vote = pre_vote;
    let live = |id: u64, n: u64| -> Option<raft::Raft<raft::MemStorage>> {
        let ids: Vec<u64> = (1..=n).collect();
        Some(new_node_with(id, &ids, cfg))
    };
    let cases: Vec<Case> = vec![
        (
            vec![live(1, 3), live(2, 3), live(3, 3)],
            StateRole::Leader,
            1,
        ),
        (vec![live(1, 3), live(2, 3), None], StateRole::Leader, 1),
        (vec![live(1, 3), None, None], waiting, waiting_term),
        (
            vec![live(1, 4), None, None, live(4, 4)],
            waiting,
            waiting_term,
        ),
        (
            vec![live(1, 5), None, None, live(4, 5), live(5, 5)],
            StateRole::Leader,
            1,
        ),
    ];
    for (i, (nodes, want_state, want_term)) in cases.into_iter().enumerate() {
        let mut nw = Network::with_black_holes(nodes);
        nw.elect(1);
        assert_eq!(
            nw.node(1).state,
            want_state,
            "case {i}, pre_vote {pre_vote}"
        );
        assert_eq!(nw.node(1).term, want_term, "case {i}, pre_vote {pre_vote}");
    }
}

#[test]
fn candidate_needs_a_majority_to_win() {
    // Goal: a candidate wins with a majority of live voters and waits without one.
    // Method: node 1 campaigns in groups with unreachable nodes.
    election_outcomes(false);
}

#[test]
fn pre_candidate_needs_a_majority_to_win_and_keeps_its_term_while_waiting() {
    // Goal: as above with PreVote; a pre-candidate without a majority keeps its term.
    election_outcomes(true);
}

#[test]
fn candidate_with_a_shorter_log_loses_to_rejections() {
    // Goal: voters at the candidate's term with longer logs answer with rejections (not
    // silence), and a majority of rejections turns the candidate back into a follower.
    // Method: node 1 (empty log) campaigns against nodes holding entries of term 1.
    for pre_vote in [false, true] {
        let ids = [1, 2, 3, 4, 5];
        let with_log = |id: u64, terms: &[u64]| {
            let storage = storage_with_log(&ids, terms);
            storage.wl().set_hard_state(HardState {
                term: 1,
                vote: 0,
                commit: 0,
            });
            new_raft_with_config(
                &raft::Config {
                    pre_vote,
                    ..config(id, ELECTION, HEARTBEAT)
                },
                &storage,
            )
        };
        let mut nw = Network::from_peers(vec![
            new_node_with(1, &ids, |c| c.pre_vote = pre_vote),
            with_log(2, &[1]),
            with_log(3, &[1]),
            with_log(4, &[1, 1]),
            new_node_with(5, &ids, |c| c.pre_vote = pre_vote),
        ]);
        nw.elect(1);
        assert_eq!(
            (nw.node(1).state, nw.node(1).term),
            (StateRole::Follower, 1),
            "pre_vote {pre_vote}"
        );
    }
}

#[test]
fn single_node_becomes_leader_on_campaign() {
    // Goal: a group of one elects its only node at once, with or without PreVote.
    for pre_vote in [false, true] {
        let mut nw = Network::new_with_config(1, |c| c.pre_vote = pre_vote);
        nw.elect(1);
        assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
        assert_eq!(
            nw.node(1).raft_log.committed,
            1,
            "its empty entry commits alone"
        );
    }
}

#[test]
fn leadership_cycles_through_every_node() {
    // Goal: each node in turn can take over leadership; the others follow it and every log
    // stays identical (with and without PreVote).
    for pre_vote in [false, true] {
        let mut nw = Network::new_with_config(3, |c| c.pre_vote = pre_vote);
        for campaigner in [1, 2, 3, 1] {
            nw.elect(campaigner);
            for id in 1..=3 {
                let want = if id == campaigner {
                    StateRole::Leader
                } else {
                    StateRole::Follower
                };
                assert_eq!(nw.node(id).state, want, "after {campaigner} campaigned");
                assert_eq!(nw.node(id).leader_id, campaigner);
            }
            let log = nw.node(1).raft_log.all_entries();
            assert!((2..=3).all(|id| nw.node(id).raft_log.all_entries() == log));
        }
        assert_eq!(nw.node(1).term, 4);
    }
}

#[test]
fn campaign_of_a_leader_is_ignored() {
    // Goal: a leader that is asked to campaign keeps its leadership and term.
    for pre_vote in [false, true] {
        let mut nw = Network::new_with_config(1, |c| c.pre_vote = pre_vote);
        nw.elect(1);
        nw.elect(1);
        assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
    }
}

#[test]
fn dueling_candidates_settle_on_the_most_up_to_date_log() {
    // Goal: when two candidates compete, the one whose log is behind cannot win, and the
    // disruption only raises terms.
    // Method: nodes 1 and 3 cannot talk. Node 1 wins term 1 with node 2; node 3 stays a
    // candidate. When the link heals, node 3 campaigns again (term 2) and loses against the
    // longer logs, leaving every node a follower of term 2.
    let mut nw = Network::new(3);
    nw.cut(1, 3);
    nw.elect(1);
    nw.elect(3);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Candidate, 1)
    );
    nw.recover();
    nw.elect(3);
    for (id, last) in [(1, 1), (2, 1), (3, 0)] {
        let r = nw.node(id);
        assert_eq!((r.state, r.term), (StateRole::Follower, 2), "node {id}");
        assert_eq!(r.raft_log.last_index(), last, "node {id}");
    }
    assert_eq!(nw.node(1).raft_log.committed, 1);
}

#[test]
fn dueling_pre_candidates_do_not_disturb_the_leader() {
    // Goal: with PreVote a node that cannot win never raises a term, so the sitting leader is
    // untouched.
    // Method: as for dueling candidates, with PreVote on.
    let mut nw = Network::new_with_config(3, pre_vote);
    nw.cut(1, 3);
    nw.elect(1);
    nw.elect(3);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Follower, 1)
    );
    nw.recover();
    nw.elect(3);
    assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
    assert_eq!(
        (nw.node(2).state, nw.node(2).term),
        (StateRole::Follower, 1)
    );
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Follower, 1)
    );
}

#[test]
fn candidate_concedes_to_a_leader_of_its_term() {
    // Goal: a candidate that hears from a leader of its own term becomes its follower and
    // catches up.
    // Method: node 1 campaigns while isolated; node 3 wins the same term; after healing, node
    // 3's heartbeat reaches node 1, then a proposal replicates everywhere.
    let mut nw = Network::new(3);
    nw.isolate(1);
    nw.elect(1);
    nw.elect(3);
    assert_eq!(nw.node(1).state, StateRole::Candidate);
    assert_eq!(nw.node(3).state, StateRole::Leader);
    nw.recover();
    nw.send(vec![beat(3)]);
    nw.propose(3, b"force follower");
    assert_eq!(
        (nw.node(1).state, nw.node(1).term, nw.node(1).leader_id),
        (StateRole::Follower, 1, 3)
    );
    for id in 1..=3 {
        assert_eq!(log_terms(nw.node(id)), vec![1, 1], "node {id}");
        assert_eq!(nw.node(id).raft_log.committed, 2, "node {id}");
    }
}

#[test]
fn every_role_steps_down_on_higher_term_vote_or_append() {
    // Goal: a MsgVote or MsgApp of a later term turns any role into a follower of that term;
    // only the append names a leader, and the election clock restarts.
    // Method: each role at term 1 receives each message at term 3.
    for role in [
        StateRole::Follower,
        StateRole::PreCandidate,
        StateRole::Candidate,
        StateRole::Leader,
    ] {
        for kind in [MessageType::MsgVote, MessageType::MsgApp] {
            let mut r = new_node_with(1, &[1, 2, 3], pre_vote);
            match role {
                StateRole::Follower => r.become_follower(1, 0),
                StateRole::PreCandidate => {
                    r.become_follower(1, 0);
                    r.become_pre_candidate();
                }
                StateRole::Candidate => r.become_candidate(),
                StateRole::Leader => {
                    r.become_candidate();
                    r.become_leader();
                }
            }
            r.tick();
            let last = (r.raft_log.last_index(), r.raft_log.last_term());
            r.step(vote_request(2, 1, kind, 3, last)).unwrap();
            assert_eq!(
                (r.state, r.term),
                (StateRole::Follower, 3),
                "{role} on {kind:?}"
            );
            let want_leader = if kind == MessageType::MsgApp { 2 } else { 0 };
            assert_eq!(r.leader_id, want_leader, "{role} on {kind:?}");
            assert_eq!(r.election_elapsed(), 0, "{role} on {kind:?}");
        }
    }
}

#[test]
fn any_role_grants_a_vote_or_pre_vote_for_a_later_term() {
    // Goal: a vote request for a later term from an up-to-date candidate is granted from any
    // role. A MsgVote makes the voter a follower of that term that voted for the candidate; a
    // MsgPreVote changes nothing in the voter (the pre-vote is for a future term).
    for role in [
        StateRole::Follower,
        StateRole::PreCandidate,
        StateRole::Candidate,
        StateRole::Leader,
    ] {
        for kind in [MessageType::MsgVote, MessageType::MsgPreVote] {
            let mut r = new_node_with(1, &[1, 2, 3], pre_vote);
            match role {
                StateRole::Follower => r.become_follower(1, 3),
                StateRole::PreCandidate => {
                    r.become_follower(1, 0);
                    r.become_pre_candidate();
                }
                StateRole::Candidate => r.become_candidate(),
                StateRole::Leader => {
                    r.become_candidate();
                    r.become_leader();
                }
            }
            let _ = read_messages(&mut r);
            let (term, vote) = (r.term, r.vote);
            r.step(vote_request(2, 1, kind, term + 1, (42, term + 1)))
                .unwrap();
            let msgs = read_messages(&mut r);
            assert_eq!(msgs.len(), 1, "{role} on {kind:?}");
            let resp = &msgs[0];
            assert_eq!(resp.kind(), raft::raft::vote_resp_msg_type(kind));
            assert_eq!(
                (resp.to, resp.term, resp.reject),
                (2, term + 1, false),
                "{role} on {kind:?}"
            );
            if kind == MessageType::MsgVote {
                assert_eq!(
                    (r.state, r.term, r.vote),
                    (StateRole::Follower, term + 1, 2)
                );
            } else {
                assert_eq!(
                    (r.state, r.term, r.vote),
                    (role, term, vote),
                    "{role} on {kind:?}"
                );
            }
        }
    }
}

#[test]
fn vote_requests_at_the_current_term_follow_log_and_vote_rules() {
    // Goal: a follower at term 3 grants a vote only if it has not voted for someone else and the
    // candidate's log is at least as up to date as its log [1@t2, 2@t2].
    // Method: a table of candidate last positions and prior votes.
    let cases = [
        // (candidate last index, last term, prior vote, rejected)
        (0, 0, 0, true),
        (0, 1, 0, true),
        (0, 2, 0, true),
        (0, 3, 0, false),
        (1, 1, 0, true),
        (1, 2, 0, true),
        (1, 3, 0, false),
        (2, 1, 0, true),
        (2, 2, 0, false),
        (2, 3, 0, false),
        (3, 1, 0, true),
        (3, 2, 0, false),
        (3, 3, 0, false),
        (3, 2, 2, false),
        (3, 2, 1, true),
    ];
    for (index, log_term, prior_vote, want_reject) in cases {
        let storage = storage_with_log(&[1, 2, 3], &[2, 2]);
        storage.wl().set_hard_state(HardState {
            term: 3,
            vote: prior_vote,
            commit: 0,
        });
        let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
        r.step(vote_request(
            2,
            1,
            MessageType::MsgVote,
            3,
            (index, log_term),
        ))
        .unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(msgs.len(), 1);
        assert_eq!(
            msgs[0].reject, want_reject,
            "({index}, {log_term}) prior vote {prior_vote}"
        );
        assert_eq!(msgs[0].term, 3);
    }
}

#[test]
fn candidates_and_leaders_reject_votes_in_their_own_term() {
    // Goal: a candidate or leader has voted for itself in its term and refuses everyone else.
    for leader in [false, true] {
        let mut r = new_node(1, &[1, 2, 3]);
        r.become_candidate();
        if leader {
            r.become_leader();
        }
        let _ = read_messages(&mut r);
        r.step(vote_request(2, 1, MessageType::MsgVote, 1, (10, 1)))
            .unwrap();
        let msgs = read_messages(&mut r);
        assert_eq!(kinds(&msgs), vec![MessageType::MsgVoteResp]);
        assert!(msgs[0].reject);
        assert_eq!(r.vote, 1);
    }
}

#[test]
fn granted_vote_restarts_the_election_clock() {
    // Goal: granting a vote resets the voter's election clock, so it does not compete with the
    // candidate it just voted for.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_follower(1, 0);
    for _ in 0..5 {
        r.tick();
    }
    assert_eq!(r.election_elapsed(), 5);
    r.step(vote_request(2, 1, MessageType::MsgVote, 1, (0, 0)))
        .unwrap();
    assert_eq!((r.vote, r.election_elapsed()), (2, 0));
}

#[test]
fn vote_responses_wait_for_durability() {
    // Goal: a vote promises durable state; its response is held until everything unstable is
    // persisted (it is queued after the append, not sent at once).
    let mut r = new_node(1, &[1, 2, 3]);
    r.step(vote_request(2, 1, MessageType::MsgVote, 1, (0, 0)))
        .unwrap();
    assert!(r.msgs.is_empty());
    assert_eq!(kinds(&r.msgs_after_append), vec![MessageType::MsgVoteResp]);
}

#[test]
fn candidate_counts_its_own_vote_only_once_durable() {
    // Goal: a candidate's vote for itself is delivered like any other vote, after its state is
    // persisted; a single-node group becomes leader only then.
    let mut r = new_node(1, &[1]);
    r.step(hup(1)).unwrap();
    assert_eq!(r.state, StateRole::Candidate);
    assert_eq!(r.msgs_after_append.len(), 1);
    assert_eq!(r.msgs_after_append[0].kind(), MessageType::MsgVoteResp);
    assert_eq!(r.msgs_after_append[0].to, 1);
    let _ = read_messages(&mut r);
    assert_eq!(r.state, StateRole::Leader);
}

#[test]
#[should_panic(expected = "follower -> leader")]
fn follower_cannot_become_leader_directly() {
    // Goal: Skipping the candidacy is a programmer error and panics.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_leader();
}

#[test]
#[should_panic(expected = "leader -> candidate")]
fn leader_cannot_become_candidate() {
    // Goal: A leader never campaigns; asking it to become candidate panics.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    r.become_candidate();
}

#[test]
#[should_panic(expected = "leader -> pre-candidate")]
fn leader_cannot_become_pre_candidate() {
    // Goal: A leader never pre-campaigns; asking it to become pre-candidate panics.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    r.become_pre_candidate();
}

#[test]
fn allowed_role_transitions_set_term_vote_and_leader() {
    // Goal: the legal transitions leave the documented term, vote and leader.
    let mut r = new_node(1, &[1, 2, 3]);
    r.become_follower(1, 2);
    assert_eq!((r.state, r.term, r.leader_id), (StateRole::Follower, 1, 2));
    r.become_pre_candidate();
    assert_eq!(
        (r.state, r.term, r.leader_id, r.vote),
        (StateRole::PreCandidate, 1, 0, 0)
    );
    r.become_candidate();
    assert_eq!(
        (r.state, r.term, r.leader_id, r.vote),
        (StateRole::Candidate, 2, 0, 1)
    );
    r.become_candidate();
    assert_eq!((r.state, r.term, r.vote), (StateRole::Candidate, 3, 1));
    r.become_leader();
    assert_eq!(
        (r.state, r.term, r.leader_id, r.vote),
        (StateRole::Leader, 3, 1, 1)
    );
    r.become_follower(4, 0);
    assert_eq!(
        (r.state, r.term, r.leader_id, r.vote),
        (StateRole::Follower, 4, 0, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// Learners and unpromotable nodes.
// ---------------------------------------------------------------------------------------------

#[test]
fn learner_never_campaigns() {
    // Goal: a learner neither times out into an election nor campaigns when asked.
    let storage = storage_with_learners(&[1], &[2]);
    let mut r = new_raft(2, ELECTION, HEARTBEAT, &storage);
    assert!(r.is_learner);
    for _ in 0..4 * ELECTION {
        r.tick();
    }
    r.step(hup(2)).unwrap();
    r.step(msg_term(1, 2, MessageType::MsgTimeoutNow, 0))
        .unwrap();
    assert_eq!((r.state, r.term), (StateRole::Follower, 0));
    assert!(read_messages(&mut r).is_empty());
}

#[test]
fn learner_grants_votes_when_asked() {
    // Goal: a learner still answers vote requests: the candidate may know a configuration in
    // which the learner is a voter.
    let storage = storage_with_learners(&[1], &[2]);
    let mut r = new_raft(2, ELECTION, HEARTBEAT, &storage);
    r.step(vote_request(1, 2, MessageType::MsgVote, 2, (11, 11)))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgVoteResp]);
    assert!(!msgs[0].reject);
}

#[test]
fn promoted_learner_can_campaign() {
    // Goal: once a learner is promoted to voter it times out and campaigns like any voter.
    // Method: node 1 leads, node 2 is its learner; both apply the promotion, then node 2 times
    // out and wins.
    let storage1 = storage_with_learners(&[1], &[2]);
    let storage2 = storage_with_learners(&[1], &[2]);
    let mut nw = Network::from_peers(vec![
        new_raft(1, ELECTION, HEARTBEAT, &storage1),
        new_raft(2, ELECTION, HEARTBEAT, &storage2),
    ]);
    for _ in 0..2 * ELECTION {
        nw.tick(2);
    }
    assert_eq!(nw.node(2).state, StateRole::Follower);
    nw.elect(1);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    let promote = conf_change(ConfChangeType::AddNode, 2).into_v2();
    nw.peer(1).apply_conf_change(&promote).unwrap();
    nw.peer(2).apply_conf_change(&promote).unwrap();
    assert!(!nw.node(2).is_learner);
    tick_until_election(nw.peer(2));
    nw.flush(2);
    assert_eq!(nw.node(2).state, StateRole::Leader);
    assert_eq!(nw.node(1).state, StateRole::Follower);
}

#[test]
fn node_outside_its_own_configuration_follows_but_never_campaigns() {
    // Goal: a node that is not a voter in its own configuration cannot campaign, yet still
    // votes for and follows a leader (CheckQuorum on).
    let a = new_node_with(1, &[1, 2], check_quorum);
    let mut cfg = config(2, ELECTION, HEARTBEAT);
    cfg.check_quorum = true;
    let b = new_raft_with_config(&cfg, &storage_with_voters(&[1]));
    assert!(!b.promotable());
    let mut nw = Network::from_peers(vec![a, b]);
    for _ in 0..2 * ELECTION {
        nw.tick(2);
    }
    assert_eq!(
        (nw.node(2).state, nw.node(2).term),
        (StateRole::Follower, 0)
    );
    nw.elect(1);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    assert_eq!(
        (nw.node(2).state, nw.node(2).leader_id),
        (StateRole::Follower, 1)
    );
}

// ---------------------------------------------------------------------------------------------
// PreVote.
// ---------------------------------------------------------------------------------------------

#[test]
fn pre_candidate_keeps_term_and_vote_but_forgets_the_leader() {
    // Goal: entering the pre-candidate state changes neither term nor vote, but forgets the
    // leader (a pre-candidate that remembered it would refuse the votes it asks for).
    let storage = storage_with_voters(&[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 4,
        vote: 3,
        commit: 0,
    });
    let mut r = new_raft_with_config(
        &raft::Config {
            pre_vote: true,
            ..config(1, ELECTION, HEARTBEAT)
        },
        &storage,
    );
    r.become_follower(4, 3);
    r.step(hup(1)).unwrap();
    assert_eq!(
        (r.state, r.term, r.vote, r.leader_id),
        (StateRole::PreCandidate, 4, 3, 0)
    );
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgPreVote; 2]);
    assert!(
        msgs.iter().all(|m| m.term == 5),
        "pre-votes ask for the next term"
    );
}

#[test]
fn pre_vote_win_starts_a_real_election() {
    // Goal: a pre-candidate with a majority of pre-votes becomes a candidate of the next term
    // and asks for real votes.
    let mut r = new_node_with(1, &[1, 2, 3], pre_vote);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(msg_term(2, 1, MessageType::MsgPreVoteResp, 1))
        .unwrap();
    assert_eq!((r.state, r.term, r.vote), (StateRole::Candidate, 1, 1));
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgVote; 2]);
}

#[test]
fn pre_candidate_ignores_real_vote_responses_and_candidate_ignores_pre_votes() {
    // Goal: each campaign phase counts only its own kind of answer.
    // Method: a pre-candidate of term 1 receives a (late) MsgVoteResp of term 1, then wins its
    // pre-vote and, as candidate of term 2, receives a late MsgPreVoteResp of term 2.
    let storage = storage_with_voters(&[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 0,
        commit: 0,
    });
    let mut r = new_raft_with_config(
        &raft::Config {
            pre_vote: true,
            ..config(1, ELECTION, HEARTBEAT)
        },
        &storage,
    );
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(msg_term(2, 1, MessageType::MsgVoteResp, 1)).unwrap();
    assert_eq!(r.state, StateRole::PreCandidate);
    r.step(msg_term(2, 1, MessageType::MsgPreVoteResp, 2))
        .unwrap();
    assert_eq!((r.state, r.term), (StateRole::Candidate, 2));
    let _ = read_messages(&mut r);
    r.step(msg_term(3, 1, MessageType::MsgPreVoteResp, 2))
        .unwrap();
    assert_eq!(r.state, StateRole::Candidate, "a late pre-vote is no vote");
}

#[test]
fn rejected_pre_vote_with_a_later_term_makes_the_pre_candidate_follow_that_term() {
    // Goal: a pre-vote rejection carrying a later term teaches the pre-candidate that term.
    let mut r = new_node_with(1, &[1, 2, 3], pre_vote);
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    r.step(Message {
        reject: true,
        ..msg_term(2, 1, MessageType::MsgPreVoteResp, 7)
    })
    .unwrap();
    assert_eq!((r.state, r.term), (StateRole::Follower, 7));
}

#[test]
fn pre_vote_losing_majority_returns_to_follower_in_own_term() {
    // Goal: a pre-candidate rejected by a majority (at its own term) returns to follower
    // without touching its term.
    let storage = storage_with_voters(&[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 2,
        vote: 0,
        commit: 0,
    });
    let mut r = new_raft_with_config(
        &raft::Config {
            pre_vote: true,
            ..config(1, ELECTION, HEARTBEAT)
        },
        &storage,
    );
    r.step(hup(1)).unwrap();
    let _ = read_messages(&mut r);
    for from in [2, 3] {
        r.step(Message {
            reject: true,
            ..msg_term(from, 1, MessageType::MsgPreVoteResp, 2)
        })
        .unwrap();
    }
    assert_eq!((r.state, r.term), (StateRole::Follower, 2));
}

#[test]
fn stale_pre_vote_is_rejected_with_the_current_term() {
    // Goal: a pre-vote from an earlier term is answered with a rejection naming the current
    // term, so a node stuck at a lower term learns it (etcd#8243); a stale MsgVote is ignored.
    let storage = storage_with_voters(&[1, 2, 3]);
    storage.wl().set_hard_state(HardState {
        term: 3,
        vote: 0,
        commit: 0,
    });
    let mut r = new_raft(1, ELECTION, HEARTBEAT, &storage);
    r.step(vote_request(2, 1, MessageType::MsgPreVote, 2, (5, 2)))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgPreVoteResp]);
    assert_eq!((msgs[0].term, msgs[0].reject), (3, true));
    r.step(vote_request(2, 1, MessageType::MsgVote, 2, (5, 2)))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
    assert_eq!(r.term, 3);
}

#[test]
fn pre_candidates_split_vote_then_one_wins() {
    // Goal: two pre-candidates that both win their pre-votes may split the real vote; the next
    // campaign resolves it, without disturbing anything more than the term.
    let mut nw = Network::new_with_config(3, pre_vote);
    nw.elect(1);
    nw.isolate(1);
    nw.send(vec![hup(2), hup(3)]);
    assert_eq!(
        (nw.node(2).state, nw.node(2).term),
        (StateRole::Candidate, 2)
    );
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Candidate, 2)
    );
    nw.elect(2);
    assert_eq!((nw.node(2).state, nw.node(2).term), (StateRole::Leader, 3));
    assert_eq!(
        (nw.node(3).state, nw.node(3).leader_id),
        (StateRole::Follower, 2)
    );
}

#[test]
fn node_with_a_smaller_term_can_still_complete_an_election() {
    // Goal: with PreVote a node left behind at a lower term learns the current term from
    // rejections, so the group elects a leader after the leader crashes (etcd#8243).
    // Method: node 3 is cut off while nodes 1 and 2 elect twice (term 2); then node 2 (the
    // leader) crashes and node 3, then node 1, campaign.
    let mut nw = Network::new_with_config(3, pre_vote);
    nw.cut(1, 3);
    nw.cut(2, 3);
    nw.elect(1);
    nw.elect(3);
    assert_eq!(nw.node(3).state, StateRole::PreCandidate);
    nw.elect(2);
    assert_eq!((nw.node(2).state, nw.node(2).term), (StateRole::Leader, 2));
    nw.recover();
    nw.cut(2, 1);
    nw.cut(2, 3);
    nw.elect(3);
    assert_eq!(
        nw.node(3).term,
        2,
        "node 3 learned the term from a rejection"
    );
    nw.elect(1);
    assert!(nw.node(1).state == StateRole::Leader || nw.node(3).state == StateRole::Leader);
}

#[test]
fn isolated_node_without_pre_vote_disrupts_the_leader_on_return() {
    // Goal: without PreVote a node that campaigned while cut off returns with a higher term and
    // deposes a healthy leader (the problem PreVote solves).
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, b"while 3 is away");
    for _ in 0..3 {
        tick_until_election(nw.peer(3));
        nw.flush(3);
    }
    let isolated_term = nw.node(3).term;
    assert!(isolated_term > 1);
    nw.recover();
    tick_until_election(nw.peer(3));
    nw.flush(3);
    assert!(
        nw.node(1).term > isolated_term,
        "the leader was forced into a new term"
    );
    assert_ne!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
}

#[test]
fn isolated_node_with_pre_vote_rejoins_without_disruption() {
    // Goal: with PreVote the cut-off node never raises its term, and when it returns, its
    // pre-votes are refused (its log is behind), so the leader keeps its term.
    let mut nw = Network::new_with_config(3, pre_vote);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, b"while 3 is away");
    for _ in 0..3 {
        tick_until_election(nw.peer(3));
        nw.flush(3);
    }
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::PreCandidate, 1)
    );
    nw.recover();
    tick_until_election(nw.peer(3));
    nw.flush(3);
    assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
    nw.send(vec![beat(1)]);
    assert_eq!(
        (nw.node(3).state, nw.node(3).leader_id),
        (StateRole::Follower, 1)
    );
    assert_eq!(nw.node(3).raft_log.committed, nw.node(1).raft_log.committed);
}

// ---------------------------------------------------------------------------------------------
// CheckQuorum and leader stickiness.
// ---------------------------------------------------------------------------------------------

#[test]
fn leader_steps_down_after_an_election_timeout_without_quorum() {
    // Goal: with CheckQuorum a leader that hears from no quorum for an election timeout steps
    // down, so a partitioned leader stops serving.
    let mut r = new_node_with(1, &[1, 2, 3], check_quorum);
    make_leader(&mut r);
    for _ in 1..ELECTION {
        r.tick();
    }
    assert_eq!(r.state, StateRole::Leader);
    r.tick();
    assert_eq!((r.state, r.term, r.leader_id), (StateRole::Follower, 1, 0));
}

#[test]
fn leader_with_an_active_quorum_stays_until_it_goes_silent() {
    // Goal: a leader that keeps hearing from a quorum stays leader; the activity marks are
    // cleared at each check, so a quorum that then goes silent deposes it one timeout later.
    let mut r = new_node_with(1, &[1, 2, 3], check_quorum);
    make_leader(&mut r);
    for _ in 0..3 * ELECTION {
        r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 1))
            .unwrap();
        r.tick();
    }
    assert_eq!(r.state, StateRole::Leader);
    assert!(
        !r.prs.get(2).unwrap().recent_active,
        "cleared at the last check"
    );
    for _ in 0..ELECTION {
        r.tick();
    }
    assert_eq!(r.state, StateRole::Follower);
}

#[test]
fn leader_without_check_quorum_never_steps_down_by_itself() {
    // Goal: the quorum check is opt-in; without it a lone leader keeps leading.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    for _ in 0..5 * ELECTION {
        r.tick();
    }
    assert_eq!(r.state, StateRole::Leader);
}

#[test]
fn votes_are_granted_right_after_start_with_check_quorum() {
    // Goal: stickiness protects a known leader only; a fresh group elects at once.
    let mut nw = Network::new_with_config(3, check_quorum);
    nw.elect(1);
    assert_eq!(nw.node(1).state, StateRole::Leader);
}

#[test]
fn follower_ignores_votes_while_its_leader_lease_holds() {
    // Goal: with CheckQuorum a follower that heard from its leader within the election timeout
    // ignores vote requests of a later term: no vote, no term change, no answer.
    let mut r = new_node_with(1, &[1, 2, 3], check_quorum);
    r.become_follower(1, 2);
    r.step(vote_request(3, 1, MessageType::MsgVote, 2, (5, 1)))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
    assert_eq!((r.term, r.vote, r.leader_id), (1, 0, 2));
    // Once the lease has run out, the same request is granted.
    for _ in 0..ELECTION {
        r.tick_quiesced();
    }
    r.step(vote_request(3, 1, MessageType::MsgVote, 2, (5, 1)))
        .unwrap();
    let msgs = read_messages(&mut r);
    assert_eq!(kinds(&msgs), vec![MessageType::MsgVoteResp]);
    assert!(!msgs[0].reject);
    assert_eq!((r.term, r.vote), (2, 3));
}

#[test]
fn lease_also_ignores_pre_votes() {
    // Goal: stickiness applies to pre-votes as well: a follower with a live leader ignores them.
    let mut r = new_node_with(1, &[1, 2, 3], pre_vote_and_check_quorum);
    r.become_follower(1, 2);
    r.step(vote_request(3, 1, MessageType::MsgPreVote, 2, (5, 1)))
        .unwrap();
    assert!(read_messages(&mut r).is_empty());
    assert_eq!((r.term, r.leader_id), (1, 2));
}

#[test]
fn new_leader_supersedes_once_the_lease_expires() {
    // Goal: with CheckQuorum a candidate cannot win while followers hear from the leader, but
    // wins once a follower's lease expires.
    // Method: node 1 leads; node 3 campaigns and is ignored; node 2's election clock runs out
    // (without it campaigning); node 3 campaigns again and wins.
    let mut nw = Network::new_with_config(3, check_quorum);
    nw.elect(1);
    nw.elect(3);
    assert_eq!(
        (nw.node(1).state, nw.node(3).state),
        (StateRole::Leader, StateRole::Candidate)
    );
    for _ in 0..ELECTION {
        nw.peer(2).tick_quiesced();
    }
    nw.elect(3);
    assert_eq!(nw.node(3).state, StateRole::Leader);
    assert_eq!(
        (nw.node(1).state, nw.node(1).leader_id),
        (StateRole::Follower, 3)
    );
}

#[test]
fn stale_append_is_answered_with_the_current_term_under_check_quorum_or_pre_vote() {
    // Goal: with CheckQuorum or PreVote, a heartbeat or append from an earlier term gets a
    // MsgAppResp carrying the current term, so a stale leader learns it must step down; without
    // either it is dropped silently.
    for (check, pre) in [(false, false), (true, false), (false, true), (true, true)] {
        for kind in [MessageType::MsgHeartbeat, MessageType::MsgApp] {
            let storage = storage_with_voters(&[1, 2, 3]);
            storage.wl().set_hard_state(HardState {
                term: 5,
                vote: 0,
                commit: 0,
            });
            let cfg = raft::Config {
                check_quorum: check,
                pre_vote: pre,
                ..config(1, ELECTION, HEARTBEAT)
            };
            let mut r = new_raft_with_config(&cfg, &storage);
            r.step(msg_term(2, 1, kind, 4)).unwrap();
            let msgs = read_messages(&mut r);
            if check || pre {
                assert_eq!(
                    kinds(&msgs),
                    vec![MessageType::MsgAppResp],
                    "{kind:?} {check} {pre}"
                );
                assert_eq!((msgs[0].to, msgs[0].term), (2, 5));
            } else {
                assert!(msgs.is_empty(), "{kind:?}");
            }
        }
    }
}

#[test]
fn stuck_candidate_is_freed_by_answering_the_stale_leader() {
    // Goal: with CheckQuorum a node that campaigned while cut off (raising its term) is not
    // stuck forever: its answer to the old leader's heartbeat deposes the leader, and then its
    // next campaign wins.
    let mut nw = Network::new_with_config(3, check_quorum);
    nw.elect(1);
    nw.isolate(1);
    nw.elect(3);
    assert_eq!(
        (nw.node(2).state, nw.node(3).state),
        (StateRole::Follower, StateRole::Candidate)
    );
    assert_eq!(nw.node(3).term, nw.node(2).term + 1);
    nw.elect(3);
    assert_eq!(nw.node(3).term, nw.node(2).term + 2);
    nw.recover();
    nw.send(vec![msg_term(
        1,
        3,
        MessageType::MsgHeartbeat,
        nw.node(1).term,
    )]);
    assert_eq!(nw.node(1).state, StateRole::Follower);
    assert_eq!(nw.node(1).term, nw.node(3).term);
    nw.elect(3);
    assert_eq!(nw.node(3).state, StateRole::Leader);
}

#[test]
fn disruptive_follower_deposes_a_leader_whose_heartbeat_is_late() {
    // Goal: a follower whose election clock ran out before the leader's heartbeat arrived
    // becomes candidate of a later term; the late heartbeat is answered with that term and the
    // leader steps down (CheckQuorum on).
    let mut nw = Network::new_with_config(3, check_quorum);
    nw.elect(1);
    tick_until_election(nw.peer(3));
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Candidate, 2)
    );
    nw.send(vec![msg_term(1, 3, MessageType::MsgHeartbeat, 1)]);
    assert_eq!(
        (nw.node(1).state, nw.node(1).term),
        (StateRole::Follower, 2)
    );
    assert_eq!(
        (nw.node(2).state, nw.node(2).term),
        (StateRole::Follower, 1),
        "lease held"
    );
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::Candidate, 2)
    );
}

#[test]
fn disruptive_follower_with_pre_vote_does_not_depose_the_leader() {
    // Goal: with PreVote the same situation leaves the leader in place: the follower's
    // pre-vote changes no term and the late heartbeat brings it back.
    let mut nw = Network::new_with_config(3, pre_vote_and_check_quorum);
    nw.elect(1);
    nw.isolate(3);
    nw.propose(1, b"a");
    nw.propose(1, b"b");
    nw.recover();
    nw.elect(3);
    assert_eq!(
        (nw.node(3).state, nw.node(3).term),
        (StateRole::PreCandidate, 1)
    );
    assert_eq!((nw.node(1).state, nw.node(1).term), (StateRole::Leader, 1));
    nw.send(vec![msg_term(1, 3, MessageType::MsgHeartbeat, 1)]);
    assert_eq!(nw.node(1).state, StateRole::Leader);
    assert_eq!(
        (nw.node(3).state, nw.node(3).leader_id),
        (StateRole::Follower, 1)
    );
}

#[test]
fn pre_vote_with_check_quorum_elects_after_the_leader_is_lost() {
    // Goal: after the leader is cut off, a follower's pre-vote campaign makes it forget the
    // leader, so a second follower's campaign can win.
    let mut nw = Network::new_with_config(3, pre_vote_and_check_quorum);
    nw.elect(1);
    nw.isolate(1);
    nw.elect(3);
    assert_eq!(
        nw.node(3).state,
        StateRole::PreCandidate,
        "node 2 still holds its lease"
    );
    nw.elect(2);
    assert_eq!(nw.node(2).state, StateRole::Leader);
    assert_eq!(
        (nw.node(3).state, nw.node(3).leader_id),
        (StateRole::Follower, 2)
    );
}

// ---------------------------------------------------------------------------------------------
// Forgetting the leader.
// ---------------------------------------------------------------------------------------------

#[test]
fn forgotten_leader_lets_a_follower_vote_within_its_lease() {
    // Goal: `forget_leader` drops a follower's leader, so it grants votes at once although its
    // lease would otherwise hold (for partial partitions with CheckQuorum and PreVote).
    let mut nw = Network::new_with_config(3, pre_vote_and_check_quorum);
    nw.elect(1);
    nw.isolate(1);
    // Without forgetting, node 3 ignores node 2's pre-votes.
    nw.send(vec![hup(2)]);
    assert_eq!(nw.node(2).state, StateRole::PreCandidate);
    assert_eq!(nw.node(3).leader_id, 1);
    nw.peer(3)
        .step(msg(3, 3, MessageType::MsgForgetLeader))
        .unwrap();
    assert_eq!((nw.node(3).leader_id, nw.node(3).term), (0, 1));
    nw.elect(2);
    assert_eq!(nw.node(2).state, StateRole::Leader);
}

#[test]
fn forgotten_leader_is_relearned_from_its_next_heartbeat() {
    // Goal: forgetting is temporary: the next message of the leader makes it known again.
    let mut nw = Network::new(3);
    nw.elect(1);
    nw.peer(2)
        .step(msg(2, 2, MessageType::MsgForgetLeader))
        .unwrap();
    assert_eq!(nw.node(2).leader_id, 0);
    nw.send(vec![beat(1)]);
    assert_eq!(nw.node(2).leader_id, 1);
}

#[test]
fn forget_leader_is_a_no_op_on_leaders_and_candidates() {
    // Goal: only followers forget a leader; leaders and candidates accept the request and
    // change nothing.
    let mut r = new_node(1, &[1, 2, 3]);
    make_leader(&mut r);
    let before = fingerprint(&r);
    r.step(msg(1, 1, MessageType::MsgForgetLeader)).unwrap();
    assert_eq!(fingerprint(&r), before);
    let mut c = new_node(1, &[1, 2, 3]);
    c.become_candidate();
    let before = fingerprint(&c);
    c.step(msg(1, 1, MessageType::MsgForgetLeader)).unwrap();
    assert_eq!(fingerprint(&c), before);
}
