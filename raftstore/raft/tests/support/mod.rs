//! Shared harness of the behaviour tests: node and storage builders, message helpers, and
//! [`Network`], a deterministic in-memory network of `Raft<MemStorage>` nodes.
//!
//! Messages flow like this: [`Network::send`] steps each queued message into its recipient, then
//! collects the recipient's output with [`read_messages`] (which plays the part of the
//! application: it flushes deferred broadcasts, persists the unstable log, and delivers the
//! node's responses to itself), filters it through the network's faults, and queues what
//! survives. It stops when no message is left. Every random choice comes from a generator seeded
//! in the test, so a run always ends the same way.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use bytes::Bytes;
use raft::raftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, HardState, Message, MessageType, Snapshot, SnapshotMetadata,
};
use raft::{Config, MemStorage, Raft, Storage};

/// The election timeout most tests use, in ticks.
pub const ELECTION: usize = 10;
/// The heartbeat interval most tests use, in ticks.
pub const HEARTBEAT: usize = 1;

/// A configuration for node `id` with the given timeouts and every option at its default.
pub fn config(id: u64, election: usize, heartbeat: usize) -> Config {
    Config {
        election_tick: election,
        heartbeat_tick: heartbeat,
        ..Config::new(id)
    }
}

/// A storage whose initial configuration has `voters` as voters.
pub fn storage_with_voters(voters: &[u64]) -> MemStorage {
    MemStorage::new_with_conf_state(conf_state(voters, &[]))
}

/// A storage whose initial configuration has `voters` as voters and `learners` as learners.
pub fn storage_with_learners(voters: &[u64], learners: &[u64]) -> MemStorage {
    MemStorage::new_with_conf_state(conf_state(voters, learners))
}

/// A configuration of `voters` and `learners`.
pub fn conf_state(voters: &[u64], learners: &[u64]) -> ConfState {
    ConfState {
        voters: voters.to_vec(),
        learners: learners.to_vec(),
        ..ConfState::default()
    }
}

/// Node `id` over `storage`, with the given timeouts.
pub fn new_raft(
    id: u64,
    election: usize,
    heartbeat: usize,
    storage: &MemStorage,
) -> Raft<MemStorage> {
    new_raft_with_config(&config(id, election, heartbeat), storage)
}

/// Node `cfg.id` over `storage`.
pub fn new_raft_with_config(cfg: &Config, storage: &MemStorage) -> Raft<MemStorage> {
    Raft::new(cfg, storage.clone()).expect("test configuration and storage are valid")
}

/// Node `id` of a fresh group of `peers`, with the default test timeouts.
pub fn new_node(id: u64, peers: &[u64]) -> Raft<MemStorage> {
    new_raft(id, ELECTION, HEARTBEAT, &storage_with_voters(peers))
}

/// Node `id` of a fresh group of `peers`, with the configuration `customize` leaves.
pub fn new_node_with(id: u64, peers: &[u64], customize: impl Fn(&mut Config)) -> Raft<MemStorage> {
    let mut cfg = config(id, ELECTION, HEARTBEAT);
    customize(&mut cfg);
    new_raft_with_config(&cfg, &storage_with_voters(peers))
}

/// A storage holding `terms[i]` as the term of entry `i + 1` (empty payloads), with `voters`.
pub fn storage_with_log(voters: &[u64], terms: &[u64]) -> MemStorage {
    let storage = storage_with_voters(voters);
    storage.wl().append(&entries_with_terms(1, terms)).unwrap();
    storage
}

/// Entries from `first` on, with the given terms and empty payloads.
pub fn entries_with_terms(first: u64, terms: &[u64]) -> Vec<Entry> {
    terms
        .iter()
        .zip(first..)
        .map(|(&term, index)| empty_entry(term, index))
        .collect()
}

/// A normal entry without payload.
pub fn empty_entry(term: u64, index: u64) -> Entry {
    Entry::new(index, term, Bytes::new())
}

/// A normal entry carrying `data`.
pub fn entry(term: u64, index: u64, data: &'static [u8]) -> Entry {
    Entry::new(index, term, Bytes::from_static(data))
}

/// A message of type `kind` from `from` to `to`, every other field empty.
pub fn msg(from: u64, to: u64, kind: MessageType) -> Message {
    Message {
        from,
        to,
        ..Message::of_type(kind)
    }
}

/// A message of type `kind` from `from` to `to` in `term`.
pub fn msg_term(from: u64, to: u64, kind: MessageType, term: u64) -> Message {
    Message {
        term,
        ..msg(from, to, kind)
    }
}

