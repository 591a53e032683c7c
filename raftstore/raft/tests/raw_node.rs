//! `RawNode`: the `Ready`/`advance` contract and the asynchronous storage contract, bootstrap
//! and restart, status, reports from the transport, local-message checks, and every `Config`
//! option as seen through the application's handle.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use raft::raftpb::{
    ConfChangeTransition, ConfChangeType, ConfChangeV2, Entry, EntryType, HardState, Message,
    MessageType,
};
use raft::tracker::ProgressState;
use raft::{
    Config, DropReason, Error, LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD, MemStorage, RawNode,
    ReadOnlyOption, Ready, SnapshotStatus, SoftState, StateRole,
};
use support::*;

fn raw_node(cfg: &Config, storage: &MemStorage) -> RawNode<MemStorage> {
    RawNode::new(cfg, storage.clone()).unwrap()
}

fn async_config(id: u64) -> Config {
    Config {
        async_storage_writes: true,
        ..config(id, ELECTION, HEARTBEAT)
    }
}

/// Persists what a synchronous `Ready` asks to persist.
fn persist_ready(storage: &MemStorage, rd: &Ready) {
    let mut core = storage.wl();
    if let Some(snap) = &rd.snapshot {
        core.apply_snapshot(snap.clone()).unwrap();
    }
    core.append(&rd.entries).unwrap();
    if let Some(hs) = rd.hard_state {
        core.set_hard_state(hs);
    }
}

/// Persists what a `MsgStorageAppend` carries.
fn persist_append_msg(storage: &MemStorage, m: &Message) {
    assert_eq!(
        (m.kind(), m.to),
        (MessageType::MsgStorageAppend, LOCAL_APPEND_THREAD)
    );
    let mut core = storage.wl();
    if let Some(snap) = &m.snapshot {
        core.apply_snapshot(snap.as_ref().clone()).unwrap();
    }
    core.append(&m.entries).unwrap();
    if m.term != 0 {
        core.set_hard_state(HardState {
            term: m.term,
            vote: m.vote,
            commit: m.commit,
        });
    }
}

/// Applies committed entries: configuration changes are applied to the node.
fn apply_entries(node: &mut RawNode<MemStorage>, entries: &[Entry]) {
    for e in entries {
        if raft::raft::is_conf_change_entry(e) {
            let cc = raft::decode_conf_change(e).unwrap();
            node.apply_conf_change(&cc).unwrap();
        }
    }
}

/// Handles one `Ready` of either contract completely and returns the messages for peers and
/// the entries applied.
fn handle_ready(
    node: &mut RawNode<MemStorage>,
    storage: &MemStorage,
    async_writes: bool,
) -> (Vec<Message>, Vec<Entry>) {
    let rd = node.ready();
    let mut out = Vec::new();
    let mut applied = Vec::new();
    if async_writes {
        assert!(rd.entries.is_empty() || rd.messages.iter().any(|m| m.to == LOCAL_APPEND_THREAD));
        for m in rd.messages {
            match m.to {
                LOCAL_APPEND_THREAD => {
                    persist_append_msg(storage, &m);
                    for resp in m.responses {
                        if resp.to == node.raft.id {
                            node.step(resp).unwrap();
                        } else {
                            out.push(resp);
                        }
                    }
                }
                LOCAL_APPLY_THREAD => {
                    apply_entries(node, &m.entries);
                    applied.extend(m.entries.iter().cloned());
                    for resp in m.responses {
                        node.step(resp).unwrap();
                    }
                }
                _ => out.push(m),
            }
        }
    } else {
        persist_ready(storage, &rd);
        out.extend(rd.messages.iter().cloned());
        apply_entries(node, &rd.committed_entries);
        applied.extend(rd.committed_entries.iter().cloned());
        node.advance();
    }
    (out, applied)
}

/// A group of `RawNode`s over `MemStorage`, driven like an application would drive them.
struct Cluster {
    nodes: BTreeMap<u64, RawNode<MemStorage>>,
    storages: BTreeMap<u64, MemStorage>,
    applied: BTreeMap<u64, Vec<Entry>>,
    async_writes: bool,
}

impl Cluster {
    fn new(n: u64, async_writes: bool) -> Cluster {
        let ids: Vec<u64> = (1..=n).collect();
        let mut c = Cluster {
            nodes: BTreeMap::new(),
            storages: BTreeMap::new(),
            applied: BTreeMap::new(),
            async_writes,
        };
        for &id in &ids {
            let storage = storage_with_voters(&ids);
            let cfg = Config {
                async_storage_writes: async_writes,
                ..config(id, ELECTION, HEARTBEAT)
            };
            c.nodes.insert(id, raw_node(&cfg, &storage));
            c.storages.insert(id, storage);
            c.applied.insert(id, Vec::new());
        }
        c
    }

    fn node(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        self.nodes.get_mut(&id).unwrap()
    }

    /// Handles every Ready and delivers every message until nothing is left to do.
    fn stabilize(&mut self) {
        let mut network: VecDeque<Message> = VecDeque::new();
        for _ in 0..10_000 {
            let mut busy = false;
            for (&id, node) in &mut self.nodes {
                while node.has_ready() {
                    busy = true;
                    let (out, applied) = handle_ready(node, &self.storages[&id], self.async_writes);
                    network.extend(out);
                    self.applied.get_mut(&id).unwrap().extend(applied);
                }
            }
            while let Some(m) = network.pop_front() {
                busy = true;
                if let Some(node) = self.nodes.get_mut(&m.to) {
                    let _ = node.step(m);
                }
            }
            if !busy {
                return;
            }
        }
        panic!("the cluster never went quiet");
    }

