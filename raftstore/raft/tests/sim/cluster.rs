//! The simulated cluster: nodes, network, checker and the step loop of one seed.
//!
//! A seed runs `steps` random steps (each one [`Action`], drawn with the seed's weights), checking
//! every invariant after each, then a liveness phase: every fault stops, every node restarts, and
//! a leader must be elected and commit a final write within a bounded number of ticks.

use std::collections::BTreeSet;

use raft::raftpb::{ConfState, Message, MessageType};
use raft::{MemStorage, Raft, SnapshotStatus};

use crate::checker::{Checker, SimResult, violation};
use crate::disk::Disk;
use crate::network::{Delivery, Network, NetworkOptions};
use crate::node::SimNode;
use crate::rng::SimRng;
use crate::trace::{Trace, describe_msg};
use crate::workload::{Action, ConfChangeProposal, SimOptions, random_conf_change};

/// The liveness phase's budget, in election timeouts.
const LIVENESS_ELECTION_TIMEOUTS: u64 = 50;

/// Everything the nodes share: the network, the checker, the RNG, the clock, the trace.
pub struct Env {
    /// The network.
    pub net: Network,
    /// The checkers.
    pub checker: Checker,
    /// The seed's only source of randomness.
    pub rng: SimRng,
    /// Virtual time, in ticks.
    pub now: u64,
    /// The replay trace.
    pub trace: Trace,
}

impl Env {
    /// Sends a message on the network. Returns false if the transport queue was full and the
    /// message was dropped at once.
    pub fn send(&mut self, m: Message) -> bool {
        self.trace.line(|| format!("  send {}", describe_msg(&m)));
        let sent = self.net.send(m, self.now, &mut self.rng);
        if !sent {
            self.trace
                .line(|| "  dropped: the transport queue is full".to_string());
            self.checker.coverage.dropped += 1;
        }
        sent
    }
}

/// One seed's cluster.
pub struct Cluster {
    /// The seed's settings.
    pub options: SimOptions,
    /// Nodes; `nodes[i]` has id `i + 1`.
    pub nodes: Vec<SimNode>,
    /// What the nodes share.
    pub env: Env,
    /// The step being run (for reports).
    pub step: u64,
    next_write_id: u64,
    next_read_id: u64,
    /// The last (leader, term) seen, to notice new leaders.
    known_leader: Option<(u64, u64)>,
    /// A fault aimed at a new leader: (due step, leader, term).
    leader_fault: Option<(u64, u64, u64)>,
}

impl Cluster {
    /// Builds and starts the cluster of `seed`; a stale lease read fails it if `strict_lease`.
    pub fn new(seed: u64, trace: bool, strict_lease: bool) -> SimResult<Cluster> {
        let mut rng = SimRng::new(seed);
        let options = SimOptions::random(&mut rng);
        let n = options.node_count;
        let voters: Vec<u64> = (1..=options.initial_voters as u64).collect();
        let learners: Vec<u64> = (options.initial_voters as u64 + 1..)
            .take(options.initial_learners)
            .collect();
        let cs = ConfState {
            voters: voters.clone(),
            learners: learners.clone(),
            ..ConfState::default()
        };
        // Every node starts from the group's initial configuration, members or not: a node added
        // later replays the log from index 1 and must reach the same configurations.
        let nodes = (1..=n as u64)
            .map(|id| {
                let disk = Disk::bootstrap(cs.clone(), options.state_machine_durable);
                SimNode::new(options.raft_config(id), disk, options.state_machine_durable)
            })
            .collect();
        let env = Env {
            net: Network::new(options.net.clone()),
            checker: Checker::new(n, options.lease_reads, strict_lease),
            rng,
            now: 0,
            trace: Trace::new(trace),
        };
        let mut cluster = Cluster {
            options,
            nodes,
            env,
            step: 0,
            next_write_id: 0,
            next_read_id: 0,
            known_leader: None,
            leader_fault: None,
        };
        cluster
            .env
            .trace
            .line(|| format!("seed {seed}: {}", cluster.options.summary()));
        for i in 0..n {
            cluster.nodes[i].start(&mut cluster.env)?;
        }
        Ok(cluster)
    }

