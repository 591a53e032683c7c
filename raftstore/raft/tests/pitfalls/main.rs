#![allow(
    clippy::unwrap_used,
    reason = "test code: a failed unwrap is a failed test"
)]
#![allow(
    clippy::doc_markdown,
    reason = "test docs cite projects and issues by name"
)]

//! One regression test (or more) per pitfall of RAFT-PITFALLS.md, items 1 to 11: bugs that
//! shipped in real Raft implementations. Each test fails if its pitfall is reintroduced.

mod cluster;

use bytes::Bytes;
use cluster::{Cluster, config, snapshot};
use raft::raftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, Entry,
    Message, MessageType,
};
use raft::tracker::ProgressState;
use raft::{Config, DropReason, Error, MemStorage, RawNode, ReadOnlyOption, StateRole};

fn msg(kind: MessageType, from: u64, to: u64, term: u64) -> Message {
    Message {
        from,
        to,
        term,
        ..Message::of_type(kind)
    }
}

// ---- Pitfall 1: committing a previous-term entry by counting replicas (figure 8) ----

/// Goal: a leader never commits an entry of an earlier term because a majority holds it.
/// Method: leader 2 of term 2 holds an uncommitted term-1 entry at index 2 and its own empty
/// entry at index 3; node 3 acknowledges index 2 only. The commit must stay at 1 until index 3
/// is acknowledged by a majority.
#[test]
fn pitfall_01_commit_previous_term_entry_by_counting() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    // Index 2 (term 1) reaches node 2 only; its acknowledgement is lost.
    c.node(1).propose(Bytes::from_static(b"x")).unwrap();
    c.process_ready(1);
    let apps = c.take(MessageType::MsgApp);
    for m in apps.into_iter().filter(|m| m.to == 2) {
        c.node(2).step(m).unwrap();
    }
    c.process_ready(2);
    c.in_flight.clear();
    assert_eq!(c.committed(2), 1);
    // Node 2 becomes leader of term 2 with votes from 2 and 3 (node 1 is cut off).
    c.isolate(1);
    c.elect(2);
    let leader = &mut c.node(2).raft;
    assert_eq!(leader.term, 2);
    assert_eq!(
        leader.raft_log.last_index(),
        3,
        "term-2 empty entry appended at index 3"
    );
    // Rewind node 3's progress to before index 3 and let it acknowledge index 2 only.
    leader.prs.get_mut(3).unwrap().matched = 1;
    leader.raft_log.committed = 1;
    let mut ack = msg(MessageType::MsgAppResp, 3, 2, 2);
    ack.index = 2;
    leader.step(ack).unwrap();
    assert_eq!(leader.prs.get(3).unwrap().matched, 2);
    assert_eq!(
        leader.raft_log.committed, 1,
        "index 2 is of term 1: counting must not commit it"
    );
    let mut ack = msg(MessageType::MsgAppResp, 3, 2, 2);
    ack.index = 3;
    leader.step(ack).unwrap();
    assert_eq!(
        leader.raft_log.committed, 3,
        "index 3 of term 2 commits, and index 2 with it"
    );
}

// ---- Pitfall 2: ReadIndex answered before the leader committed in its term ----

/// Goal: a new leader holds reads until an entry of its term is committed, then answers with
/// an index that includes it; a read that cannot be taken is refused, not silently lost.
/// Method: elect node 1 but drop every append acknowledgement, read, check nothing is
/// answered; deliver the acknowledgements, check the answer.
#[test]
fn pitfall_02_read_index_before_first_commit_in_term() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.node(1).campaign().unwrap();
    // Votes flow; append responses do not.
    for _ in 0..10 {
        for id in [1, 2, 3] {
            c.process_ready(id);
        }
        c.take(MessageType::MsgAppResp);
        c.deliver(&[]);
    }
    assert_eq!(c.state(1), StateRole::Leader);
    assert_eq!(
        c.committed(1),
        0,
        "the term's empty entry is not committed yet"
    );
    c.node(1).read_index(Bytes::from_static(b"r1")).unwrap();
    for _ in 0..3 {
        for id in [1, 2, 3] {
            c.process_ready(id);
        }
        c.take(MessageType::MsgAppResp);
        c.deliver(&[]);
    }
    assert!(
        c.reads(1).is_empty(),
        "no read may be answered before the term's first commit"
    );
    // A heartbeat round brings the acknowledgements; the commit releases the read.
    c.tick(1, 1);
    c.stabilize();
    assert!(c.committed(1) >= 1);
    let reads = c.reads(1);
    assert_eq!(reads.len(), 1);
    assert!(
        reads[0].index >= 1,
        "the read must include the term's first entry"
    );
    // A node without a leader refuses the read instead of dropping it silently.
    let mut lone = Cluster::new(&[1, 2, 3], config);
    let err = lone
        .node(2)
        .read_index(Bytes::from_static(b"r"))
        .unwrap_err();
    assert_eq!(
        err,
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
}