    fn applied_data(&self, id: u64) -> Vec<&[u8]> {
        self.applied[&id]
            .iter()
            .filter(|e| !e.data.is_empty() && e.entry_type == 0)
            .map(|e| e.data.as_ref())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The two storage contracts, end to end.
// ---------------------------------------------------------------------------------------------

#[test]
fn both_storage_contracts_elect_replicate_and_apply_identically() {
    // Goal: a group driven through either contract elects a leader, commits proposals made at
    // the leader and at a follower, and every node applies the same entries in the same order.
    for async_writes in [false, true] {
        let mut c = Cluster::new(3, async_writes);
        c.node(1).campaign().unwrap();
        c.stabilize();
        assert!(c.node(1).is_leader(), "async {async_writes}");
        c.node(1).propose(Bytes::from_static(b"a")).unwrap();
        c.node(2).propose(Bytes::from_static(b"b")).unwrap();
        c.node(1)
            .propose_batch([Bytes::from_static(b"c"), Bytes::from_static(b"d")])
            .unwrap();
        c.stabilize();
        for id in 1..=3 {
            let mut data = c.applied_data(id);
            data.sort_unstable();
            assert_eq!(
                data,
                vec![&b"a"[..], b"b", b"c", b"d"],
                "node {id}, async {async_writes}"
            );
            assert_eq!(c.node(id).raft.raft_log.applied, 5);
            assert_eq!(c.applied[&id], c.applied[&1]);
            let stored = stored_entries(&c.storages[&id]);
            assert_eq!(stored.len(), 5, "node {id} persisted its log");
        }
    }
}

#[test]
fn both_storage_contracts_apply_membership_changes() {
    // Goal: through either contract, a learner added by a committed change is applied by
    // every node and then receives the log.
    for async_writes in [false, true] {
        let mut c = Cluster::new(2, async_writes);
        c.node(1).campaign().unwrap();
        c.stabilize();
        let storage3 = storage_with_learners(&[1, 2], &[3]);
        let cfg = Config {
            async_storage_writes: async_writes,
            ..config(3, ELECTION, HEARTBEAT)
        };
        c.nodes.insert(3, raw_node(&cfg, &storage3));
        c.storages.insert(3, storage3);
        c.applied.insert(3, Vec::new());
        c.node(1)
            .propose_conf_change(&conf_change(ConfChangeType::AddLearnerNode, 3))
            .unwrap();
        c.stabilize();
        c.node(1).propose(Bytes::from_static(b"after")).unwrap();
        c.stabilize();
        for id in 1..=3 {
            let cs = c.node(id).raft.prs.conf_state();
            assert_eq!(cs.learners, vec![3], "node {id}, async {async_writes}");
        }
        assert_eq!(c.applied_data(3), vec![&b"after"[..]]);
    }
}

// ---------------------------------------------------------------------------------------------
// The synchronous contract.
// ---------------------------------------------------------------------------------------------

#[test]
fn sync_ready_sequence_of_a_single_node() {
    // Goal: in the Ready/advance contract a single node's election and first commit go through
    // the documented Readies: (1) new role, term and vote, to persist with sync; (2) leader,
    // its empty entry to persist; (3) the commit index (no sync needed) and the entry to apply.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    assert!(!node.has_ready());
    node.campaign().unwrap();
    assert!(node.has_ready());

    let rd = node.ready();
    assert_eq!(
        rd.soft_state,
        Some(SoftState {
            leader_id: 0,
            raft_state: StateRole::Candidate
        })
    );
    assert_eq!(
        rd.hard_state,
        Some(HardState {
            term: 1,
            vote: 1,
            commit: 0
        })
    );
    assert!(rd.entries.is_empty() && rd.committed_entries.is_empty() && rd.messages.is_empty());
    assert!(rd.must_sync);
    persist_ready(&storage, &rd);
    node.advance();

    let rd = node.ready();
    assert_eq!(
        rd.soft_state,
        Some(SoftState {
            leader_id: 1,
            raft_state: StateRole::Leader
        })
    );
    assert_eq!(rd.hard_state, None);
    assert_eq!(rd.entries, vec![empty_entry(1, 1)]);
    assert!(
        rd.committed_entries.is_empty(),
        "not committed before it is durable"
    );
    assert!(rd.must_sync);
    persist_ready(&storage, &rd);
    node.advance();

    let rd = node.ready();
    assert_eq!(
        rd.hard_state,
        Some(HardState {
            term: 1,
            vote: 1,
            commit: 1
        })
    );
    assert_eq!(rd.committed_entries, vec![empty_entry(1, 1)]);
    assert!(rd.entries.is_empty());
    assert!(!rd.must_sync, "a commit index alone needs no sync");
    persist_ready(&storage, &rd);
    node.advance();
    assert!(!node.has_ready());
    assert_eq!(node.basic_status().applied, 1);
}

#[test]
fn sync_ready_carries_follower_acknowledgements_to_send_after_persisting() {
    // Goal: in the synchronous contract the follower's append acknowledgement is in the same
    // Ready as the entries it acknowledges (the application sends messages after persisting).
    let storage = storage_with_voters(&[1, 2]);
    let mut node = raw_node(&config(2, ELECTION, HEARTBEAT), &storage);
    node.step(append(1, 2, 1, (0, 0), vec![entry(1, 1, b"x")], 1))
        .unwrap();
    let rd = node.ready();
    assert_eq!(rd.entries, vec![entry(1, 1, b"x")]);
    assert_eq!(kinds(&rd.messages), vec![MessageType::MsgAppResp]);
    assert_eq!(rd.messages[0].index, 1);
    assert_eq!(
        rd.committed_entries,
        vec![entry(1, 1, b"x")],
        "unstable entries may be applied"
    );
}

#[test]
#[should_panic(expected = "ready() called twice without advance()")]
fn sync_ready_twice_without_advance_panics() {
    // Goal: Taking a second Ready before acknowledging the first is a programmer error.
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage_with_voters(&[1]));
    node.campaign().unwrap();
    let _ = node.ready();
    node.campaign().unwrap();
    let _ = node.ready();
}

#[test]
fn ready_hands_out_each_message_once() {
    // Goal: what a Ready hands out is accepted: the next Ready does not repeat it.
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    node.campaign().unwrap();
    let rd = node.ready();
    assert_eq!(kinds(&rd.messages), vec![MessageType::MsgVote; 2]);
    persist_ready(&storage, &rd);
    node.advance();
    assert!(!node.has_ready());
    assert_eq!(node.ready(), Ready::default());
}

#[test]
fn committed_entries_are_paged_by_max_committed_size_per_ready() {
    // Goal: `max_committed_size_per_ready` bounds the bytes of committed entries handed out
    // and not yet applied: Readies hand them out page by page, in order, without gaps.
    // Method: ten 84-byte entries (100 bytes with header) under a 250-byte budget.
    let storage = storage_with_voters(&[1]);
    let cfg = Config {
        max_committed_size_per_ready: 250,
        ..config(1, ELECTION, HEARTBEAT)
    };
    let mut node = raw_node(&cfg, &storage);
    node.campaign().unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, false);
    }
    for _ in 0..10 {
        node.propose(Bytes::from_static(&[5; 84])).unwrap();
    }
    let mut pages = Vec::new();
    while node.has_ready() {
        let (_, applied) = handle_ready(&mut node, &storage, false);
        if !applied.is_empty() {
            pages.push(applied.iter().map(|e| e.index).collect::<Vec<u64>>());
        }
    }
    assert_eq!(
        pages,
        vec![vec![2, 3], vec![4, 5], vec![6, 7], vec![8, 9], vec![10, 11]]
    );
}

