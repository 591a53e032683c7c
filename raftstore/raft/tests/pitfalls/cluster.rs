//! A small cluster of `RawNode`s on `MemStorage` for the pitfall tests, driven by hand.
//!
//! Nodes use the synchronous `Ready`/`advance` contract unless built with async storage
//! writes, in which case the test drives their append and apply messages itself. Messages wait
//! in `in_flight` until delivered; links can be cut in either direction.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use raft::raftpb::{ConfState, Entry, EntryType, Message, MessageType, Snapshot};
use raft::{Config, MemStorage, RawNode, ReadState, StateRole, decode_conf_change};

/// One node and its storage.
pub struct Node {
    pub raw: RawNode<MemStorage>,
    pub storage: MemStorage,
    /// Normal entries applied, in order.
    pub applied: Vec<Entry>,
    /// Read states handed out, in order.
    pub reads: Vec<ReadState>,
}

/// Nodes and the messages between them.
pub struct Cluster {
    pub nodes: BTreeMap<u64, Node>,
    pub in_flight: Vec<Message>,
    /// Links `(from, to)` whose messages are dropped.
    pub cut: BTreeSet<(u64, u64)>,
}

/// The configuration every pitfall test starts from: election 10 ticks, heartbeat 1.
pub fn config(id: u64) -> Config {
    Config {
        election_tick: 10,
        heartbeat_tick: 1,
        seed: 7,
        ..Config::new(id)
    }
}

impl Cluster {
    /// `voters` as a fresh group, each node configured by `cfg`.
    pub fn new(voters: &[u64], cfg: impl Fn(u64) -> Config) -> Cluster {
        Cluster::with_conf_state(
            &ConfState {
                voters: voters.to_vec(),
                ..ConfState::default()
            },
            cfg,
        )
    }

    /// A fresh group with the given membership (learners included).
    pub fn with_conf_state(cs: &ConfState, cfg: impl Fn(u64) -> Config) -> Cluster {
        let mut nodes = BTreeMap::new();
        for &id in cs.voters.iter().chain(cs.learners.iter()) {
            let storage = MemStorage::new_with_conf_state(cs.clone());
            let raw = RawNode::new(&cfg(id), storage.clone()).unwrap();
            nodes.insert(
                id,
                Node {
                    raw,
                    storage,
                    applied: Vec::new(),
                    reads: Vec::new(),
                },
            );
        }
        Cluster {
            nodes,
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
        }
    }

    pub fn node(&mut self, id: u64) -> &mut RawNode<MemStorage> {
        &mut self.nodes.get_mut(&id).unwrap().raw
    }

    pub fn state(&self, id: u64) -> StateRole {
        self.nodes[&id].raw.raft.state
    }

    pub fn committed(&self, id: u64) -> u64 {
        self.nodes[&id].raw.raft.raft_log.committed
    }

    /// Handles one node's `Ready` in the synchronous contract: persist, queue messages, apply
    /// (conf changes included), advance. Returns whether there was one.
    pub fn process_ready(&mut self, id: u64) -> bool {
        let node = self.nodes.get_mut(&id).unwrap();
        if !node.raw.has_ready() {
            return false;
        }
        let rd = node.raw.ready();
        {
            let mut core = node.storage.wl();
            if let Some(snap) = &rd.snapshot {
                core.apply_snapshot(snap.clone()).unwrap();
            }
            core.append(&rd.entries).unwrap();
            if let Some(hs) = rd.hard_state {
                core.set_hard_state(hs);
            }
        }
        self.in_flight.extend(rd.messages);
        node.reads.extend(rd.read_states);
        apply_entries(node, &rd.committed_entries);
        node.raw.advance();
        true
    }

    /// Delivers every in-flight message addressed to a node in `to` (all nodes if empty),
    /// dropping those on cut links. Returns how many were delivered.
    pub fn deliver(&mut self, to: &[u64]) -> usize {
        let (now, later): (Vec<Message>, Vec<Message>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| to.is_empty() || to.contains(&m.to));
        self.in_flight = later;
        let mut delivered = 0;
        for m in now {
            if self.cut.contains(&(m.from, m.to)) || !self.nodes.contains_key(&m.to) {
                continue;
            }
            let _ = self.node(m.to).step(m);
            delivered += 1;
        }
        delivered
    }

    /// Processes readies and delivers messages until nothing moves.
    pub fn stabilize(&mut self) {
        for _ in 0..1000 {
            let ids: Vec<u64> = self.nodes.keys().copied().collect();
            let mut moved = false;
            for id in ids {
                moved |= self.process_ready(id);
            }
            moved |= self.deliver(&[]) > 0;
            if !moved {
                return;
            }
        }
        panic!("cluster did not stabilize");
    }

    /// Takes the read states node `id` handed out so far.
    pub fn reads(&mut self, id: u64) -> Vec<ReadState> {
        std::mem::take(&mut self.nodes.get_mut(&id).unwrap().reads)
    }

    /// Cuts every link to and from `id`.
    pub fn isolate(&mut self, id: u64) {
        for &other in self.nodes.keys() {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&mut self) {
        self.cut.clear();
    }

    /// Campaigns `id` and stabilizes; asserts it won.
    pub fn elect(&mut self, id: u64) {
        self.node(id).campaign().unwrap();
        self.stabilize();
        assert_eq!(
            self.state(id),
            StateRole::Leader,
            "node {id} should have won"
        );
    }

    /// Ticks `id` `n` times.
    pub fn tick(&mut self, id: u64, n: usize) {
        for _ in 0..n {
            self.node(id).tick();
        }
    }

    /// Takes the in-flight messages of one type.
    pub fn take(&mut self, kind: MessageType) -> Vec<Message> {
        let (taken, rest) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|m| m.msg_type == kind as i32);
        self.in_flight = rest;
        taken
    }
}

fn apply_entries(node: &mut Node, entries: &[Entry]) {
    for e in entries {
        if e.entry_type == EntryType::EntryNormal as i32 {
            if !e.data.is_empty() {
                node.applied.push(e.clone());
            }
        } else {
            let cc = decode_conf_change(e).unwrap();
            let cs = node.raw.apply_conf_change(&cc).unwrap();
            node.storage.wl().set_conf_state(cs);
        }
    }
}

/// A snapshot at `index`/`term` with the given voters.
pub fn snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
    Snapshot {
        data: Bytes::new(),
        metadata: Some(raft::raftpb::SnapshotMetadata {
            conf_state: Some(ConfState {
                voters: voters.to_vec(),
                ..ConfState::default()
            }),
            index,
            term,
        }),
    }
}