    /// Runs `steps` random steps, then the liveness phase.
    pub fn run(&mut self, steps: u64) -> SimResult {
        for _ in 0..steps {
            self.step += 1;
            self.run_step()?;
        }
        self.liveness()
    }

    fn run_step(&mut self) -> SimResult {
        for name in self.env.net.heal_expired(self.env.now) {
            self.env
                .trace
                .line(|| format!("  partition healed: {name}"));
        }
        let action = self.choose_action();
        let (step, now) = (self.step, self.env.now);
        self.env
            .trace
            .line(|| format!("step {step} t={now}: {action:?}"));
        self.perform(action)?;
        self.stop_requested();
        self.crash_after_votes()?;
        self.strike_new_leaders();
        self.check_step()?;
        self.env.trace.line(|| self.status_line());
        Ok(())
    }

    /// Crashes, now and then, a node that just made a vote durable (the vote must survive) or
    /// just handed out the `Ready` of a new campaign (with asynchronous storage writes its new
    /// term may not be durable yet, and is lost).
    fn crash_after_votes(&mut self) -> SimResult {
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            let voted = std::mem::take(&mut node.just_voted);
            let campaigned = std::mem::take(&mut node.just_campaigned);
            if !(voted || campaigned) || !node.is_up() {
                continue;
            }
            if !self.env.rng.chance(self.options.crash_after_vote_rate) {
                continue;
            }
            // Mostly a reboot: the vote requests still in flight then reach the new process.
            if self.env.rng.chance(0.7) {
                self.env
                    .trace
                    .line(|| format!("  node {} reboots right after voting", i + 1));
                self.nodes[i].crash(&mut self.env);
                self.nodes[i].start(&mut self.env)?;
                if campaigned && self.env.rng.chance(0.5) {
                    // Some applications campaign at once on restart (to elect a leader sooner):
                    // the same term again, with whatever the previous process left durable.
                    self.nodes[i].call("campaign", &mut self.env, raft::RawNode::campaign)?;
                }
            } else if self.applicable(Action::Crash) {
                self.env
                    .trace
                    .line(|| format!("  node {} crashes right after voting", i + 1));
                self.nodes[i].crash(&mut self.env);
            }
        }
        Ok(())
    }

    /// Now and then crashes or cuts off a leader soon after it is elected, while the entries of
    /// earlier terms it inherited are still being replicated: the moment when committing them
    /// by counting replicas (Raft paper, figure 8) would be unsafe.
    fn strike_new_leaders(&mut self) {
        if let Some((due, id, term)) = self.leader_fault {
            if self.step < due {
                return;
            }
            self.leader_fault = None;
            let node = &self.nodes[(id - 1) as usize];
            if !node.is_leader() || node.raw.as_ref().is_some_and(|raw| raw.raft.term != term) {
                return;
            }
            if self.env.rng.chance(0.5) && self.applicable(Action::Crash) {
                self.env.trace.line(|| format!("  new leader {id} crashes"));
                self.nodes[(id - 1) as usize].crash(&mut self.env);
            } else {
                let links = (1..=self.nodes.len() as u64)
                    .filter(|&y| y != id)
                    .flat_map(|y| [(id, y), (y, id)])
                    .collect();
                let heal_at =
                    self.env.now + self.env.rng.between(1, 4) * self.options.election_tick as u64;
                self.env
                    .trace
                    .line(|| format!("  new leader {id} cut off until t={heal_at}"));
                self.env
                    .net
                    .partition(format!("cut off new leader {id}"), links, heal_at);
            }
            return;
        }
        let leader = self
            .nodes
            .iter()
            .filter_map(|n| {
                n.raw
                    .as_ref()
                    .filter(|_| n.is_leader())
                    .map(|raw| (n.id, raw.raft.term))
            })
            .max_by_key(|&(_, term)| term);
        if leader.is_none() || leader == self.known_leader {
            return;
        }
        self.known_leader = leader;
        if let Some((id, term)) = leader
            && self.env.rng.chance(self.options.new_leader_fault_rate)
        {
            let due = self.step + self.env.rng.between(0, 30);
            self.leader_fault = Some((due, id, term));
        }
    }

    /// Stops the nodes their application stops (see `SimNode::stop_requested`).
    fn stop_requested(&mut self) {
        for node in &mut self.nodes {
            if node.stop_requested {
                self.env
                    .trace
                    .line(|| format!("  node {} was removed: its application stops it", node.id));
                node.crash(&mut self.env);
            }
        }
    }

    /// The checks that need every node at once.
    pub fn check_step(&mut self) -> SimResult {
        let leaders: Vec<(u64, &Raft<MemStorage>)> = self
            .nodes
            .iter()
            .filter(|n| n.is_leader())
            .map(|n| {
                (
                    n.id,
                    &n.raw.as_ref().expect("invariant: leaders are up").raft,
                )
            })
            .collect();
        self.env.checker.check_leaders(&leaders)
    }

    fn choose_action(&mut self) -> Action {
        let mut weights = self.options.weights;
        for (w, action) in weights.iter_mut().zip(Action::ALL) {
            if *w > 0 && !self.applicable(action) {
                *w = 0;
            }
        }
        Action::ALL[self.env.rng.weighted(&weights)]
    }

    fn applicable(&mut self, action: Action) -> bool {
        let up = self.nodes.iter().filter(|n| n.is_up()).count();
        match action {
            Action::TickAll => true,
            Action::Deliver => self.env.net.has_deliverable(self.env.now),
            Action::Ready => self.nodes.iter().any(SimNode::has_ready),
            Action::AppendThread => self.nodes.iter().any(|n| !n.append_queue.is_empty()),
            Action::ApplyThread => self.nodes.iter().any(|n| !n.apply_queue.is_empty()),
            Action::Restart => up < self.nodes.len(),
            Action::Crash => {
                // Keep a majority of the universe running, except now and then.
                up > 0 && (up - 1 > self.nodes.len() / 2 || self.env.rng.chance(0.1))
            }
            Action::Partition => self.env.net.partitions.len() < 3,
            Action::Heal => !self.env.net.partitions.is_empty(),
            _ => up > 0,
        }
    }

    fn perform(&mut self, action: Action) -> SimResult {
        match action {
            Action::TickAll => self.tick_all(),
            Action::TickOne => {
                let i = self.pick_node(SimNode::is_up);
                self.nodes[i].tick(&mut self.env)
            }
            Action::Deliver => {
                for _ in 0..self.env.rng.between(1, 4) {
                    self.deliver_one()?;
                }
                Ok(())
            }
            Action::Ready => {
                let i = self.pick_node(SimNode::has_ready);
                self.nodes[i].handle_ready(&mut self.env)
            }
            Action::AppendThread => {
                let i = self.pick_node(|n| !n.append_queue.is_empty());
                self.nodes[i].process_append(&mut self.env)
            }
            Action::ApplyThread => {
                let i = self.pick_node(|n| !n.apply_queue.is_empty());
                self.nodes[i].process_apply(&mut self.env)
            }
            Action::Propose => {
                let i = self.pick_node_prefer_leader(0.5);
                self.next_write_id += 1;
                self.nodes[i].propose(self.next_write_id, &mut self.env)
            }
            Action::Read => {
                let i = self.pick_node_prefer_leader(0.3);
                self.next_read_id += 1;
                self.nodes[i].read(self.next_read_id, &mut self.env)
            }
            Action::ConfChange => self.propose_conf_change(),
            Action::Transfer => {
                let i = self.pick_node_prefer_leader(0.7);
                let target = self.env.rng.between(1, self.nodes.len() as u64);
                self.env
                    .trace
                    .line(|| format!("  transfer leadership to {target}"));
                self.nodes[i].call("transfer", &mut self.env, |raw| raw.transfer_leader(target))
            }
            Action::Compact => {
                let i = self.pick_node(SimNode::is_up);
                self.nodes[i].compact(&mut self.env)
            }
            Action::Crash => {
                // Leaders half the time: their crashes strand the most interesting state.
                let i = self.pick_node_prefer_leader(0.5);
                self.env.trace.line(|| format!("  node {} crashes", i + 1));
                self.nodes[i].crash(&mut self.env);
                Ok(())
            }
            Action::Restart => {
                let i = self.pick_node(|n| !n.is_up());
                self.nodes[i].start(&mut self.env)
            }
            Action::Partition => {
                self.partition();
                Ok(())
            }
            Action::Heal => {
                self.env.net.heal_all();
                Ok(())
            }
            Action::Campaign => {
                // Half the time a node whose writes are still in flight: it asks for votes with
                // a log it has not made durable yet.
                let writing = |n: &SimNode| n.is_up() && !n.append_queue.is_empty();
                let i = if self.nodes.iter().any(writing) && self.env.rng.chance(0.5) {
                    self.pick_node(writing)
                } else {
                    self.pick_node(SimNode::is_up)
                };
                self.nodes[i].call("campaign", &mut self.env, raft::RawNode::campaign)
            }
            Action::ForgetLeader => {
                let i = self.pick_node(|n| n.is_up() && !n.is_leader());
                self.nodes[i].call("forget leader", &mut self.env, raft::RawNode::forget_leader)
            }
        }
    }

    fn tick_all(&mut self) -> SimResult {
        self.env.now += 1;
        for i in 0..self.nodes.len() {
            if self.nodes[i].is_up() {
                self.nodes[i].tick(&mut self.env)?;
            }
        }
        Ok(())
    }

    /// A random node among those `filter` accepts (one must exist).
    fn pick_node(&mut self, filter: impl Fn(&SimNode) -> bool) -> usize {
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| filter(&self.nodes[i]))
            .collect();
        if candidates.is_empty() {
            // Only ForgetLeader can get here (every running node leads): use any running node.
            return (0..self.nodes.len())
                .find(|&i| self.nodes[i].is_up())
                .expect("invariant: the action needs a running node");
        }
        candidates[self.env.rng.index(candidates.len())]
    }

    /// A leader with probability `p` (if there is one), otherwise any running node.
    fn pick_node_prefer_leader(&mut self, p: f64) -> usize {
        let leaders: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].is_leader())
            .collect();
        if !leaders.is_empty() && self.env.rng.chance(p) {
            return leaders[self.env.rng.index(leaders.len())];
        }
        self.pick_node(SimNode::is_up)
    }

    fn propose_conf_change(&mut self) -> SimResult {
        let keep_majority = !self.options.any_conf_change;
        let i = self.pick_node_prefer_leader(0.8);
        // A follower's configuration may be stale, and the leader takes a forwarded change
        // whatever it does to the leader's configuration: only a leader's proposal is sure to
        // keep a majority (a leader takes a change only once it has applied every earlier one).
        if keep_majority && !self.nodes[i].is_leader() {
            return Ok(());
        }
        let cs = self.nodes[i]
            .conf_state()
            .expect("invariant: the node is up");
        let n = self.nodes.len() as u64;
        let Some(cc) = random_conf_change(&cs, n, keep_majority, &mut self.env.rng) else {
            return Ok(());
        };
        self.env
            .trace
            .line(|| format!("  node {} proposes {cc:?} on {cs:?}", i + 1));
        self.nodes[i].call("conf change", &mut self.env, |raw| match &cc {
            ConfChangeProposal::V1(cc) => raw.propose_conf_change(cc),
            ConfChangeProposal::V2(cc) => raw.propose_conf_change(cc),
        })
    }

    /// Delivers (or drops) one deliverable message.
    fn deliver_one(&mut self) -> SimResult {
        let Some(delivery) = self.env.net.next_delivery(self.env.now, &mut self.env.rng) else {
            return Ok(());
        };
        match delivery {
            Delivery::Deliver(m) => {
                let (from, to) = (m.from, m.to);
                let is_snap = m.kind() == MessageType::MsgSnap;
                if !self.nodes[(to - 1) as usize].is_up() {
                    self.env
                        .trace
                        .line(|| format!("  lost (node down): {}", describe_msg(&m)));
                    self.env.checker.coverage.dropped += 1;
                    return self.report_snapshot(is_snap, from, to, SnapshotStatus::Failure);
                }
                self.env
                    .trace
                    .line(|| format!("  deliver {}", describe_msg(&m)));
                self.env.checker.coverage.delivered += 1;
                self.nodes[(to - 1) as usize].step(m, &mut self.env)?;
                self.report_snapshot(is_snap, from, to, SnapshotStatus::Finish)
            }
            Delivery::Dropped { msg, blocked } => {
                self.env
                    .trace
                    .line(|| format!("  dropped: {}", describe_msg(&msg)));
                self.env.checker.coverage.dropped += 1;
                let (from, to) = (msg.from, msg.to);
                self.report_snapshot(
                    msg.kind() == MessageType::MsgSnap,
                    from,
                    to,
                    SnapshotStatus::Failure,
                )?;
                let sender = &mut self.nodes[(from - 1) as usize];
                if blocked && sender.is_up() && self.env.rng.chance(0.5) {
                    sender.report_unreachable(to, &mut self.env)?;
                }
                Ok(())
            }
        }
    }

    /// The sender's transport reports how a snapshot went.
    fn report_snapshot(
        &mut self,
        is_snap: bool,
        from: u64,
        to: u64,
        status: SnapshotStatus,
    ) -> SimResult {
        let sender = &mut self.nodes[(from - 1) as usize];
        if is_snap && sender.is_up() {
            sender.report_snapshot(to, status, &mut self.env)?;
        }
        Ok(())
    }

    /// Blocks links: a split, an isolated node, a one-way cut, a bridge, or random links.
    fn partition(&mut self) {
        let n = self.nodes.len() as u64;
        let rng = &mut self.env.rng;
        let mut ids: Vec<u64> = (1..=n).collect();
        rng.shuffle(&mut ids);
        // Isolating the leader (alone or with one follower) is the most productive cut.
        let leader = self
            .nodes
            .iter()
            .filter(|n| n.is_leader())
            .map(|n| n.id)
            .max();
        if let Some(leader) = leader.filter(|_| rng.chance(0.4))
            && let Some(pos) = ids.iter().position(|&id| id == leader)
        {
            ids.swap(0, pos);
        }
        let (name, links) = partition_links(&ids, rng);
        let duration = rng.between(1, 8) * self.options.election_tick as u64;
        let heal_at = self.env.now + duration;
        self.env
            .trace
            .line(|| format!("  partition until t={heal_at}: {name}"));
        self.env.net.partition(name, links, heal_at);
    }

    /// Stops every fault, restarts every node, and requires a leader to commit a final write
    /// within a bounded number of ticks.
    fn liveness(&mut self) -> SimResult {
        self.env
            .trace
            .line(|| "liveness phase: faults stop".to_string());
        self.env.net.heal_all();
        self.env.net.options = NetworkOptions::quiet();
        for i in 0..self.nodes.len() {
            if !self.nodes[i].is_up() {
                self.nodes[i].start(&mut self.env)?;
            }
        }
        self.next_write_id += 1;
        let write_id = self.next_write_id;
        let mut proposed: Option<(u64, u64)> = None;
        let deadline =
            self.env.now + LIVENESS_ELECTION_TIMEOUTS * self.options.election_tick as u64;
        loop {
            self.drain()?;
            if proposed.is_some() && self.env.checker.is_acked(write_id) {
                return Ok(());
            }
            let leader = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].is_leader())
                .max_by_key(|&i| self.nodes[i].raw.as_ref().map(|raw| raw.raft.term));
            if let Some(i) = leader {
                let term = self.nodes[i].raw.as_ref().expect("invariant: up").raft.term;
                if proposed != Some((i as u64 + 1, term)) {
                    self.nodes[i].propose(write_id, &mut self.env)?;
                    if !self.env.checker.is_acked(write_id) {
                        proposed = Some((i as u64 + 1, term));
                    }
                }
            }
            if self.env.now >= deadline {
                return Err(violation(
                    "liveness",
                    format!(
                        "no leader committed a write within {LIVENESS_ELECTION_TIMEOUTS} election \
                         timeouts of the faults stopping (final write proposed: {proposed:?}); {}",
                        self.status_line()
                    ),
                ));
            }
            self.tick_all()?;
            let now = self.env.now;
            self.env
                .trace
                .line(|| format!("liveness t={now}: {}", self.status_line()));
        }
    }

    /// Runs readies, storage threads and deliveries until nothing is left to do.
    fn drain(&mut self) -> SimResult {
        for _ in 0..1000 {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                while self.nodes[i].has_ready() {
                    self.nodes[i].handle_ready(&mut self.env)?;
                    busy = true;
                }
                while !self.nodes[i].append_queue.is_empty() {
                    self.nodes[i].process_append(&mut self.env)?;
                    busy = true;
                }
                while !self.nodes[i].apply_queue.is_empty() {
                    self.nodes[i].process_apply(&mut self.env)?;
                    busy = true;
                }
            }
            while self.env.net.has_deliverable(self.env.now) {
                self.deliver_one()?;
                busy = true;
            }
            self.stop_requested();
            self.check_step()?;
            if !busy {
                break;
            }
        }
        Ok(())
    }

    /// One line per node: role, term, commit, applied, last index, configuration.
    pub fn status_line(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| match &n.raw {
                None => format!("{}:down", n.id),
                Some(raw) => {
                    let r = &raw.raft;
                    let role = format!("{:?}", r.state);
                    let cs = r.prs.conf_state();
                    format!(
                        "{}:{}{} t{} c{} a{} l{} v{:?}{}{}",
                        n.id,
                        &role[..1],
                        if r.state == raft::StateRole::PreCandidate {
                            "p"
                        } else {
                            ""
                        },
                        r.term,
                        r.raft_log.committed,
                        r.raft_log.applied,
                        r.raft_log.last_index(),
                        cs.voters,
                        if cs.learners.is_empty() {
                            String::new()
                        } else {
                            format!("l{:?}", cs.learners)
                        },
                        if cs.voters_outgoing.is_empty() {
                            String::new()
                        } else {
                            format!("o{:?}", cs.voters_outgoing)
                        },
                    )
                }
            })
            .collect();
        format!(
            "  = [{}] in flight {} partitions {}",
            nodes.join(" "),
            self.env.net.in_flight.len(),
            self.env.net.partitions.len()
        )
    }
}