#[test]
fn restart_hands_out_committed_entries_from_the_applied_index() {
    // Goal: a node restarted from storage hands out the committed but unapplied entries, from
    // `Config::applied` on, and no hard state (nothing changed).
    let storage = storage_with_voters(&[1]);
    storage
        .wl()
        .append(&[entry(1, 1, b"a"), entry(1, 2, b"b"), entry(1, 3, b"c")])
        .unwrap();
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 2,
    });
    for (applied, want) in [(0, vec![1, 2]), (1, vec![2]), (2, vec![])] {
        let cfg = Config {
            applied,
            ..config(1, ELECTION, HEARTBEAT)
        };
        let mut node = raw_node(&cfg, &storage);
        if want.is_empty() {
            assert!(!node.has_ready());
            continue;
        }
        let rd = node.ready();
        assert_eq!(
            rd.committed_entries
                .iter()
                .map(|e| e.index)
                .collect::<Vec<_>>(),
            want
        );
        assert_eq!((rd.hard_state, rd.soft_state), (None, None));
        assert!(rd.entries.is_empty());
        assert!(!rd.must_sync);
    }
}

#[test]
fn restart_from_a_snapshot_starts_after_it() {
    // Goal: a node restarted on a storage that holds a snapshot applies only what follows it.
    let storage = MemStorage::new();
    storage
        .wl()
        .apply_snapshot(snapshot(2, 1, &[1, 2]))
        .unwrap();
    storage.wl().append(&[entry(1, 3, b"foo")]).unwrap();
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 0,
        commit: 3,
    });
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    let rd = node.ready();
    assert_eq!(rd.committed_entries, vec![entry(1, 3, b"foo")]);
    assert!(
        rd.snapshot.is_none(),
        "the stored snapshot is not handed out again"
    );
}

#[test]
fn commit_pagination_after_restart_has_no_gaps() {
    // Goal: with a small budget, a restarted node applies its committed log page by page
    // without skipping or repeating entries.
    let storage = storage_with_voters(&[1]);
    let entries: Vec<Entry> = (1..=20)
        .map(|i| Entry::new(i, 1, Bytes::from_static(&[9; 40])))
        .collect();
    storage.wl().append(&entries).unwrap();
    storage.wl().set_hard_state(HardState {
        term: 1,
        vote: 1,
        commit: 20,
    });
    let cfg = Config {
        max_committed_size_per_ready: 120,
        ..config(1, ELECTION, HEARTBEAT)
    };
    let mut node = raw_node(&cfg, &storage);
    let mut next = 1;
    while node.has_ready() {
        let (_, applied) = handle_ready(&mut node, &storage, false);
        assert!(applied.len() <= 2, "two 56-byte entries per 120-byte page");
        for e in applied {
            assert_eq!(e.index, next);
            next += 1;
        }
    }
    assert_eq!(next, 21);
}

// ---------------------------------------------------------------------------------------------
// The asynchronous contract.
// ---------------------------------------------------------------------------------------------

