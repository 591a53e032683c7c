//! What a seed does: its settings (cluster shape, storage modes, Raft options, network faults)
//! and the mix of actions its steps draw from.
//!
//! Settings and weights are drawn per seed ("swarm testing", as tigerbeetle's VOPR does): one
//! seed crashes nodes often and never partitions, another partitions constantly and reads a lot.
//! A mix that is uniform across seeds would make every seed average and rare interleavings rarer.
//!
//! # Liveness notes
//!
//! Configuration changes take effect when applied, as in etcd, and a node that has not learned
//! that a change is committed elects with the previous configuration. Two known consequences of
//! that design (etcd-io/etcd#12359) would fail the liveness phase without telling us anything
//! new, so the workload avoids them, and nothing else:
//!
//! * a change that does not keep a majority of the old and of the new voters can leave no
//!   electable node if its leader is deposed (crash, partition, a competing election) before
//!   the remaining voters have its log: such changes only happen in calm seeds, which have no
//!   faults and no leadership churn, and only leaders propose changes elsewhere (a follower's
//!   stale configuration could not tell whether a change keeps a majority);
//! * without `PreVote`, a voter left behind on an older configuration campaigns at ever higher
//!   terms that the new configuration's candidates never hear of, and the election becomes a race
//!   of two random walks with no bound on its length: membership changes only with `PreVote`.

use raft::ReadOnlyOption;
use raft::raftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
};

use crate::network::NetworkOptions;
use crate::rng::SimRng;

/// One kind of step. The simulator picks the node (or link) when it performs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Every running node ticks once; virtual time advances by one tick.
    TickAll,
    /// One node ticks alone (clock skew; never with lease reads, which assume bounded skew).
    TickOne,
    /// Up to four deliverable messages are delivered (or dropped).
    Deliver,
    /// A node handles its `Ready`.
    Ready,
    /// An append thread persists its next `MsgStorageAppend`.
    AppendThread,
    /// An apply thread applies its next `MsgStorageApply`.
    ApplyThread,
    /// A client proposes a write.
    Propose,
    /// A client starts a read.
    Read,
    /// A configuration change is proposed.
    ConfChange,
    /// A leadership transfer is requested.
    Transfer,
    /// A node snapshots its state machine and compacts its log.
    Compact,
    /// A node crashes.
    Crash,
    /// A crashed node restarts.
    Restart,
    /// Some links are blocked.
    Partition,
    /// Every partition heals.
    Heal,
    /// A node campaigns at once.
    Campaign,
    /// A follower forgets its leader.
    ForgetLeader,
}

impl Action {
    /// Every action, in the order of [`SimOptions::weights`].
    pub const ALL: [Action; 17] = [
        Action::TickAll,
        Action::TickOne,
        Action::Deliver,
        Action::Ready,
        Action::AppendThread,
        Action::ApplyThread,
        Action::Propose,
        Action::Read,
        Action::ConfChange,
        Action::Transfer,
        Action::Compact,
        Action::Crash,
        Action::Restart,
        Action::Partition,
        Action::Heal,
        Action::Campaign,
        Action::ForgetLeader,
    ];
}

/// Everything drawn once per seed.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Nodes in the universe, ids `1..=node_count`.
    pub node_count: usize,
    /// Nodes `1..=initial_voters` start as voters.
    pub initial_voters: usize,
    /// The next `initial_learners` nodes start as learners; the rest start empty.
    pub initial_learners: usize,
    /// Per node: whether it uses asynchronous storage writes.
    pub async_storage: Vec<bool>,
    /// Raft's `PreVote`.
    pub pre_vote: bool,
    /// Raft's `CheckQuorum`.
    pub check_quorum: bool,
    /// Lease-based reads (only with `CheckQuorum`).
    pub lease_reads: bool,
    /// Raft's election timeout, in ticks.
    pub election_tick: usize,
    /// Raft's heartbeat interval, in ticks.
    pub heartbeat_tick: usize,
    /// Raft's `max_size_per_msg`.
    pub max_size_per_msg: u64,
    /// Raft's `max_inflight_msgs`.
    pub max_inflight_msgs: usize,
    /// Raft's `max_committed_size_per_ready`.
    pub max_committed_size_per_ready: u64,
    /// Raft's `max_uncommitted_entries_size`.
    pub max_uncommitted_entries_size: u64,
    /// Raft's `step_down_on_removal`.
    pub step_down_on_removal: bool,
    /// Whether applications persist their state machine on every apply.
    pub state_machine_durable: bool,
    /// The chance that a node crashes right after it made a new vote durable.
    pub crash_after_vote_rate: f64,
    /// The chance that a new leader is crashed or cut off soon after its election.
    pub new_leader_fault_rate: f64,
    /// Whether configuration changes may drop below a kept majority (see
    /// [`random_conf_change`]): only in calm seeds, without faults or leadership churn.
    pub any_conf_change: bool,
    /// Network faults.
    pub net: NetworkOptions,
    /// The weight of each action of [`Action::ALL`].
    pub weights: [u32; 17],
}