// ---- Pitfall 3: read ids reused across retries; single-node reads from unpersisted state ----

/// Goal: a read retried with the same context is answered only by a round that started after
/// it, so it sees writes acknowledged in between (etcd#20418).
/// Method: read "r" (round A sent, acks withheld), write and commit x, read "r" again; deliver
/// round A's acks: only the first read is answered, at the old index.
#[test]
fn pitfall_03_read_ids_reused_across_retries() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    c.node(1).read_index(Bytes::from_static(b"r")).unwrap();
    c.process_ready(1);
    let round_a = c.take(MessageType::MsgHeartbeat);
    assert_eq!(round_a.len(), 2);
    c.node(1).propose(Bytes::from_static(b"x")).unwrap();
    c.stabilize();
    let write_index = c.committed(1);
    c.node(1).read_index(Bytes::from_static(b"r")).unwrap();
    c.process_ready(1);
    let round_b = c.take(MessageType::MsgHeartbeat);
    // Round A's heartbeats come back first.
    c.in_flight.extend(round_a);
    c.deliver(&[2, 3]);
    c.process_ready(2);
    c.process_ready(3);
    c.deliver(&[1]);
    c.process_ready(1);
    let reads = c.reads(1);
    assert_eq!(
        reads.len(),
        1,
        "round A answers only the read that preceded it"
    );
    assert!(reads[0].index < write_index);
    c.in_flight.extend(round_b);
    c.stabilize();
    let reads = c.reads(1);
    assert_eq!(reads.len(), 1);
    assert!(
        reads[0].index >= write_index,
        "the retry must see the write"
    );
}

/// Goal: a single-node group answers a read only from a commit index its append thread made
/// durable (etcd-io/raft PR #105).
/// Method: async storage writes; campaign; read before the append response arrives; no answer
/// until it does.
#[test]
fn pitfall_03_single_node_read_waits_for_durable_commit() {
    let storage = MemStorage::new_with_conf_state(raft::raftpb::ConfState {
        voters: vec![1],
        ..Default::default()
    });
    let cfg = Config {
        async_storage_writes: true,
        ..config(1)
    };
    let mut node = RawNode::new(&cfg, storage.clone()).unwrap();
    node.campaign().unwrap();
    // The self-vote is durable once the first append completes.
    let mut appends = run_async_ready(&mut node);
    complete_appends(&mut node, &storage, &mut appends);
    assert!(node.is_leader());
    node.read_index(Bytes::from_static(b"r")).unwrap();
    let mut appends = run_async_ready(&mut node);
    assert!(
        node.raft.read_states.is_empty(),
        "the term's entry is not durable yet"
    );
    complete_appends(&mut node, &storage, &mut appends);
    let rd = node.ready();
    assert_eq!(rd.read_states.len(), 1);
    assert_eq!(rd.read_states[0].index, 1);
}

/// Takes a `Ready` in async mode and returns its `MsgStorageAppend` messages.
fn run_async_ready(node: &mut RawNode<MemStorage>) -> Vec<Message> {
    let rd = node.ready();
    rd.messages
        .into_iter()
        .filter(|m| m.msg_type == MessageType::MsgStorageAppend as i32)
        .collect()
}