#[test]
fn async_storage_messages_carry_the_right_responses() {
    // Goal: with async storage writes, each Ready hands persistence to MsgStorageAppend and
    // application to MsgStorageApply; each carries exactly the responses to deliver once its
    // work is done: the node's own vote and append acknowledgement, the append thread's
    // MsgStorageAppendResp naming the last entry written, the apply thread's
    // MsgStorageApplyResp naming the entries applied.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&async_config(1), &storage);
    node.campaign().unwrap();

    let rd = node.ready();
    assert_eq!(rd.messages.len(), 1);
    let append_msg = &rd.messages[0];
    assert_eq!(
        (append_msg.kind(), append_msg.to, append_msg.from),
        (MessageType::MsgStorageAppend, LOCAL_APPEND_THREAD, 1)
    );
    assert_eq!(
        (append_msg.term, append_msg.vote, append_msg.commit),
        (1, 1, 0)
    );
    assert_eq!(kinds(&append_msg.responses), vec![MessageType::MsgVoteResp]);
    assert_eq!(append_msg.responses[0].to, 1);
    persist_append_msg(&storage, append_msg);
    for resp in rd.messages[0].responses.clone() {
        node.step(resp).unwrap();
    }
    assert!(node.is_leader());

    let rd = node.ready();
    assert_eq!(rd.messages.len(), 1);
    let append_msg = &rd.messages[0];
    assert_eq!(append_msg.entries, vec![empty_entry(1, 1)]);
    assert_eq!(
        kinds(&append_msg.responses),
        vec![MessageType::MsgAppResp, MessageType::MsgStorageAppendResp]
    );
    let own_ack = &append_msg.responses[0];
    assert_eq!((own_ack.to, own_ack.index), (1, 1));
    let stable = &append_msg.responses[1];
    assert_eq!(
        (
            stable.to,
            stable.from,
            stable.index,
            stable.log_term,
            stable.term
        ),
        (1, LOCAL_APPEND_THREAD, 1, 1, 1)
    );
    persist_append_msg(&storage, append_msg);
    for resp in rd.messages[0].responses.clone() {
        node.step(resp).unwrap();
    }
    assert_eq!(node.raft.raft_log.committed, 1);
    assert!(
        node.raft.raft_log.unstable.entries.is_empty(),
        "marked stable"
    );

    let rd = node.ready();
    let kinds_out: Vec<(MessageType, u64)> = rd.messages.iter().map(|m| (m.kind(), m.to)).collect();
    assert_eq!(
        kinds_out,
        vec![
            (MessageType::MsgStorageAppend, LOCAL_APPEND_THREAD),
            (MessageType::MsgStorageApply, LOCAL_APPLY_THREAD)
        ]
    );
    assert_eq!(rd.messages[0].commit, 1);
    assert!(rd.messages[0].responses.is_empty());
    let apply_msg = &rd.messages[1];
    assert_eq!(apply_msg.entries, vec![empty_entry(1, 1)]);
    assert_eq!(
        kinds(&apply_msg.responses),
        vec![MessageType::MsgStorageApplyResp]
    );
    assert_eq!(
        (
            apply_msg.responses[0].from,
            apply_msg.responses[0].entries.len()
        ),
        (LOCAL_APPLY_THREAD, 1)
    );
    node.step(apply_msg.responses[0].clone()).unwrap();
    assert_eq!(node.basic_status().applied, 1);
    assert!(!node.has_ready());
}

#[test]
fn async_follower_acknowledges_only_through_the_append_thread() {
    // Goal: a follower's MsgAppResp is never in the Ready's messages directly: it rides in the
    // MsgStorageAppend's responses, to be sent once the entries are durable.
    let storage = storage_with_voters(&[1, 2]);
    let mut node = raw_node(&async_config(2), &storage);
    node.step(append(1, 2, 1, (0, 0), vec![entry(1, 1, b"x")], 1))
        .unwrap();
    let rd = node.ready();
    assert_eq!(
        kinds(&rd.messages),
        vec![MessageType::MsgStorageAppend],
        "nothing to apply yet"
    );
    let responses = &rd.messages[0].responses;
    assert_eq!(
        kinds(responses),
        vec![MessageType::MsgAppResp, MessageType::MsgStorageAppendResp]
    );
    assert_eq!((responses[0].to, responses[0].index), (1, 1));
    assert_eq!(
        rd.committed_entries,
        Vec::<Entry>::new(),
        "committed but not yet durable here"
    );
    persist_append_msg(&storage, &rd.messages[0]);
    for resp in rd.messages[0].responses.clone() {
        if resp.to == 2 {
            node.step(resp).unwrap();
        }
    }
    let rd = node.ready();
    assert_eq!(rd.committed_entries, vec![entry(1, 1, b"x")]);
    assert!(
        rd.messages
            .iter()
            .any(|m| m.kind() == MessageType::MsgStorageApply)
    );
}

#[test]
fn async_applies_in_flight_share_the_committed_size_budget() {
    // Goal: with async writes the budget covers every apply handed out and not acknowledged:
    // no new MsgStorageApply is issued until the apply thread answers.
    let storage = storage_with_voters(&[1]);
    let cfg = Config {
        max_committed_size_per_ready: 250,
        ..async_config(1)
    };
    let mut node = raw_node(&cfg, &storage);
    node.campaign().unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, true);
    }
    for _ in 0..6 {
        node.propose(Bytes::from_static(&[5; 84])).unwrap();
    }
    let mut pending_applies = Vec::new();
    for _ in 0..5 {
        if !node.has_ready() {
            break;
        }
        let rd = node.ready();
        for m in rd.messages {
            match m.to {
                LOCAL_APPEND_THREAD => {
                    persist_append_msg(&storage, &m);
                    for resp in m.responses {
                        node.step(resp).unwrap();
                    }
                }
                LOCAL_APPLY_THREAD => pending_applies.push(m),
                _ => {}
            }
        }
    }
    assert_eq!(
        pending_applies.len(),
        1,
        "one page, then the budget is spent"
    );
    assert_eq!(pending_applies[0].entries.len(), 2);
    for resp in pending_applies.remove(0).responses {
        node.step(resp).unwrap();
    }
    let rd = node.ready();
    let apply: Vec<&Message> = rd
        .messages
        .iter()
        .filter(|m| m.to == LOCAL_APPLY_THREAD)
        .collect();
    assert_eq!(apply.len(), 1);
    assert_eq!(
        apply[0].entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![4, 5]
    );
}