/// The local message that makes `id` campaign.
pub fn hup(id: u64) -> Message {
    msg(id, id, MessageType::MsgHup)
}

/// The local message that makes leader `id` send heartbeats.
pub fn beat(id: u64) -> Message {
    msg(id, id, MessageType::MsgBeat)
}

/// A proposal of `data` made at node `id`.
pub fn propose(id: u64, data: &'static [u8]) -> Message {
    Message {
        entries: vec![Entry::new(0, 0, Bytes::from_static(data))],
        ..msg(id, id, MessageType::MsgProp)
    }
}

/// A read-index request with context `ctx` made at node `id`.
pub fn read_index(id: u64, ctx: &'static [u8]) -> Message {
    Message {
        entries: vec![Entry::new(0, 0, Bytes::from_static(ctx))],
        ..msg(id, id, MessageType::MsgReadIndex)
    }
}

/// A request made at `transferee` that leader `leader` hand leadership to it (as the
/// application's `transfer_leader` call builds it).
pub fn transfer(transferee: u64, leader: u64) -> Message {
    msg(transferee, leader, MessageType::MsgTransferLeader)
}

/// An append of `entries` after (`index`, `log_term`) with commit index `commit`.
pub fn append(
    from: u64,
    to: u64,
    term: u64,
    (index, log_term): (u64, u64),
    entries: Vec<Entry>,
    commit: u64,
) -> Message {
    Message {
        index,
        log_term,
        entries,
        commit,
        ..msg_term(from, to, MessageType::MsgApp, term)
    }
}

/// A snapshot at (`index`, `term`) whose configuration has `voters`.
pub fn snapshot(index: u64, term: u64, voters: &[u64]) -> Snapshot {
    snapshot_with_conf(index, term, conf_state(voters, &[]))
}

/// A snapshot at (`index`, `term`) with configuration `cs`.
pub fn snapshot_with_conf(index: u64, term: u64, cs: ConfState) -> Snapshot {
    Snapshot {
        data: Bytes::new(),
        metadata: Some(SnapshotMetadata {
            conf_state: Some(cs),
            index,
            term,
        }),
    }
}

/// A v1 change of kind `change_type` for `node_id`.
pub fn conf_change(change_type: ConfChangeType, node_id: u64) -> ConfChange {
    ConfChange {
        change_type: change_type as i32,
        node_id,
        ..ConfChange::default()
    }
}

/// A v2 change made of `changes`, with the given transition.
pub fn conf_change_v2(
    transition: ConfChangeTransition,
    changes: &[(ConfChangeType, u64)],
) -> ConfChangeV2 {
    ConfChangeV2 {
        transition: transition as i32,
        changes: changes
            .iter()
            .map(|&(kind, id)| ConfChangeSingle::new(kind, id))
            .collect(),
        context: Bytes::new(),
    }
}

/// The empty v2 change that leaves a joint configuration.
pub fn leave_joint() -> ConfChangeV2 {
    ConfChangeV2::default()
}

/// The proposal message carrying a v1 change.
pub fn propose_conf_change(id: u64, cc: &ConfChange) -> Message {
    use prost::Message as _;
    let e = Entry {
        entry_type: EntryType::EntryConfChange as i32,
        data: Bytes::from(cc.encode_to_vec()),
        ..Entry::default()
    };
    Message {
        entries: vec![e],
        ..msg(id, id, MessageType::MsgProp)
    }
}

/// The proposal message carrying a v2 change.
pub fn propose_conf_change_v2(id: u64, cc: &ConfChangeV2) -> Message {
    use prost::Message as _;
    let e = Entry {
        entry_type: EntryType::EntryConfChangeV2 as i32,
        data: Bytes::from(cc.encode_to_vec()),
        ..Entry::default()
    };
    Message {
        entries: vec![e],
        ..msg(id, id, MessageType::MsgProp)
    }
}

/// Writes the node's unstable snapshot and entries to its `MemStorage`, with its hard state, and
/// marks them stable, as an application would after a `Ready`.
pub fn persist(r: &mut Raft<MemStorage>) {
    let store = r.raft_log.store.clone();
    if let Some(snap) = r.raft_log.unstable.snapshot.clone() {
        let index = snap.index();
        store.wl().apply_snapshot(*snap).unwrap();
        r.raft_log.stable_snap_to(index);
        if r.raft_log.applied < index {
            r.raft_log.applied_to(index, 0);
        }
    }
    let entries = r.raft_log.unstable.entries.clone();
    if let Some(last) = entries.last() {
        store.wl().append(&entries).unwrap();
        r.raft_log.stable_to(last.index, last.term);
    }
    store.wl().set_hard_state(r.hard_state());
}