/// Persists the appends and steps their responses back.
fn complete_appends(
    node: &mut RawNode<MemStorage>,
    storage: &MemStorage,
    appends: &mut Vec<Message>,
) {
    for m in appends.drain(..) {
        {
            let mut core = storage.wl();
            core.append(&m.entries).unwrap();
            if m.term != 0 || m.vote != 0 || m.commit != 0 {
                core.set_hard_state(raft::raftpb::HardState {
                    term: m.term,
                    vote: m.vote,
                    commit: m.commit,
                });
            }
        }
        for resp in m.responses {
            if resp.to == node.raft.id {
                node.step(resp).unwrap();
            }
        }
    }
}

// ---- Pitfall 4: lease reads during leadership transfer ----

/// Goal: once a transfer starts, the old leader's lease is not trusted; ForgetLeader is
/// refused in lease mode.
/// Method: lease-based reads; start a transfer to a lagging node; a read is not answered at
/// once but waits for a quorum round.
#[test]
fn pitfall_04_lease_read_during_transfer() {
    let lease = |id| Config {
        check_quorum: true,
        read_only_option: ReadOnlyOption::LeaseBased,
        ..config(id)
    };
    let mut c = Cluster::new(&[1, 2, 3], lease);
    c.elect(1);
    c.node(1).read_index(Bytes::from_static(b"before")).unwrap();
    assert_eq!(
        c.node(1).raft.read_states.len(),
        1,
        "with a valid lease the read is immediate"
    );
    c.node(1).raft.read_states.clear();
    // Make node 3 lag so the transfer cannot complete at once.
    c.isolate(3);
    c.node(1).propose(Bytes::from_static(b"x")).unwrap();
    c.stabilize();
    c.heal();
    c.node(1).transfer_leader(3).unwrap();
    assert_eq!(c.node(1).raft.lead_transferee, 3);
    c.node(1).read_index(Bytes::from_static(b"during")).unwrap();
    assert!(
        c.node(1).raft.read_states.is_empty(),
        "the lease must not answer during a transfer"
    );
    // ForgetLeader would let a follower vote while the leader still trusts its lease.
    let err = c.node(2).forget_leader().unwrap_err();
    assert!(matches!(err, Error::RequestRefused { .. }));
}

// ---- Pitfall 5: conf-change validation against a lagging applied config ----

/// Goal: one change at a time, and a new leader accepts no change until it has applied every
/// change in its log.
/// Method: propose a change, then a second before the first applies: refused with an error and
/// no state change. A new leader with an unapplied change in its log refuses too.
#[test]
fn pitfall_05_conf_change_validated_against_applied_config() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    let add4 = ConfChange {
        change_type: ConfChangeType::AddLearnerNode as i32,
        node_id: 4,
        ..Default::default()
    };
    c.node(1).propose_conf_change(&add4).unwrap();
    let before = c.node(1).raft.raft_log.last_index();
    let add5 = ConfChange {
        node_id: 5,
        ..add4.clone()
    };
    let err = c.node(1).propose_conf_change(&add5).unwrap_err();
    assert!(matches!(err, Error::ConfChangeInvalid { .. }), "{err:?}");
    assert_eq!(
        c.node(1).raft.raft_log.last_index(),
        before,
        "a refused change appends nothing"
    );
    c.stabilize();
    c.node(1).propose_conf_change(&add5).unwrap();
    // A freshly elected leader refuses changes until its whole log is applied.
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    let leader = &mut c.node(1).raft;
    assert_eq!(
        leader.pending_conf_index(),
        leader.raft_log.last_index() - 1
    );
}

// ---- Pitfall 6: a removed or demoted leader keeps leading ----

/// Goal: a leader removed from the group steps down and a successor takes over without waiting
/// for an election timeout.
/// Method: leader 1 removes itself; after the change applies, node 1 is a follower and another
/// node leads, with no tick in between.
#[test]
fn pitfall_06_removed_leader_steps_down_and_hands_off() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    let remove1 = ConfChange {
        change_type: ConfChangeType::RemoveNode as i32,
        node_id: 1,
        ..Default::default()
    };
    c.node(1).propose_conf_change(&remove1).unwrap();
    c.stabilize();
    assert_ne!(c.state(1), StateRole::Leader);
    let leaders: Vec<u64> = [2, 3]
        .into_iter()
        .filter(|&id| c.state(id) == StateRole::Leader)
        .collect();
    assert_eq!(leaders.len(), 1, "a successor campaigned at once");
}