impl SimOptions {
    /// Draws a seed's settings.
    pub fn random(rng: &mut SimRng) -> SimOptions {
        let node_count = rng.between(3, 7) as usize;
        // At least three voters: from fewer, no change keeps a working majority.
        let initial_voters = if rng.chance(0.7) {
            node_count
        } else {
            rng.between(3, node_count as u64) as usize
        };
        let initial_learners = rng.between(0, (node_count - initial_voters) as u64) as usize;
        let mode = rng.between(0, 2);
        let async_storage = (0..node_count)
            .map(|_| match mode {
                0 => false,
                1 => true,
                _ => rng.chance(0.5),
            })
            .collect();
        let check_quorum = rng.chance(0.5);
        let lease_reads = check_quorum && rng.chance(0.4);
        let election_tick = rng.between(4, 15) as usize;
        let heartbeat_tick = rng.between(1, (election_tick as u64 / 3).max(1)) as usize;
        let max_size_per_msg = rng.pick(&[0, 0, 64, 256, 4096, 1 << 20]);
        // A calm seed (one in ten) has no faults and no leadership churn: nothing can depose a
        // leader before it has handed off. Only calm seeds make any configuration change (see
        // the liveness notes in the module doc).
        let calm = rng.chance(0.1);
        let step_down_on_removal = calm || rng.chance(0.8);
        let crash_after_vote_rate = if calm {
            0.0
        } else {
            rng.pick(&[0.0, 0.0, 0.1, 0.3])
        };
        let new_leader_fault_rate = if calm {
            0.0
        } else {
            rng.pick(&[0.0, 0.0, 0.3, 0.7])
        };
        let pre_vote = calm || rng.chance(0.5);
        let mut weights = random_weights(rng, lease_reads);
        if calm {
            let disturbances = [
                Action::Crash,
                Action::Partition,
                Action::TickOne,
                Action::Transfer,
                Action::Campaign,
                Action::ForgetLeader,
            ];
            for action in disturbances {
                weights[action as usize] = 0;
            }
        }
        if !pre_vote {
            // Without PreVote, a voter left behind with an older configuration campaigns for
            // ever at terms the new configuration's candidates never learn (it does not send to
            // them, and etcd ignores their lower-term votes), so elections can race for longer
            // than any bound; see the liveness notes in the module doc.
            weights[Action::ConfChange as usize] = 0;
        }
        let mut net = random_network(rng);
        if calm {
            net = NetworkOptions {
                in_flight_max: net.in_flight_max,
                ..NetworkOptions::quiet()
            };
        }
        let any_conf_change = calm;
        SimOptions {
            node_count,
            initial_voters,
            initial_learners,
            async_storage,
            pre_vote,
            check_quorum,
            lease_reads,
            election_tick,
            heartbeat_tick,
            max_size_per_msg,
            max_inflight_msgs: rng.pick(&[1, 1, 2, 4, 256]) as usize,
            max_committed_size_per_ready: rng.pick(&[0, 32, 1024]),
            max_uncommitted_entries_size: rng.pick(&[0, 0, 256, 4096]),
            step_down_on_removal,
            state_machine_durable: rng.chance(0.5),
            crash_after_vote_rate,
            new_leader_fault_rate,
            any_conf_change,
            net,
            weights,
        }
    }