/// Collects what node `r` wants to send, playing the application: flushes the deferred
/// broadcast and read round, persists the unstable log, delivers the node's responses to itself
/// (its own append acknowledgements and votes) and returns every message for other nodes.
pub fn read_messages(r: &mut Raft<MemStorage>) -> Vec<Message> {
    loop {
        r.flush_deferred();
        persist(r);
        let after_append = std::mem::take(&mut r.msgs_after_append);
        if after_append.is_empty() {
            break;
        }
        for m in after_append {
            if m.to == r.id {
                // A response to itself cannot fail in a way a test wants to see here.
                let _ = r.step(m);
            } else {
                r.msgs.push(m);
            }
        }
    }
    std::mem::take(&mut r.msgs)
}

/// Like [`read_messages`], keeping only messages of type `kind`.
pub fn read_messages_of(r: &mut Raft<MemStorage>, kind: MessageType) -> Vec<Message> {
    read_messages(r)
        .into_iter()
        .filter(|m| m.kind() == kind)
        .collect()
}

/// Persists the node's log, then returns the committed entries not yet applied and reports
/// them applied (through the apply thread's response, so the node's bookkeeping runs).
pub fn next_entries(r: &mut Raft<MemStorage>) -> Vec<Entry> {
    next_entries_applying(r, |_, _| {})
}

/// Like [`next_entries`], calling `apply` on each committed entry before reporting them
/// applied (as an application applies configuration changes).
pub fn next_entries_applying(
    r: &mut Raft<MemStorage>,
    mut apply: impl FnMut(&mut Raft<MemStorage>, &Entry),
) -> Vec<Entry> {
    // Deliver the node's own acknowledgements first: they may commit more.
    let out = read_messages(r);
    r.msgs.extend(out);
    let entries = r.raft_log.next_committed_ents(true);
    for e in &entries {
        apply(r, e);
    }
    if !entries.is_empty() {
        let resp = Message {
            from: raft::LOCAL_APPLY_THREAD,
            to: r.id,
            entries: entries.clone(),
            ..Message::of_type(MessageType::MsgStorageApplyResp)
        };
        r.step(resp).unwrap();
    }
    entries
}

/// Ticks node `r` until its election clock runs out and it campaigns.
pub fn tick_until_election(r: &mut Raft<MemStorage>) {
    let remaining = r
        .randomized_election_timeout()
        .saturating_sub(r.election_elapsed());
    for _ in 0..remaining.max(1) {
        r.tick();
    }
}

/// Acknowledges the leader's whole log from every peer, so that it commits, then applies what
/// committed; the messages this causes are discarded. Etcd's tests call this step
/// `commitNoopEntry`: afterwards every follower is in replicate state at the leader's last index.
pub fn commit_noop_entry(r: &mut Raft<MemStorage>) {
    assert!(r.is_leader(), "only a leader commits");
    let last = r.raft_log.last_index();
    let peers: Vec<u64> = r.prs.progress.ids().filter(|&id| id != r.id).collect();
    for id in peers {
        let ack = Message {
            index: last,
            ..msg_term(id, r.id, MessageType::MsgAppResp, r.term)
        };
        r.step(ack).unwrap();
    }
    let _ = read_messages(r);
    let _ = next_entries(r);
    r.msgs.clear();
}

/// Makes node `r` (of a fresh group) leader of the next term without any network: it campaigns
/// and receives a vote from every other voter; its messages are discarded.
pub fn make_leader(r: &mut Raft<MemStorage>) {
    r.become_candidate();
    r.become_leader();
    let _ = read_messages(r);
}

/// The terms of the node's log, entry by entry from the first available one.
pub fn log_terms(r: &Raft<MemStorage>) -> Vec<u64> {
    r.raft_log.all_entries().iter().map(|e| e.term).collect()
}

/// The payloads of the node's log, entry by entry from the first available one.
pub fn log_data(r: &Raft<MemStorage>) -> Vec<Bytes> {
    r.raft_log
        .all_entries()
        .into_iter()
        .map(|e| e.data)
        .collect()
}

/// The payloads of `entries`, empty ones included.
pub fn data_of(entries: &[Entry]) -> Vec<&[u8]> {
    entries.iter().map(|e| e.data.as_ref()).collect()
}

/// The types of `msgs`, in order.
pub fn kinds(msgs: &[Message]) -> Vec<MessageType> {
    msgs.iter().map(Message::kind).collect()
}