/// Goal: a leader demoted to learner through a joint configuration steps down too.
#[test]
fn pitfall_06_demoted_leader_steps_down() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    let demote = ConfChangeV2 {
        transition: ConfChangeTransition::Auto as i32,
        changes: vec![
            ConfChangeSingle::new(ConfChangeType::AddLearnerNode, 1),
            ConfChangeSingle::new(ConfChangeType::AddNode, 4),
        ],
        context: Bytes::new(),
    };
    c.node(1).propose_conf_change(&demote).unwrap();
    c.stabilize();
    assert_ne!(
        c.state(1),
        StateRole::Leader,
        "a leader demoted to learner must not lead"
    );
    assert!(c.node(1).raft.is_learner || c.node(1).raft.prs.config.voters.is_joint());
}

// ---- Pitfall 7: learners must vote when asked ----

/// Goal: a learner grants its vote to an up-to-date candidate, since the candidate may know a
/// configuration in which the learner is a voter (etcd#10998).
#[test]
fn pitfall_07_learner_votes_when_asked() {
    let cs = raft::raftpb::ConfState {
        voters: vec![1, 2],
        learners: vec![3],
        ..Default::default()
    };
    let mut c = Cluster::with_conf_state(&cs, config);
    let mut vote = msg(MessageType::MsgVote, 2, 3, 5);
    vote.index = 10;
    vote.log_term = 4;
    c.node(3).step(vote).unwrap();
    c.process_ready(3);
    let resp = c.take(MessageType::MsgVoteResp);
    assert_eq!(resp.len(), 1);
    assert!(!resp[0].reject, "the learner must grant the vote");
    assert_eq!(c.node(3).raft.vote, 2);
}

// ---- Pitfall 8: asynchronous write ordering ----

/// Goal: with async storage writes, append acknowledgements and votes leave only after the
/// append thread made their state durable; the leader sends MsgApp before its own write but
/// counts itself only after.
#[test]
fn pitfall_08_async_acks_wait_for_durability() {
    let async_cfg = |id| Config {
        async_storage_writes: true,
        ..config(id)
    };
    let storage = MemStorage::new_with_conf_state(raft::raftpb::ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    });
    let mut n2 = RawNode::new(&async_cfg(2), storage.clone()).unwrap();
    let mut vote = msg(MessageType::MsgVote, 1, 2, 1);
    vote.index = 0;
    n2.step(vote).unwrap();
    let rd = n2.ready();
    assert!(
        rd.messages
            .iter()
            .all(|m| m.msg_type != MessageType::MsgVoteResp as i32),
        "a vote must not be sent before it is durable"
    );
    let append = rd
        .messages
        .iter()
        .find(|m| m.msg_type == MessageType::MsgStorageAppend as i32)
        .unwrap();
    assert_eq!(append.vote, 1, "the vote is persisted by the append thread");
    assert!(
        append
            .responses
            .iter()
            .any(|m| m.msg_type == MessageType::MsgVoteResp as i32 && m.to == 1)
    );

    // A leader: MsgApp goes out in the same Ready as its own append; its self-acknowledgement
    // rides on the append thread's responses.
    let storage = MemStorage::new_with_conf_state(raft::raftpb::ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    });
    let mut n1 = RawNode::new(&async_cfg(1), storage.clone()).unwrap();
    n1.raft.become_candidate();
    n1.raft.become_leader();
    n1.propose(Bytes::from_static(b"x")).unwrap();
    let rd = n1.ready();
    let app = rd
        .messages
        .iter()
        .filter(|m| m.msg_type == MessageType::MsgApp as i32)
        .count();
    assert_eq!(
        app, 2,
        "appends are sent before the leader's own write is durable"
    );
    let append = rd
        .messages
        .iter()
        .find(|m| m.msg_type == MessageType::MsgStorageAppend as i32)
        .unwrap();
    assert!(
        append
            .responses
            .iter()
            .any(|m| m.msg_type == MessageType::MsgAppResp as i32 && m.to == 1)
    );
    assert_eq!(
        n1.raft.prs.get(1).unwrap().matched,
        0,
        "the leader does not count itself yet"
    );
}