#[test]
fn async_stale_append_response_does_not_mark_replaced_entries_stable() {
    // Goal: an append thread's response that comes back after the term changed must not mark
    // as durable the entries now at those indexes (they may be another leader's): they are
    // handed to storage again.
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut node = raw_node(&async_config(2), &storage);
    node.step(append(1, 2, 1, (0, 0), vec![entry(1, 1, b"old")], 0))
        .unwrap();
    let rd = node.ready();
    let stale = rd.messages[0]
        .responses
        .iter()
        .find(|m| m.kind() == MessageType::MsgStorageAppendResp)
        .unwrap()
        .clone();
    // Before the write completes, a leader of term 2 replaces entry 1.
    node.step(append(3, 2, 2, (0, 0), vec![entry(2, 1, b"new")], 0))
        .unwrap();
    node.step(stale).unwrap();
    assert_eq!(
        node.raft.raft_log.unstable.entries,
        vec![entry(2, 1, b"new")]
    );
    let rd = node.ready();
    let append_msg = rd
        .messages
        .iter()
        .find(|m| m.kind() == MessageType::MsgStorageAppend)
        .unwrap();
    assert_eq!(append_msg.entries, vec![entry(2, 1, b"new")]);
}

#[test]
#[should_panic(expected = "advance() is not used with async storage writes")]
fn advance_in_async_mode_panics() {
    // Goal: With async storage writes progress comes from storage responses; `advance` panics.
    let mut node = raw_node(&async_config(1), &storage_with_voters(&[1]));
    node.advance();
}

// ---------------------------------------------------------------------------------------------
// Bootstrap, status, reports.
// ---------------------------------------------------------------------------------------------

#[test]
fn bootstrap_writes_one_committed_change_per_peer() {
    // Goal: bootstrapping an empty storage produces, in the first Ready, a hard state of term
    // 1 committing one AddNode entry per peer, and the node knows the group.
    let storage = MemStorage::new();
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    node.bootstrap(&[1, 2, 3]).unwrap();
    let rd = node.ready();
    assert_eq!(
        rd.hard_state,
        Some(HardState {
            term: 1,
            vote: 0,
            commit: 3
        })
    );
    assert_eq!(rd.entries.len(), 3);
    assert!(
        rd.entries
            .iter()
            .all(|e| e.entry_type == EntryType::EntryConfChange as i32 && e.term == 1)
    );
    assert_eq!(rd.committed_entries, rd.entries);
    assert!(rd.must_sync);
    let mut voters = node.raft.prs.conf_state().voters;
    voters.sort_unstable();
    assert_eq!(voters, vec![1, 2, 3]);
    persist_ready(&storage, &rd);
    apply_entries(&mut node, &rd.committed_entries);
    node.advance();
    node.campaign().unwrap();
    assert_eq!((node.raft.state, node.raft.term), (StateRole::Candidate, 2));
}

#[test]
fn bootstrap_refuses_a_non_empty_log_or_no_peers() {
    // Goal: bootstrap is only for a brand-new group; misuse is refused and changes nothing.
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &MemStorage::new());
    let before = fingerprint(&node.raft);
    assert!(matches!(
        node.bootstrap(&[]).unwrap_err(),
        Error::RequestRefused { .. }
    ));
    assert_eq!(fingerprint(&node.raft), before);
    assert!(!node.has_ready());
    node.bootstrap(&[1]).unwrap();
    let before = fingerprint(&node.raft);
    assert!(matches!(
        node.bootstrap(&[1, 2]).unwrap_err(),
        Error::RequestRefused { .. }
    ));
    assert_eq!(fingerprint(&node.raft), before);
}

#[test]
fn status_reports_state_and_progress_on_leaders_only() {
    // Goal: `basic_status` reports id, hard and soft state, applied index and transferee;
    // `status` adds the configuration and, on a leader, every peer's progress.
    let mut c = Cluster::new(3, false);
    c.node(1).campaign().unwrap();
    c.stabilize();
    let basic = c.node(1).basic_status();
    assert_eq!(basic.id, 1);
    assert_eq!(
        basic.hard_state,
        HardState {
            term: 1,
            vote: 1,
            commit: 1
        }
    );
    assert_eq!(
        basic.soft_state,
        SoftState {
            leader_id: 1,
            raft_state: StateRole::Leader
        }
    );
    assert_eq!((basic.applied, basic.lead_transferee), (1, 0));
    let status = c.node(1).status();
    assert_eq!(status.basic, basic);
    let ids: Vec<u64> = status.progress.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert!(
        status
            .progress
            .iter()
            .all(|(_, pr)| pr.matched == 1 && pr.state == ProgressState::Replicate)
    );
    assert_eq!(status.config.voters.ids().len(), 3);
    let follower = c.node(2).status();
    assert!(follower.progress.is_empty());
    assert_eq!(
        follower.basic.soft_state,
        SoftState {
            leader_id: 1,
            raft_state: StateRole::Follower
        }
    );
    c.node(1).transfer_leader(3).unwrap();
    assert_eq!(c.node(1).basic_status().lead_transferee, 3);
}