/// The hard state, soft state, log, read states, deferred work, pending messages and every
/// progress of a node: what a failed call must leave untouched.
#[derive(Debug, PartialEq)]
pub struct Fingerprint {
    hard_state: HardState,
    soft_state: raft::SoftState,
    log: Vec<Entry>,
    unstable_offset: u64,
    committed: u64,
    applied: u64,
    lead_transferee: u64,
    pending_conf_index: u64,
    uncommitted_size: u64,
    election_elapsed: usize,
    msgs: Vec<Message>,
    msgs_after_append: Vec<Message>,
    read_states: Vec<raft::ReadState>,
    has_deferred: bool,
    progress: Vec<String>,
    conf_state: ConfState,
}

/// Takes the [`Fingerprint`] of node `r`.
pub fn fingerprint(r: &Raft<MemStorage>) -> Fingerprint {
    Fingerprint {
        hard_state: r.hard_state(),
        soft_state: r.soft_state(),
        log: r.raft_log.all_entries(),
        unstable_offset: r.raft_log.unstable.offset,
        committed: r.raft_log.committed,
        applied: r.raft_log.applied,
        lead_transferee: r.lead_transferee,
        pending_conf_index: r.pending_conf_index(),
        uncommitted_size: r.uncommitted_size(),
        election_elapsed: r.election_elapsed(),
        msgs: r.msgs.clone(),
        msgs_after_append: r.msgs_after_append.clone(),
        read_states: r.read_states.clone(),
        has_deferred: r.has_deferred(),
        progress: r
            .prs
            .progress
            .iter()
            .map(|(id, pr)| format!("{id}: {pr:?}"))
            .collect(),
        conf_state: r.prs.conf_state(),
    }
}

/// A small deterministic generator (splitmix64) for the network's drop decisions.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A hook that sees every message the network is about to deliver, may change it, and says
/// whether to deliver it.
pub type MsgHook = Box<dyn FnMut(&mut Message) -> bool>;

/// A group of nodes connected by an in-memory network with configurable faults.
pub struct Network {
    /// The live nodes, by id.
    pub peers: BTreeMap<u64, Raft<MemStorage>>,
    /// Ids that swallow every message sent to them (a crashed or unreachable node).
    pub black_holes: HashSet<u64>,
    /// Every message delivered so far, in order.
    pub delivered: Vec<Message>,
    /// An optional last filter.
    pub msg_hook: Option<MsgHook>,
    /// The configuration of each node built by the network, used again on restart.
    configs: BTreeMap<u64, Config>,
    drop_rates: HashMap<(u64, u64), f64>,
    ignored: HashSet<MessageType>,
    rng: SplitMix64,
}

impl Network {
    /// A network of `n` fresh nodes with ids `1..=n` and the default test configuration.
    pub fn new(n: u64) -> Network {
        Network::new_with_config(n, |_| {})
    }

    /// A network of `n` fresh nodes with ids `1..=n`, each configured by `customize`.
    pub fn new_with_config(n: u64, customize: impl Fn(&mut Config)) -> Network {
        let ids: Vec<u64> = (1..=n).collect();
        let mut configs = BTreeMap::new();
        let mut peers = Vec::new();
        for &id in &ids {
            let mut cfg = config(id, ELECTION, HEARTBEAT);
            customize(&mut cfg);
            peers.push(new_raft_with_config(&cfg, &storage_with_voters(&ids)));
            configs.insert(id, cfg);
        }
        let mut nw = Network::from_peers(peers);
        nw.configs = configs;
        nw
    }

    /// A network of the given nodes (built by the test, each with its own id).
    pub fn from_peers(peers: Vec<Raft<MemStorage>>) -> Network {
        Network {
            peers: peers.into_iter().map(|r| (r.id, r)).collect(),
            black_holes: HashSet::new(),
            delivered: Vec::new(),
            msg_hook: None,
            configs: BTreeMap::new(),
            drop_rates: HashMap::new(),
            ignored: HashSet::new(),
            rng: SplitMix64::new(0x5EED),
        }
    }

    /// A network of `nodes`: `Some(raft)` is a live node with that id, `None` at position `i`
    /// a black hole with id `i + 1`.
    pub fn with_black_holes(nodes: Vec<Option<Raft<MemStorage>>>) -> Network {
        let mut black_holes = HashSet::new();
        let mut peers = Vec::new();
        for (i, node) in nodes.into_iter().enumerate() {
            match node {
                Some(r) => peers.push(r),
                None => {
                    black_holes.insert(i as u64 + 1);
                }
            }
        }
        let mut nw = Network::from_peers(peers);
        nw.black_holes = black_holes;
        nw
    }