/// Goal: an append response from an older term does not mark entries stable after the
/// unstable log was overwritten (the ABA race, CockroachDB #124440).
/// Method: a follower gets entry 1 of term 1 (append handed out), then term 2's leader
/// overwrites index 1; the stale response arrives: the new entry must stay unstable.
#[test]
fn pitfall_08_stale_append_response_does_not_stabilize_new_entries() {
    let storage = MemStorage::new_with_conf_state(raft::raftpb::ConfState {
        voters: vec![1, 2, 3],
        ..Default::default()
    });
    let cfg = Config {
        async_storage_writes: true,
        ..config(2)
    };
    let mut n2 = RawNode::new(&cfg, storage).unwrap();
    let mut app = msg(MessageType::MsgApp, 1, 2, 1);
    app.entries = vec![Entry::new(1, 1, Bytes::from_static(b"old"))];
    n2.step(app).unwrap();
    let rd = n2.ready();
    let stale = rd
        .messages
        .iter()
        .find(|m| m.msg_type == MessageType::MsgStorageAppend as i32)
        .unwrap()
        .responses
        .iter()
        .find(|m| m.msg_type == MessageType::MsgStorageAppendResp as i32)
        .unwrap()
        .clone();
    assert_eq!((stale.index, stale.log_term), (1, 1));
    // Term 3's leader overwrites index 1 with an entry of term 3.
    let mut app = msg(MessageType::MsgApp, 3, 2, 3);
    app.entries = vec![Entry::new(1, 3, Bytes::from_static(b"new"))];
    n2.step(app).unwrap();
    n2.step(stale).unwrap();
    let unstable = n2.raft.raft_log.next_unstable_ents();
    assert_eq!(unstable.len(), 1, "the new entry must still be written");
    assert_eq!(unstable[0].term, 3);
}

// ---- Pitfall 9: snapshot versus log races ----

/// Goal: a follower that receives a snapshot at the leader's last index leaves probe state
/// (etcd#10308), and a snapshot never moves a follower's log backwards.
#[test]
fn pitfall_09_snapshot_at_leader_last_index_resumes_replication() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    c.isolate(3);
    for i in 0..5u8 {
        c.node(1).propose(Bytes::from(vec![i])).unwrap();
        c.stabilize();
    }
    let last = c.node(1).raft.raft_log.last_index();
    let term = c.node(1).raft.term;
    {
        let n1 = c.nodes.get_mut(&1).unwrap();
        let mut core = n1.storage.wl();
        core.create_snapshot(
            last,
            Some(raft::raftpb::ConfState {
                voters: vec![1, 2, 3],
                ..Default::default()
            }),
            Bytes::new(),
        )
        .unwrap();
        core.compact(last).unwrap();
    }
    c.heal();
    // Heartbeats bring node 3 back; the leader must send a snapshot at its last index.
    c.tick(1, 1);
    c.stabilize();
    let pr = c.node(1).raft.prs.get(3).unwrap().clone();
    assert_eq!(pr.matched, last, "follower caught up by snapshot");
    assert_ne!(pr.state, ProgressState::Snapshot);
    c.node(1).report_snapshot(3, raft::SnapshotStatus::Finish);
    c.node(1).propose(Bytes::from_static(b"after")).unwrap();
    c.stabilize();
    assert_eq!(
        c.node(1).raft.prs.get(3).unwrap().state,
        ProgressState::Replicate
    );
    assert_eq!(c.committed(3), last + 1);
    // An old snapshot is ignored: the commit index never goes backwards.
    let mut old = msg(MessageType::MsgSnap, 1, 3, term);
    old.snapshot = Some(Box::new(snapshot(2, 1, &[1, 2, 3])));
    c.node(3).step(old).unwrap();
    assert_eq!(c.committed(3), last + 1);
}