    /// The Raft configuration of node `id` (the simulator sets `applied` and `seed`).
    pub fn raft_config(&self, id: u64) -> raft::Config {
        raft::Config {
            election_tick: self.election_tick,
            heartbeat_tick: self.heartbeat_tick,
            async_storage_writes: self.async_storage[(id - 1) as usize],
            max_size_per_msg: self.max_size_per_msg,
            max_committed_size_per_ready: self.max_committed_size_per_ready,
            max_uncommitted_entries_size: self.max_uncommitted_entries_size,
            max_inflight_msgs: self.max_inflight_msgs,
            check_quorum: self.check_quorum,
            pre_vote: self.pre_vote,
            read_only_option: if self.lease_reads {
                ReadOnlyOption::LeaseBased
            } else {
                ReadOnlyOption::Safe
            },
            step_down_on_removal: self.step_down_on_removal,
            ..raft::Config::new(id)
        }
    }

    /// A one-line summary for reports.
    pub fn summary(&self) -> String {
        let modes: String = self
            .async_storage
            .iter()
            .map(|&a| if a { 'a' } else { 's' })
            .collect();
        format!(
            "{} nodes ({} voters, {} learners), storage {modes}, pre_vote {}, check_quorum {}, \
             reads {}, election {} heartbeat {}, msg {}B inflight {} apply {}B uncommitted {}B, \
             step_down_on_removal {}, durable sm {}, crash after vote {}, new leader faults {}, \
             net {:?}, weights {:?}",
            self.node_count,
            self.initial_voters,
            self.initial_learners,
            self.pre_vote,
            self.check_quorum,
            if self.lease_reads { "lease" } else { "safe" },
            self.election_tick,
            self.heartbeat_tick,
            self.max_size_per_msg,
            self.max_inflight_msgs,
            self.max_committed_size_per_ready,
            self.max_uncommitted_entries_size,
            self.step_down_on_removal,
            self.state_machine_durable,
            self.crash_after_vote_rate,
            self.new_leader_fault_rate,
            self.net,
            self.weights,
        )
    }
}

fn random_network(rng: &mut SimRng) -> NetworkOptions {
    NetworkOptions {
        drop_rate: rng.pick(&[0.0, 0.01, 0.05, 0.2]),
        duplicate_rate: rng.pick(&[0.0, 0.01, 0.05, 0.1]),
        delay_rate: rng.pick(&[0.0, 0.05, 0.2, 0.5]),
        delay_ticks_max: rng.between(1, 20),
        reorder: rng.chance(0.5),
        in_flight_max: 512,
    }
}

/// Weights per action: the steady work (ticks, deliveries, readies, storage threads) always
/// has weight; each group of disturbances (crashes, partitions, leadership churn, membership,
/// client load) is switched on or off and scaled per seed.
fn random_weights(rng: &mut SimRng, lease_reads: bool) -> [u32; 17] {
    let mut level = |off: f64| -> u32 {
        if rng.chance(off) {
            0
        } else {
            rng.pick(&[1, 2, 4, 8])
        }
    };
    let (crashes, partitions, churn, members, clients, skew) = (
        level(0.3),
        level(0.3),
        level(0.4),
        level(0.3),
        level(0.05),
        level(0.6),
    );
    let skew = if lease_reads { 0 } else { skew };
    let mut w = |lo: u64, hi: u64, scale: u32| -> u32 { rng.between(lo, hi) as u32 * scale };
    [
        w(100, 300, 1),                 // TickAll
        w(3, 10, skew),                 // TickOne
        w(300, 600, 1),                 // Deliver
        w(200, 400, 1),                 // Ready
        w(20, 300, 1),                  // AppendThread
        w(10, 300, 1),                  // ApplyThread
        w(10, 40, clients),             // Propose
        w(3, 20, clients),              // Read
        w(3, 12, members),              // ConfChange
        w(1, 5, churn),                 // Transfer
        w(3, 20, clients.max(1)),       // Compact
        w(1, 5, crashes),               // Crash
        w(20, 60, crashes.min(1)) + 10, // Restart
        w(1, 5, partitions),            // Partition
        w(1, 3, partitions),            // Heal
        w(1, 5, churn),                 // Campaign
        w(1, 2, churn),                 // ForgetLeader
    ]
}