    /// Reseeds the generator behind drop decisions.
    pub fn seed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Node `id`.
    ///
    /// # Panics
    /// If there is no live node `id`.
    pub fn peer(&mut self, id: u64) -> &mut Raft<MemStorage> {
        self.peers
            .get_mut(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Node `id`, read-only.
    pub fn node(&self, id: u64) -> &Raft<MemStorage> {
        self.peers
            .get(&id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Restarts node `id` from what it persisted (its volatile state is lost), with the
    /// configuration it was built with (or the default test configuration).
    pub fn restart(&mut self, id: u64) {
        let storage = self.node(id).raft_log.store.clone();
        let cfg = self
            .configs
            .get(&id)
            .cloned()
            .unwrap_or_else(|| config(id, ELECTION, HEARTBEAT));
        self.peers.insert(id, new_raft_with_config(&cfg, &storage));
    }

    /// Delivers `msgs` and everything they cause until no message is left.
    pub fn send(&mut self, msgs: Vec<Message>) {
        let mut queue: VecDeque<Message> = msgs.into();
        let mut budget = 1_000_000usize;
        while let Some(m) = queue.pop_front() {
            budget -= 1;
            assert!(budget > 0, "the network never went quiet");
            let Some(p) = self.peers.get_mut(&m.to) else {
                continue;
            };
            self.delivered.push(m.clone());
            let _ = p.step(m);
            let out = read_messages(p);
            let out = self.filter(out);
            queue.extend(out);
        }
    }

    /// Steps `m` into its recipient without delivering what it causes; returns the output.
    pub fn step_one(&mut self, m: Message) -> Vec<Message> {
        let p = self.peer(m.to);
        let _ = p.step(m);
        read_messages(p)
    }

    /// Delivers whatever node `id` has queued (for example after ticking it directly).
    pub fn flush(&mut self, id: u64) {
        let out = read_messages(self.peer(id));
        let out = self.filter(out);
        self.send(out);
    }

    /// Ticks node `id` once and delivers what it sends.
    pub fn tick(&mut self, id: u64) {
        self.peer(id).tick();
        self.flush(id);
    }

    /// Drops messages from `from` to `to` with probability `rate` (1.0: always).
    pub fn drop_link(&mut self, from: u64, to: u64, rate: f64) {
        self.drop_rates.insert((from, to), rate);
    }

    /// Drops every message between `a` and `b`, both ways.
    pub fn cut(&mut self, a: u64, b: u64) {
        self.drop_link(a, b, 2.0);
        self.drop_link(b, a, 2.0);
    }

    /// Cuts node `id` off from every other node.
    pub fn isolate(&mut self, id: u64) {
        let others: Vec<u64> = self
            .peers
            .keys()
            .copied()
            .chain(self.black_holes.iter().copied())
            .collect();
        for other in others {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Drops every message of type `kind`.
    pub fn ignore(&mut self, kind: MessageType) {
        self.ignored.insert(kind);
    }

    /// Removes every fault: drops, cuts, isolations and ignored types.
    pub fn recover(&mut self) {
        self.drop_rates.clear();
        self.ignored.clear();
    }

    /// What survives the network's faults of `msgs`.
    pub fn filter(&mut self, msgs: Vec<Message>) -> Vec<Message> {
        let mut kept = Vec::with_capacity(msgs.len());
        for mut m in msgs {
            if self.ignored.contains(&m.kind()) || self.black_holes.contains(&m.to) {
                continue;
            }
            assert_ne!(
                m.kind(),
                MessageType::MsgHup,
                "a hup never travels on the network"
            );
            let rate = self.drop_rates.get(&(m.from, m.to)).copied().unwrap_or(0.0);
            if rate > 0.0 && self.rng.next_f64() < rate {
                continue;
            }
            if let Some(hook) = self.msg_hook.as_mut()
                && !hook(&mut m)
            {
                continue;
            }
            kept.push(m);
        }
        kept
    }

    /// Elects node `id` by campaign and delivers everything that follows.
    pub fn elect(&mut self, id: u64) {
        self.send(vec![hup(id)]);
    }

    /// Proposes `data` at node `id` and delivers everything that follows.
    pub fn propose(&mut self, id: u64, data: &'static [u8]) {
        self.send(vec![propose(id, data)]);
    }
}

/// Reads the storage's entries as a vector (for comparisons with a node's log).
pub fn stored_entries(storage: &MemStorage) -> Vec<Entry> {
    let first = storage.first_index().unwrap();
    let last = storage.last_index().unwrap();
    storage.entries(first, last + 1, u64::MAX).unwrap()
}