/// The links a random partition of the nodes `ids` (in random order) blocks, and its name.
fn partition_links(ids: &[u64], rng: &mut SimRng) -> (String, BTreeSet<(u64, u64)>) {
    let n = ids.len() as u64;
    let mut links = BTreeSet::new();
    let mut cut_between = |a: &[u64], b: &[u64]| {
        for &x in a {
            for &y in b {
                links.insert((x, y));
                links.insert((y, x));
            }
        }
    };
    let name = match rng.between(0, 5) {
        5 => {
            // The first one or two of `ids` (the leader, when chosen) on one side.
            let (a, b) = ids.split_at(rng.between(1, 2.min(n - 1)) as usize);
            cut_between(a, b);
            format!("cut off {a:?} from {b:?}")
        }
        0 => {
            let (a, b) = ids.split_at(rng.between(1, n - 1) as usize);
            cut_between(a, b);
            format!("split {a:?} | {b:?}")
        }
        1 => {
            cut_between(&ids[..1], &ids[1..]);
            format!("isolate {}", ids[0])
        }
        2 => {
            let x = ids[0];
            let inbound = rng.chance(0.5);
            for &y in &ids[1..] {
                links.insert(if inbound { (y, x) } else { (x, y) });
            }
            format!("{x} cannot {}", if inbound { "receive" } else { "send" })
        }
        3 => {
            // Two sides that only the bridge node hears both of (a partial partition).
            let rest = &ids[1..];
            let (a, b) = rest.split_at(rng.between(1, rest.len() as u64 - 1) as usize);
            cut_between(a, b);
            format!("bridge {} between {a:?} and {b:?}", ids[0])
        }
        _ => {
            for x in 1..=n {
                for y in (1..=n).filter(|&y| y != x) {
                    if rng.chance(0.3) {
                        links.insert((x, y));
                    }
                }
            }
            format!("random links {links:?}")
        }
    };
    (name, links)
}
