//! One Raft group of three replicas driven in lockstep rounds on in-memory storage.
//!
//! A round steps every replica's inbox, takes its `Ready`, persists to its `MemStorage`
//! (synchronous contract), and queues outgoing messages for the *next* round: every message
//! costs exactly one hop per round, whatever the order replicas are processed in.

use bytes::Bytes;
use raft::raftpb::{ConfState, Entry, Message, MessageType};
use raft::{Config, MemStorage, RawNode, StateRole};

/// The replicas' ids inside every group.
pub const PEERS: [u64; 3] = [1, 2, 3];

/// What a round did, for the benchmark's message statistics.
#[derive(Default, Clone, Copy)]
pub struct RoundStats {
    /// Messages routed between replicas.
    pub messages: u64,
    /// `MsgApp` messages that carried entries.
    pub appends: u64,
    /// Entries carried by those messages.
    pub append_entries: u64,
}

impl RoundStats {
    /// Adds another round's figures.
    pub fn add(&mut self, other: RoundStats) {
        self.messages += other.messages;
        self.appends += other.appends;
        self.append_entries += other.append_entries;
    }
}

struct Replica {
    node: RawNode<MemStorage>,
    storage: MemStorage,
    inbox: Vec<Message>,
    /// The applied index at which the log is next compacted.
    compact_at: u64,
}

/// Entries kept below the applied index when the log is compacted; followers trail the leader
/// by a few rounds at most, so this never forces a snapshot.
const LOG_KEEP_ENTRIES: u64 = 1024;

/// Compacts once this many entries are applied beyond what is kept, so the cost is amortized.
const LOG_COMPACT_BATCH: u64 = 4096;

fn compact_applied(r: &mut Replica) {
    let applied = r.node.raft.raft_log.applied;
    if applied >= r.compact_at {
        let to = applied - LOG_KEEP_ENTRIES;
        r.storage
            .wl()
            .compact(to)
            .expect("invariant: compacting below the applied index");
        r.compact_at = applied + LOG_COMPACT_BATCH;
    }
}

/// A group of three replicas (ids 1, 2, 3).
pub struct Group {
    replicas: Vec<Replica>,
    /// Each replica's outgoing messages of the current round, routed once the round ends.
    outbox: Vec<Vec<Message>>,
}

/// The core's configuration for the benchmark: 100 ms ticks, heartbeat every 2 ticks, election
/// after 20, 1 MiB messages, 256 appends in flight.
fn config(id: u64, seed: u64) -> Config {
    Config {
        election_tick: 20,
        heartbeat_tick: 2,
        max_size_per_msg: 1 << 20,
        max_inflight_msgs: 256,
        seed,
        ..Config::new(id)
    }
}

impl Group {
    /// A fresh group; call [`Group::campaign`] to elect replica 1.
    pub fn new(seed: u64) -> anyhow::Result<Group> {
        let mut replicas = Vec::with_capacity(PEERS.len());
        for id in PEERS {
            let storage = MemStorage::new_with_conf_state(ConfState {
                voters: PEERS.to_vec(),
                ..ConfState::default()
            });
            let node = RawNode::new(&config(id, seed), storage.clone())?;
            replicas.push(Replica {
                node,
                storage,
                inbox: Vec::new(),
                compact_at: LOG_KEEP_ENTRIES + LOG_COMPACT_BATCH,
            });
        }
        Ok(Group {
            replicas,
            outbox: Vec::new(),
        })
    }

    /// Makes replica 1 campaign.
    pub fn campaign(&mut self) -> anyhow::Result<()> {
        self.replicas[0].node.campaign()?;
        Ok(())
    }

    /// The index (0..3) of the replica that is leader, if any.
    pub fn leader(&self) -> Option<usize> {
        self.replicas
            .iter()
            .position(|r| r.node.raft.state == StateRole::Leader)
    }

    /// Frees the benchmark's own message queues (not the replicas' state), so that a memory
    /// measurement counts the replicas only.
    pub fn release_buffers(&mut self) {
        self.outbox = Vec::new();
        for r in &mut self.replicas {
            r.inbox = Vec::new();
        }
    }

    /// Ticks every replica.
    pub fn tick(&mut self) {
        for r in &mut self.replicas {
            r.node.tick();
        }
    }

    /// Proposes `data` at the leader. Returns false if there is none or it refused.
    pub fn propose(&mut self, data: Bytes) -> bool {
        match self.leader() {
            Some(i) => self.replicas[i].node.propose(data).is_ok(),
            None => false,
        }
    }

    /// Runs one round. `on_leader_apply` sees every entry the leader applies. Returns whether
    /// the group has more work (messages in flight or a pending `Ready`).
    pub fn round(
        &mut self,
        stats: &mut RoundStats,
        mut on_leader_apply: impl FnMut(&Entry),
    ) -> bool {
        for r in &mut self.replicas {
            for m in r.inbox.drain(..) {
                // Stale or unknown-peer responses are refused by design; nothing to do.
                let _ = r.node.step(m);
            }
            if !r.node.has_ready() {
                continue;
            }
            let mut rd = r.node.ready();
            {
                let mut core = r.storage.wl();
                if let Some(hs) = rd.hard_state {
                    core.set_hard_state(hs);
                }
                if !rd.entries.is_empty() {
                    core.append_owned(std::mem::take(&mut rd.entries))
                        .expect("invariant: ready entries follow the log");
                }
            }
            let is_leader = r.node.raft.state == StateRole::Leader;
            if is_leader {
                for e in &rd.committed_entries {
                    on_leader_apply(e);
                }
            }
            if !rd.messages.is_empty() {
                self.outbox.push(rd.messages);
            }
            r.node.advance();
            compact_applied(r);
        }
        let mut more = false;
        for m in self.outbox.drain(..).flatten() {
            stats.messages += 1;
            if m.msg_type == MessageType::MsgApp as i32 && !m.entries.is_empty() {
                stats.appends += 1;
                stats.append_entries += m.entries.len() as u64;
            }
            let to = m.to as usize - 1;
            self.replicas[to].inbox.push(m);
            more = true;
        }
        more || self.replicas.iter().any(|r| r.node.has_ready())
    }
}