#[test]
fn report_unreachable_and_report_snapshot_update_progress() {
    // Goal: the transport's reports reach the leader's progress: an unreachable follower is
    // probed again; a snapshot report ends the snapshot state (failure forgets the snapshot).
    let mut c = Cluster::new(3, false);
    c.node(1).campaign().unwrap();
    c.stabilize();
    c.node(1).report_unreachable(2);
    assert_eq!(
        c.node(1).raft.prs.get(2).unwrap().state,
        ProgressState::Probe
    );
    for (status, want_next) in [(SnapshotStatus::Finish, 6), (SnapshotStatus::Failure, 2)] {
        c.node(1).raft.prs.get_mut(3).unwrap().become_snapshot(5);
        c.node(1).report_snapshot(3, status);
        let pr = c.node(1).raft.prs.get(3).unwrap();
        assert_eq!(
            (pr.state, pr.next, pr.pending_snapshot),
            (ProgressState::Probe, want_next, 0),
            "{status:?}"
        );
    }
}

#[test]
fn read_index_through_raw_node_reaches_the_ready() {
    // Goal: `read_index` answers arrive in the Ready's read states; without a leader the call
    // fails.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    assert_eq!(
        node.read_index(Bytes::from_static(b"ctx")).unwrap_err(),
        Error::ProposalDropped {
            reason: DropReason::NoLeader
        }
    );
    node.campaign().unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, false);
    }
    node.read_index(Bytes::from_static(b"ctx")).unwrap();
    let rd = node.ready();
    assert_eq!(
        rd.read_states,
        vec![raft::ReadState {
            index: 1,
            request_ctx: Bytes::from_static(b"ctx")
        }]
    );
}

#[test]
fn joint_change_is_left_automatically_through_raw_node() {
    // Goal: applying an auto-leave joint change through the Ready loop makes the leader
    // propose the leaving change itself; the group ends outside the joint state.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    node.campaign().unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, false);
    }
    let cc = conf_change_v2(
        ConfChangeTransition::Implicit,
        &[(ConfChangeType::AddLearnerNode, 2)],
    );
    node.propose_conf_change(&cc).unwrap();
    let mut applied_changes = Vec::new();
    while node.has_ready() {
        let (_, applied) = handle_ready(&mut node, &storage, false);
        applied_changes.extend(applied.into_iter().filter(raft::raft::is_conf_change_entry));
    }
    assert_eq!(
        applied_changes.len(),
        2,
        "the change and the automatic leave"
    );
    assert_eq!(
        raft::decode_conf_change(&applied_changes[1]).unwrap(),
        ConfChangeV2::default()
    );
    assert!(!node.raft.prs.config.voters.is_joint());
    assert_eq!(node.raft.prs.conf_state().learners, vec![2]);
}

#[test]
fn duplicate_add_node_is_logged_twice_and_applied_idempotently() {
    // Goal: proposing the same change twice (after the first is applied) appends it twice;
    // applying it again changes nothing.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    node.campaign().unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, false);
    }
    let cc = conf_change(ConfChangeType::AddLearnerNode, 2);
    for _ in 0..2 {
        node.propose_conf_change(&cc).unwrap();
        while node.has_ready() {
            let _ = handle_ready(&mut node, &storage, false);
        }
    }
    let changes = stored_entries(&storage)
        .iter()
        .filter(|e| raft::raft::is_conf_change_entry(e))
        .count();
    assert_eq!(changes, 2);
    assert_eq!(node.raft.prs.conf_state().learners, vec![2]);
}

// ---------------------------------------------------------------------------------------------
// What `step` accepts.
// ---------------------------------------------------------------------------------------------

#[test]
fn step_refuses_local_messages_from_the_network() {
    // Goal: message types the core creates for itself or its storage threads are refused when
    // they come from a peer, and change nothing.
    let local = [
        MessageType::MsgHup,
        MessageType::MsgBeat,
        MessageType::MsgUnreachable,
        MessageType::MsgSnapStatus,
        MessageType::MsgCheckQuorum,
        MessageType::MsgStorageAppend,
        MessageType::MsgStorageAppendResp,
        MessageType::MsgStorageApply,
        MessageType::MsgStorageApplyResp,
    ];
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    node.campaign().unwrap();
    let _ = node.ready();
    node.advance();
    for kind in local {
        let before = fingerprint(&node.raft);
        assert_eq!(
            node.step(msg_term(2, 1, kind, 1)).unwrap_err(),
            Error::StepLocalMsg,
            "{kind:?}"
        );
        assert_eq!(fingerprint(&node.raft), before, "{kind:?}");
    }
}

#[test]
fn step_refuses_responses_from_peers_outside_the_configuration() {
    // Goal: an answer from a node that is not a member is refused and changes nothing; a
    // request from it is still handled.
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    let responses = [
        MessageType::MsgAppResp,
        MessageType::MsgVoteResp,
        MessageType::MsgPreVoteResp,
        MessageType::MsgHeartbeatResp,
        MessageType::MsgReadIndexResp,
    ];
    for kind in responses {
        let before = fingerprint(&node.raft);
        assert_eq!(
            node.step(msg_term(9, 1, kind, 5)).unwrap_err(),
            Error::StepPeerNotFound,
            "{kind:?}"
        );
        assert_eq!(fingerprint(&node.raft), before, "{kind:?}");
    }
    node.step(Message {
        index: 0,
        ..msg_term(9, 1, MessageType::MsgVote, 5)
    })
    .unwrap();
    assert_eq!(node.raft.term, 5);
}