/// Goal: installing a snapshot whose index holds a conflicting entry replaces the log instead
/// of only moving the commit index (hashicorp/raft#704).
#[test]
fn pitfall_09_snapshot_replaces_conflicting_entry_at_its_index() {
    let storage = MemStorage::new_with_conf_state(raft::raftpb::ConfState {
        voters: vec![1, 2],
        ..Default::default()
    });
    let mut n2 = RawNode::new(&config(2), storage).unwrap();
    let mut app = msg(MessageType::MsgApp, 1, 2, 1);
    app.entries = (1..=3).map(|i| Entry::new(i, 1, Bytes::new())).collect();
    n2.step(app).unwrap();
    let mut snap = msg(MessageType::MsgSnap, 1, 2, 2);
    snap.snapshot = Some(Box::new(snapshot(3, 2, &[1, 2])));
    n2.step(snap).unwrap();
    assert_eq!(n2.raft.raft_log.last_index(), 3);
    assert_eq!(
        n2.raft.raft_log.term(3).unwrap(),
        2,
        "the term-1 entry at 3 must be replaced"
    );
    assert_eq!(n2.raft.raft_log.committed, 3);
}

// ---- Pitfall 10: PreVote / CheckQuorum liveness ----

/// Goal: a node at a lower term is not stuck with PreVote: its pre-vote is rejected with the
/// higher term, which it adopts (etcd#8243); a pre-candidate forgets its leader (etcd#8334).
#[test]
fn pitfall_10_prevote_lower_term_node_catches_up() {
    let pv = |id| Config {
        pre_vote: true,
        ..config(id)
    };
    let mut c = Cluster::new(&[1, 2, 3], pv);
    // Node 1 at term 5, node 3 at term 1.
    c.node(1).raft.become_follower(5, 0);
    let mut pre = msg(MessageType::MsgPreVote, 3, 1, 2);
    pre.index = 0;
    c.node(1).step(pre).unwrap();
    c.process_ready(1);
    let resp = c.take(MessageType::MsgPreVoteResp);
    assert_eq!(resp.len(), 1);
    assert!(resp[0].reject);
    assert_eq!(resp[0].term, 5, "the rejection carries the higher term");
    c.node(3).raft.become_pre_candidate();
    c.node(3).step(resp[0].clone()).unwrap();
    assert_eq!(
        c.node(3).raft.term,
        5,
        "the lower-term node adopts the term it learned"
    );
    // A pre-candidate has no leader.
    c.node(2).raft.become_follower(5, 1);
    c.node(2).raft.become_pre_candidate();
    assert_eq!(c.node(2).raft.leader_id, 0);
}

/// Goal: an old leader's heartbeats do not hold back a quorum that moved on: the follower at
/// the higher term answers, and the old leader steps down.
#[test]
fn pitfall_10_stale_leader_heartbeat_makes_it_step_down() {
    let cq = |id| Config {
        check_quorum: true,
        pre_vote: true,
        ..config(id)
    };
    let mut c = Cluster::new(&[1, 2, 3], cq);
    c.elect(1);
    c.node(2).raft.become_follower(3, 0);
    let hb = msg(MessageType::MsgHeartbeat, 1, 2, 1);
    c.node(2).step(hb).unwrap();
    c.process_ready(2);
    c.deliver(&[1]);
    assert_eq!(c.state(1), StateRole::Follower);
    assert_eq!(c.node(1).raft.term, 3);
}

/// Goal: with CheckQuorum and PreVote, a follower that still hears a leader it should abandon
/// can vote after ForgetLeader (CockroachDB #107060).
#[test]
fn pitfall_10_forget_leader_allows_vote() {
    let cq = |id| Config {
        check_quorum: true,
        pre_vote: true,
        ..config(id)
    };
    let mut c = Cluster::new(&[1, 2, 3], cq);
    c.elect(1);
    c.node(3).forget_leader().unwrap();
    assert_eq!(c.node(3).raft.leader_id, 0);
    let mut pre = msg(MessageType::MsgPreVote, 2, 3, 2);
    pre.index = c.node(3).raft.raft_log.last_index();
    pre.log_term = c.node(3).raft.raft_log.last_term();
    c.node(3).step(pre).unwrap();
    c.process_ready(3);
    let resp = c.take(MessageType::MsgPreVoteResp);
    assert!(resp.iter().any(|m| m.to == 2 && !m.reject));
}