/// A configuration change in one of the formats the core takes.
#[derive(Clone, Debug)]
pub enum ConfChangeProposal {
    /// A single change in the original format.
    V1(ConfChange),
    /// A v2 change: simple, joint (automatic or explicit leave), or leaving a joint state.
    V2(ConfChangeV2),
}

/// Draws a configuration change for the current configuration `cs` of a universe of `n`
/// nodes; in a joint configuration, the change that leaves it.
///
/// With `keep_majority` the change keeps a working majority: the voters it keeps are a majority
/// of the old voters and of the new ones, so they can elect a leader among themselves whatever
/// the others know. Without it (only in calm seeds) any change may come, such as removing the
/// leader of two voters. Configuration changes take effect when applied (as
/// in etcd), and a change that drops below a kept majority can leave the group without any
/// electable node if the wrong node crashes before everyone learns the change is committed
/// (etcd-io/etcd#12359): a known limitation of apply-time changes, not something to rediscover
/// on every run.
pub fn random_conf_change(
    cs: &ConfState,
    n: u64,
    keep_majority: bool,
    rng: &mut SimRng,
) -> Option<ConfChangeProposal> {
    if !cs.voters_outgoing.is_empty() {
        return Some(ConfChangeProposal::V2(ConfChangeV2::default()));
    }
    for _ in 0..10 {
        let (changes, voters) = random_changes(cs, n, rng);
        if changes.is_empty() || voters.is_empty() {
            continue;
        }
        if keep_majority && !keeps_majority(&cs.voters, &voters) {
            continue;
        }
        return Some(encode_changes(changes, rng));
    }
    None
}

/// Whether the voters in both `old` and `new` are a majority of each.
fn keeps_majority(old: &[u64], new: &[u64]) -> bool {
    let kept = old.iter().filter(|id| new.contains(id)).count();
    kept > old.len() / 2 && kept > new.len() / 2
}

/// One to three changes on distinct nodes, and the voters they lead to.
fn random_changes(cs: &ConfState, n: u64, rng: &mut SimRng) -> (Vec<ConfChangeSingle>, Vec<u64>) {
    let mut voters = cs.voters.clone();
    let mut learners = cs.learners.clone();
    let mut ids: Vec<u64> = (1..=n).collect();
    rng.shuffle(&mut ids);
    let count = if rng.chance(0.35) {
        rng.between(2, 3)
    } else {
        1
    };
    let mut changes = Vec::new();
    for id in ids.into_iter().take(count as usize) {
        let change = if voters.contains(&id) {
            voters.retain(|&v| v != id);
            if rng.chance(0.5) {
                learners.push(id);
                ConfChangeType::AddLearnerNode
            } else {
                ConfChangeType::RemoveNode
            }
        } else if learners.contains(&id) {
            learners.retain(|&l| l != id);
            if rng.chance(0.7) {
                voters.push(id);
                ConfChangeType::AddNode
            } else {
                ConfChangeType::RemoveNode
            }
        } else if rng.chance(0.6) {
            voters.push(id);
            ConfChangeType::AddNode
        } else {
            learners.push(id);
            ConfChangeType::AddLearnerNode
        };
        changes.push(ConfChangeSingle::new(change, id));
    }
    (changes, voters)
}

/// The changes as a v1 change (single changes, sometimes) or a v2 change with a random
/// transition.
fn encode_changes(changes: Vec<ConfChangeSingle>, rng: &mut SimRng) -> ConfChangeProposal {
    if changes.len() == 1 && rng.chance(0.4) {
        return ConfChangeProposal::V1(ConfChange {
            change_type: changes[0].change_type,
            node_id: changes[0].node_id,
            ..ConfChange::default()
        });
    }
    let transition = rng.pick(&[
        ConfChangeTransition::Auto,
        ConfChangeTransition::Auto,
        ConfChangeTransition::Implicit,
        ConfChangeTransition::Explicit,
    ]);
    ConfChangeProposal::V2(ConfChangeV2 {
        transition: transition as i32,
        changes,
        ..ConfChangeV2::default()
    })
}