#[test]
fn step_accepts_storage_responses_from_the_local_threads() {
    // Goal: the storage threads' responses are local messages that `step` must accept when
    // they come from those threads.
    let storage = storage_with_voters(&[1]);
    let mut node = raw_node(&async_config(1), &storage);
    let resp = Message {
        from: LOCAL_APPLY_THREAD,
        to: 1,
        ..Message::of_type(MessageType::MsgStorageApplyResp)
    };
    node.step(resp).unwrap();
    let resp = Message {
        from: LOCAL_APPEND_THREAD,
        to: 1,
        ..Message::of_type(MessageType::MsgStorageAppendResp)
    };
    node.step(resp).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Ticks.
// ---------------------------------------------------------------------------------------------

#[test]
fn tick_quiesced_never_triggers_an_election_or_a_heartbeat() {
    // Goal: quiesced ticks advance the election clock but never act on it: a follower does not
    // campaign, a leader sends no heartbeat.
    let storage = storage_with_voters(&[1, 2]);
    let mut follower = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    for _ in 0..10 * ELECTION {
        follower.tick_quiesced();
    }
    assert_eq!(follower.raft.state, StateRole::Follower);
    assert_eq!(follower.raft.election_elapsed(), 10 * ELECTION);
    assert!(!follower.has_ready());

    let leader_storage = storage_with_voters(&[1, 2]);
    let mut leader = raw_node(&config(1, ELECTION, HEARTBEAT), &leader_storage);
    leader.campaign().unwrap();
    let _ = handle_ready(&mut leader, &leader_storage, false);
    leader
        .step(msg_term(2, 1, MessageType::MsgVoteResp, 1))
        .unwrap();
    while leader.has_ready() {
        let _ = handle_ready(&mut leader, &leader_storage, false);
    }
    for _ in 0..10 * ELECTION {
        leader.tick_quiesced();
    }
    assert!(leader.is_leader());
    assert!(!leader.has_ready());
}

#[test]
fn tick_drives_elections_and_heartbeats() {
    // Goal: regular ticks make a follower campaign after its timeout and a leader beat every
    // heartbeat interval.
    let storage = storage_with_voters(&[1, 2]);
    let mut node = raw_node(&config(1, ELECTION, HEARTBEAT), &storage);
    for _ in 0..2 * ELECTION {
        node.tick();
    }
    assert_eq!(node.raft.state, StateRole::Candidate);
    let rd = node.ready();
    assert!(rd.messages.iter().any(|m| m.kind() == MessageType::MsgVote));
}

// ---------------------------------------------------------------------------------------------
// Config.
// ---------------------------------------------------------------------------------------------

#[test]
fn invalid_config_is_refused_naming_the_field() {
    // Goal: `RawNode::new` validates the config and names the first unusable field.
    let cases: Vec<(Config, &str)> = vec![
        (
            Config {
                id: 0,
                ..Config::new(1)
            },
            "id",
        ),
        (Config::new(LOCAL_APPEND_THREAD), "id"),
        (Config::new(LOCAL_APPLY_THREAD), "id"),
        (
            Config {
                heartbeat_tick: 0,
                ..Config::new(1)
            },
            "heartbeat_tick",
        ),
        (
            Config {
                election_tick: 1,
                heartbeat_tick: 1,
                ..Config::new(1)
            },
            "election_tick",
        ),
        (
            Config {
                max_inflight_msgs: 0,
                ..Config::new(1)
            },
            "max_inflight_msgs",
        ),
        (
            Config {
                max_inflight_bytes: 10,
                max_size_per_msg: 100,
                ..Config::new(1)
            },
            "max_inflight_bytes",
        ),
        (
            Config {
                read_only_option: ReadOnlyOption::LeaseBased,
                ..Config::new(1)
            },
            "read_only_option",
        ),
    ];
    for (cfg, field) in cases {
        match RawNode::new(&cfg, storage_with_voters(&[1])) {
            Err(Error::ConfigInvalid { field: got, reason }) => {
                assert_eq!(got, field);
                assert!(!reason.is_empty());
                let text = Error::ConfigInvalid { field: got, reason }.to_string();
                assert!(text.contains(field), "{text}");
            }
            Err(other) => panic!("{field}: {other:?}"),
            Ok(_) => panic!("{field}: accepted"),
        }
    }
}

#[test]
fn zero_size_limits_mean_one_entry_per_message_and_per_apply() {
    // Goal: `max_size_per_msg` 0 is documented as one entry per message, and with
    // `max_committed_size_per_ready` 0 (meaning `max_size_per_msg`) one entry per apply; such
    // a config is valid and the node works.
    let storage = storage_with_voters(&[1, 2]);
    let cfg = Config {
        max_size_per_msg: 0,
        ..config(1, ELECTION, HEARTBEAT)
    };
    cfg.validate().unwrap();
    let mut node = RawNode::new(&cfg, storage.clone()).expect("a valid config builds a node");
    node.campaign().unwrap();
    node.step(msg_term(2, 1, MessageType::MsgVoteResp, 1))
        .unwrap();
    while node.has_ready() {
        let _ = handle_ready(&mut node, &storage, false);
    }
    assert!(node.is_leader());
    node.step(Message {
        index: 1,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    for _ in 0..3 {
        node.propose(Bytes::from_static(b"x")).unwrap();
    }
    let mut appends = Vec::new();
    let mut applied_pages = Vec::new();
    for _ in 0..20 {
        if !node.has_ready() {
            break;
        }
        let (out, applied) = handle_ready(&mut node, &storage, false);
        for m in out
            .iter()
            .filter(|m| m.kind() == MessageType::MsgApp && !m.entries.is_empty())
        {
            appends.push(m.entries.len());
            let ack = Message {
                index: m.index + m.entries.len() as u64,
                ..msg_term(2, 1, MessageType::MsgAppResp, 1)
            };
            node.step(ack).unwrap();
        }
        if !applied.is_empty() {
            applied_pages.push(applied.len());
        }
    }
    assert_eq!(appends, vec![1, 1, 1]);
    assert!(applied_pages.iter().all(|&n| n == 1), "{applied_pages:?}");
    assert_eq!(node.basic_status().applied, 4);
}

#[test]
fn seed_makes_election_timeouts_reproducible() {
    // Goal: the election jitter comes only from `Config::seed` mixed with the id: the same seed
    // and id draw the same timeouts, another seed or id draws others.
    let draws = |id: u64, seed: u64| -> Vec<usize> {
        let cfg = Config {
            seed,
            ..config(id, ELECTION, HEARTBEAT)
        };
        let mut node = raw_node(&cfg, &storage_with_voters(&[1, 2, 3]));
        (1..=30)
            .map(|term| {
                node.raft.become_follower(term, 0);
                node.raft.randomized_election_timeout()
            })
            .collect()
    };
    assert_eq!(draws(1, 7), draws(1, 7));
    assert_ne!(draws(1, 7), draws(1, 8));
    assert_ne!(draws(1, 7), draws(2, 7));
}

#[test]
fn every_option_has_a_usable_default() {
    // Goal: the defaults are the documented ones and valid once an id is set.
    let cfg = Config::new(1);
    cfg.validate().unwrap();
    assert_eq!(
        (cfg.election_tick, cfg.heartbeat_tick, cfg.applied),
        (10, 1, 0)
    );
    assert_eq!(
        (cfg.max_size_per_msg, cfg.max_committed_size_per_ready),
        (1 << 20, 0)
    );
    assert_eq!(
        (
            cfg.max_uncommitted_entries_size,
            cfg.max_inflight_msgs,
            cfg.max_inflight_bytes
        ),
        (0, 256, 0)
    );
    assert!(!cfg.async_storage_writes && !cfg.check_quorum && !cfg.pre_vote);
    assert_eq!(cfg.read_only_option, ReadOnlyOption::Safe);
    assert!(!cfg.disable_proposal_forwarding && !cfg.disable_conf_change_validation);
    assert!(cfg.step_down_on_removal);
    let node = raw_node(&cfg, &storage_with_voters(&[1]));
    assert_eq!(
        (node.raft.election_timeout(), node.raft.heartbeat_timeout()),
        (10, 1)
    );
}

#[test]
fn sync_ready_hands_out_a_snapshot_before_the_entries_after_it() {
    // Goal: a follower installing a snapshot gets it in a Ready, with the entries after it to
    // persist; entries after the snapshot are applied only once the snapshot is applied.
    let storage = storage_with_voters(&[1, 2]);
    let mut node = raw_node(&config(2, ELECTION, HEARTBEAT), &storage);
    let snap = snapshot(11, 11, &[1, 2]);
    node.step(Message {
        snapshot: Some(Box::new(snap.clone())),
        ..msg_term(1, 2, MessageType::MsgSnap, 11)
    })
    .unwrap();
    node.step(append(
        1,
        2,
        11,
        (11, 11),
        vec![entry(11, 12, b"after")],
        12,
    ))
    .unwrap();
    let rd = node.ready();
    assert_eq!(rd.snapshot, Some(snap));
    assert_eq!(rd.entries, vec![entry(11, 12, b"after")]);
    assert!(
        rd.committed_entries.is_empty(),
        "nothing is applied before the snapshot"
    );
    assert_eq!(rd.hard_state.map(|hs| hs.commit), Some(12));
    persist_ready(&storage, &rd);
    node.advance();
    assert_eq!(
        node.basic_status().applied,
        11,
        "the snapshot counts as applied"
    );
    let rd = node.ready();
    assert_eq!(rd.committed_entries, vec![entry(11, 12, b"after")]);
    assert!(rd.snapshot.is_none());
}

#[test]
fn async_snapshot_written_under_an_older_term_still_counts() {
    // Goal: a snapshot holds committed state, so the append thread's confirmation counts even
    // when it returns after the term changed (unlike entries, which may have been replaced).
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut node = raw_node(&async_config(2), &storage);
    let snap = snapshot(11, 11, &[1, 2, 3]);
    node.step(Message {
        snapshot: Some(Box::new(snap)),
        ..msg_term(1, 2, MessageType::MsgSnap, 11)
    })
    .unwrap();
    let rd = node.ready();
    let append_msg = rd
        .messages
        .iter()
        .find(|m| m.to == LOCAL_APPEND_THREAD)
        .unwrap()
        .clone();
    assert_eq!(append_msg.snapshot.as_ref().map(|s| s.index()), Some(11));
    persist_append_msg(&storage, &append_msg);
    // A vote request of term 12 arrives before the write is confirmed.
    node.step(Message {
        index: 11,
        log_term: 11,
        ..msg_term(3, 2, MessageType::MsgVote, 12)
    })
    .unwrap();
    assert_eq!(node.raft.term, 12);
    for resp in append_msg.responses {
        if resp.to == 2 {
            node.step(resp).unwrap();
        }
    }
    assert!(node.raft.raft_log.unstable.snapshot.is_none());
    assert_eq!(node.basic_status().applied, 11);
    assert!(
        node.raft.promotable(),
        "the snapshot is durable: the node may campaign again"
    );
}