// ---- Pitfall 11: flow control and probing ----

/// Goal: a full inflight window still lets an empty append carry the commit index
/// (etcd PR #14633).
#[test]
fn pitfall_11_full_window_still_sends_commit() {
    let narrow = |id| Config {
        max_inflight_msgs: 1,
        max_size_per_msg: 0,
        ..config(id)
    };
    let mut c = Cluster::new(&[1, 2, 3], narrow);
    c.elect(1);
    c.node(1).propose(Bytes::from_static(b"a")).unwrap();
    c.process_ready(1);
    // Lose everything to node 3: its window is full.
    c.in_flight.retain(|m| m.to != 3);
    assert!(c.node(1).raft.prs.get(3).unwrap().inflights.full());
    c.cut.insert((1, 3));
    c.stabilize();
    c.cut.clear();
    let commit = c.committed(1);
    // A heartbeat response must produce an (empty) append carrying the commit.
    let term = c.node(1).raft.term;
    c.node(1)
        .step(msg(MessageType::MsgHeartbeatResp, 3, 1, term))
        .unwrap();
    c.process_ready(1);
    let apps = c.take(MessageType::MsgApp);
    let to3: Vec<_> = apps.iter().filter(|m| m.to == 3).collect();
    assert_eq!(to3.len(), 1);
    assert!(to3[0].entries.is_empty());
    assert_eq!(to3[0].commit, commit);
}

/// Goal: a caught-up follower put in probe by ReportUnreachable returns to replicate on the
/// next heartbeat response.
#[test]
fn pitfall_11_probe_after_unreachable_recovers() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    c.node(1).report_unreachable(2);
    assert_eq!(
        c.node(1).raft.prs.get(2).unwrap().state,
        ProgressState::Probe
    );
    c.tick(1, 1);
    c.stabilize();
    assert_eq!(
        c.node(1).raft.prs.get(2).unwrap().state,
        ProgressState::Replicate
    );
}

/// Goal: `next` never drops below `match + 1`, whatever a stale rejection says
/// (etcd-io/raft#149).
#[test]
fn pitfall_11_next_never_below_match() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    for _ in 0..3 {
        c.node(1).propose(Bytes::from_static(b"x")).unwrap();
    }
    c.stabilize();
    let term = c.node(1).raft.term;
    let matched = c.node(1).raft.prs.get(2).unwrap().matched;
    let mut stale = msg(MessageType::MsgAppResp, 2, 1, term);
    stale.reject = true;
    stale.index = matched;
    stale.reject_hint = 0;
    c.node(1).step(stale).unwrap();
    let pr = c.node(1).raft.prs.get(2).unwrap();
    assert!(
        pr.next > pr.matched,
        "next {} must stay above match {}",
        pr.next,
        pr.matched
    );
}

/// Goal: a follower that missed the latest commit index gets it without waiting for the next
/// proposal (commit propagation does not stall after a hiccup).
#[test]
fn pitfall_11_commit_reaches_lagging_follower() {
    let mut c = Cluster::new(&[1, 2, 3], config);
    c.elect(1);
    c.node(1).propose(Bytes::from_static(b"x")).unwrap();
    c.process_ready(1);
    c.deliver(&[2, 3]);
    c.process_ready(2);
    c.process_ready(3);
    // The leader learns the commit from node 2's ack; the follow-up to node 3 is lost.
    c.deliver(&[1]);
    c.process_ready(1);
    c.in_flight.retain(|m| m.to != 3);
    let commit = c.committed(1);
    assert!(c.committed(3) < commit);
    // Node 3's late acknowledgement triggers an append that carries the commit.
    c.tick(1, 1);
    c.stabilize();
    assert_eq!(c.committed(3), commit);
}
