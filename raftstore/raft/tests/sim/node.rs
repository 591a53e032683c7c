//! One simulated node: a `RawNode<MemStorage>`, its disk, its state machine, and in the
//! asynchronous storage mode its append and apply threads.
//!
//! The node plays the application's part of both storage contracts:
//!
//! * synchronous: take a `Ready`, install its snapshot, write its entries and hard state
//!   (fsynced when `must_sync`), send its messages, apply its committed entries, `advance`;
//! * asynchronous: take a `Ready`, send its messages at once and queue `MsgStorageAppend` and
//!   `MsgStorageApply` for the two threads; the simulator runs each thread's queue in order,
//!   one message per step, at random times, and delivers the responses once the work is done.
//!
//! A crash drops the `RawNode`, both queues and every write not fsynced; a restart rebuilds a
//! `MemStorage` and the state machine from the [`Disk`] alone.

use std::collections::VecDeque;

use bytes::{BufMut, BytesMut};
use raft::raftpb::{ConfState, Entry, EntryType, HardState, Message, Snapshot, SnapshotMetadata};
use raft::{
    Config, LOCAL_APPEND_THREAD, LOCAL_APPLY_THREAD, MemStorage, RawNode, Ready, SnapshotStatus,
    StateRole, decode_conf_change,
};

use crate::checker::{Checker, SimResult, violation};
use crate::cluster::Env;
use crate::disk::{Disk, StateMachine, entry_digest};
use crate::trace::describe_msg;

/// The first byte of a client write's payload.
const WRITE_TAG: u8 = b'w';
/// The first byte of a read's context.
const READ_TAG: u8 = b'r';

/// A simulated node.
pub struct SimNode {
    /// The node's id (`1..=n`).
    pub id: u64,
    /// The configuration the node (re)starts with; `applied` and `seed` are set per restart.
    pub cfg: Config,
    /// The running node, `None` while crashed.
    pub raw: Option<RawNode<MemStorage>>,
    /// What the running node reads: every write, synced or not.
    pub storage: MemStorage,
    /// What survives a crash.
    pub disk: Disk,
    /// A hard state written to `storage` but not fsynced to `disk` yet.
    unsynced_hard_state: Option<HardState>,
    /// The state machine.
    pub sm: StateMachine,
    /// Asynchronous mode: `MsgStorageAppend`s waiting for the append thread, in order.
    pub append_queue: VecDeque<Message>,
    /// Asynchronous mode: `MsgStorageApply`s waiting for the apply thread, in order.
    pub apply_queue: VecDeque<Message>,
    /// Whether the application persists its state machine on every apply (otherwise it is
    /// rebuilt from the latest snapshot after a crash).
    pub state_machine_durable: bool,
    /// Counts restarts, so reports for an earlier life can be told apart.
    pub incarnation: u64,
    /// Set when the application must stop this node: a leader removed from the configuration
    /// without `step_down_on_removal` would otherwise lead on forever, refusing proposals and
    /// keeping everyone else from campaigning (etcd's server stops a removed member).
    pub stop_requested: bool,
    /// Set when an fsync made a new term or vote durable: the moment to crash at to test that
    /// votes survive crashes (cleared by the simulator after each step).
    pub just_voted: bool,
    /// The last term in which this node handed out a `Ready` campaigning for itself.
    campaign_term: u64,
    /// Set when this node handed out such a `Ready`: its vote requests may be out while its new
    /// term is not durable yet (cleared by the simulator after each step).
    pub just_campaigned: bool,
}

impl SimNode {
    /// A node that has not started yet, with the given disk.
    pub fn new(cfg: Config, disk: Disk, state_machine_durable: bool) -> SimNode {
        SimNode {
            id: cfg.id,
            cfg,
            raw: None,
            storage: MemStorage::new(),
            disk,
            unsynced_hard_state: None,
            sm: StateMachine::default(),
            append_queue: VecDeque::new(),
            apply_queue: VecDeque::new(),
            state_machine_durable,
            incarnation: 0,
            stop_requested: false,
            just_voted: false,
            campaign_term: 0,
            just_campaigned: false,
        }
    }

    /// Whether the node is running.
    pub fn is_up(&self) -> bool {
        self.raw.is_some()
    }

    /// Whether the node is running and leads.
    pub fn is_leader(&self) -> bool {
        self.raw
            .as_ref()
            .is_some_and(|raw| raw.raft.state == StateRole::Leader)
    }

    /// Whether the node runs with asynchronous storage writes.
    pub fn is_async(&self) -> bool {
        self.cfg.async_storage_writes
    }

    /// Whether the running node has a `Ready` to handle.
    pub fn has_ready(&self) -> bool {
        self.raw.as_ref().is_some_and(RawNode::has_ready)
    }

    /// The configuration as the running node knows it.
    pub fn conf_state(&self) -> Option<ConfState> {
        self.raw.as_ref().map(|raw| raw.raft.prs.conf_state())
    }

    fn raw(&mut self) -> &mut RawNode<MemStorage> {
        self.raw.as_mut().expect("invariant: the node is up")
    }

    fn observe(&mut self, env: &mut Env) -> SimResult {
        let raw = self.raw.as_ref().expect("invariant: the node is up");
        env.checker.observe(self.id, &raw.raft)
    }

    /// Starts (or restarts) the node from its disk, as a real process would after a crash.
    pub fn start(&mut self, env: &mut Env) -> SimResult {
        let storage = MemStorage::new();
        let sm = if self.state_machine_durable && self.disk.state_machine.is_some() {
            self.disk
                .state_machine
                .clone()
                .expect("invariant: checked above")
        } else if self.disk.snapshot.metadata.is_some() {
            StateMachine::from_snapshot(&self.disk.snapshot)
        } else {
            StateMachine::default()
        };
        assert!(
            sm.applied >= self.disk.snapshot.index(),
            "state machine behind its snapshot"
        );
        {
            let mut core = storage.wl();
            if self.disk.snapshot.metadata.is_some() {
                core.apply_snapshot(self.disk.snapshot.clone())
                    .map_err(|e| violation("restart", format!("node {}: {e}", self.id)))?;
            }
            core.append(&self.disk.entries)
                .map_err(|e| violation("restart", format!("node {}: {e}", self.id)))?;
            // Entries up to the applied index are committed: an application whose applied
            // state ran ahead of its last synced hard state raises the commit index to it.
            let mut hs = self.disk.hard_state;
            hs.commit = hs.commit.max(sm.applied);
            core.set_hard_state(hs);
            core.set_conf_state(sm.conf_state.clone());
        }
        let cfg = Config {
            applied: sm.applied,
            seed: env.rng.next_u64(),
            ..self.cfg.clone()
        };
        let raw = RawNode::new(&cfg, storage.clone())
            .map_err(|e| violation("restart", format!("node {} cannot start: {e}", self.id)))?;
        env.trace.line(|| {
            format!(
                "  node {} starts: term {} vote {} commit {} applied {} last {} conf {:?}",
                self.id,
                raw.raft.term,
                raw.raft.vote,
                raw.raft.raft_log.committed,
                sm.applied,
                raw.raft.raft_log.last_index(),
                sm.conf_state
            )
        });
        self.storage = storage;
        self.sm = sm;
        self.raw = Some(raw);
        self.incarnation += 1;
        let raw = self.raw.as_ref().expect("invariant: just started");
        env.checker.on_restart(self.id, &raw.raft)
    }

    /// Crashes the node: everything not fsynced is lost.
    pub fn crash(&mut self, env: &mut Env) {
        self.raw = None;
        self.stop_requested = false;
        self.append_queue.clear();
        self.apply_queue.clear();
        self.unsynced_hard_state = None;
        let durable_applied = match (&self.disk.state_machine, self.state_machine_durable) {
            (Some(sm), true) => sm.applied,
            _ => self.disk.snapshot.index(),
        };
        env.checker
            .on_crash(self.id, self.disk.hard_state.commit, durable_applied);
    }

    /// Ticks the node's clock.
    pub fn tick(&mut self, env: &mut Env) -> SimResult {
        self.raw().tick();
        self.observe(env)
    }

    /// Steps a message from the network.
    pub fn step(&mut self, m: Message, env: &mut Env) -> SimResult {
        if let Err(e) = self.raw().step(m) {
            env.trace
                .line(|| format!("  node {} refused the message: {e}", self.id));
        }
        self.observe(env)
    }

    /// Proposes client write `write_id`, padded to a random size.
    pub fn propose(&mut self, write_id: u64, env: &mut Env) -> SimResult {
        let mut data = BytesMut::new();
        data.put_u8(WRITE_TAG);
        data.put_u64(write_id);
        data.put_bytes(0xab, env.rng.between(0, 48) as usize);
        match self.raw().propose(data.freeze()) {
            Ok(()) => env.checker.on_propose(write_id, self.id),
            Err(e) => env
                .trace
                .line(|| format!("  write {write_id} refused: {e}")),
        }
        self.observe(env)
    }

    /// Starts read `read_id` here.
    pub fn read(&mut self, read_id: u64, env: &mut Env) -> SimResult {
        let mut ctx = BytesMut::new();
        ctx.put_u8(READ_TAG);
        ctx.put_u64(read_id);
        match self.raw().read_index(ctx.freeze()) {
            Ok(()) => env.checker.on_read_start(read_id, self.id),
            Err(e) => env.trace.line(|| format!("  read {read_id} refused: {e}")),
        }
        self.observe(env)
    }

    /// Runs `f` on the raw node (campaign, transfer, conf change...), tracing a refusal.
    pub fn call(
        &mut self,
        what: &str,
        env: &mut Env,
        f: impl FnOnce(&mut RawNode<MemStorage>) -> raft::Result<()>,
    ) -> SimResult {
        if let Err(e) = f(self.raw()) {
            env.trace
                .line(|| format!("  node {} refused {what}: {e}", self.id));
        }
        self.observe(env)
    }

    /// Reports the outcome of a snapshot this node sent to `to`.
    pub fn report_snapshot(&mut self, to: u64, status: SnapshotStatus, env: &mut Env) -> SimResult {
        self.raw().report_snapshot(to, status);
        self.observe(env)
    }

    /// Reports that `to` could not be reached.
    pub fn report_unreachable(&mut self, to: u64, env: &mut Env) -> SimResult {
        self.raw().report_unreachable(to);
        self.observe(env)
    }

    /// Handles one `Ready`, per the node's storage contract.
    pub fn handle_ready(&mut self, env: &mut Env) -> SimResult {
        let rd = self.raw().ready();
        self.observe(env)?;
        if let Some(hs) = rd.hard_state.filter(|hs| hs.vote == self.id)
            && hs.term > self.campaign_term
        {
            self.campaign_term = hs.term;
            self.just_campaigned = true;
        }
        env.trace.line(|| describe_ready(self.id, &rd));
        if self.is_async() {
            for m in rd.messages {
                match m.to {
                    LOCAL_APPEND_THREAD => self.append_queue.push_back(m),
                    LOCAL_APPLY_THREAD => self.apply_queue.push_back(m),
                    _ => self.send(m, env),
                }
            }
            return self.on_read_states(&rd.read_states, env);
        }
        if let Some(snap) = &rd.snapshot {
            self.install_snapshot(snap, env)?;
        }
        self.write_entries(&rd.entries, env)?;
        let sync = rd.must_sync || rd.snapshot.is_some() || env.rng.chance(0.2);
        self.write_hard_state(rd.hard_state, sync)?;
        for m in rd.messages {
            self.send(m, env);
        }
        self.on_read_states(&rd.read_states, env)?;
        self.apply_entries(&rd.committed_entries, env)?;
        self.raw().advance();
        self.observe(env)?;
        env.checker.complete_reads(self.id, self.sm.applied);
        Ok(())
    }

    /// The append thread handles its next `MsgStorageAppend`: persist, then deliver the
    /// responses (local ones are stepped at once, the rest go out on the network).
    pub fn process_append(&mut self, env: &mut Env) -> SimResult {
        let Some(mut m) = self.append_queue.pop_front() else {
            return Ok(());
        };
        env.trace
            .line(|| format!("  node {} append thread: {}", self.id, describe_msg(&m)));
        if let Some(snap) = &m.snapshot {
            self.install_snapshot(snap, env)?;
        }
        self.write_entries(&m.entries, env)?;
        let hs = (m.term != 0).then_some(HardState {
            term: m.term,
            vote: m.vote,
            commit: m.commit,
        });
        let written = *self.storage.rl().hard_state();
        let sync = !m.entries.is_empty()
            || m.snapshot.is_some()
            || hs.is_some_and(|hs| hs.term != written.term || hs.vote != written.vote)
            || env.rng.chance(0.2);
        self.write_hard_state(hs, sync)?;
        for resp in std::mem::take(&mut m.responses) {
            if resp.to == self.id {
                self.step(resp, env)?;
            } else {
                let _ = env.send(resp);
            }
        }
        Ok(())
    }

    /// The apply thread handles its next `MsgStorageApply`: apply, then deliver the responses.
    pub fn process_apply(&mut self, env: &mut Env) -> SimResult {
        let Some(mut m) = self.apply_queue.pop_front() else {
            return Ok(());
        };
        env.trace
            .line(|| format!("  node {} apply thread: {}", self.id, describe_msg(&m)));
        self.apply_entries(&m.entries, env)?;
        for resp in std::mem::take(&mut m.responses) {
            if resp.to == self.id {
                self.step(resp, env)?;
            } else {
                let _ = env.send(resp);
            }
        }
        env.checker.complete_reads(self.id, self.sm.applied);
        Ok(())
    }

    /// Sends a message from the node's `Ready`. A snapshot goes out as the state machine is
    /// now, as etcd's server sends a "merged" snapshot: the stored one may predate the
    /// configuration change that added the recipient, which would then refuse it forever.
    fn send(&mut self, mut m: Message, env: &mut Env) {
        let raw = self.raw.as_ref().expect("invariant: the node is up");
        if let Some(snap) = m.snapshot.as_mut().filter(|s| s.index() < self.sm.applied) {
            let term = raw.raft.raft_log.term(self.sm.applied).unwrap_or(0);
            if term != 0 {
                **snap = Snapshot {
                    data: self.sm.encode(),
                    metadata: Some(SnapshotMetadata {
                        conf_state: Some(self.sm.conf_state.clone()),
                        index: self.sm.applied,
                        term,
                    }),
                };
            }
        }
        let (to, is_snap) = (m.to, m.snapshot.is_some());
        if !env.send(m) && is_snap {
            // The transport reports a snapshot it could not send.
            self.raw().report_snapshot(to, SnapshotStatus::Failure);
        }
    }

    /// Snapshots the state machine and compacts the log up to a random index at or below it.
    pub fn compact(&mut self, env: &mut Env) -> SimResult {
        let applied = self.sm.applied;
        if applied <= self.storage.rl().snapshot().index()
            || applied > self.storage.rl().last_index()
        {
            return Ok(());
        }
        let snap = self
            .storage
            .wl()
            .create_snapshot(applied, Some(self.sm.conf_state.clone()), self.sm.encode())
            .map_err(|e| violation("storage", format!("node {}: create_snapshot: {e}", self.id)))?;
        let first = self.storage.rl().first_index();
        let compact_index = if first <= applied {
            env.rng.between(first, applied)
        } else {
            0
        };
        if compact_index > 0 {
            self.storage
                .wl()
                .compact(compact_index)
                .map_err(|e| violation("storage", format!("node {}: compact: {e}", self.id)))?;
        }
        self.disk.install_local_snapshot(&snap, compact_index);
        self.fsync()?;
        env.trace.line(|| {
            format!(
                "  node {} snapshots at {applied}, compacts to {compact_index}",
                self.id
            )
        });
        Ok(())
    }

    fn install_snapshot(&mut self, snap: &Snapshot, env: &mut Env) -> SimResult {
        self.storage
            .wl()
            .apply_snapshot(snap.clone())
            .map_err(|e| violation("storage", format!("node {}: apply_snapshot: {e}", self.id)))?;
        self.disk.apply_snapshot(snap);
        let term = self.raw.as_ref().map_or(0, |raw| raw.raft.term);
        env.checker
            .record_committed(snap.index(), snap.term(), self.id, term)?;
        if snap.index() > self.sm.applied {
            self.sm = StateMachine::from_snapshot(snap);
            env.checker
                .on_restore(self.id, self.sm.applied, self.sm.hash)?;
        }
        if self.state_machine_durable {
            self.disk.state_machine = Some(self.sm.clone());
        }
        env.checker.coverage.snapshots_installed += 1;
        env.trace.line(|| {
            format!(
                "  node {} installs snapshot {}/{}",
                self.id,
                snap.index(),
                snap.term()
            )
        });
        self.fsync()
    }

    /// Writes entries to storage and, fsynced, to the disk (log matching is checked here).
    fn write_entries(&mut self, ents: &[Entry], env: &mut Env) -> SimResult {
        if ents.is_empty() {
            return Ok(());
        }
        self.storage
            .wl()
            .append(ents)
            .map_err(|e| violation("storage", format!("node {}: append: {e}", self.id)))?;
        let written = self
            .disk
            .append(ents)
            .map_err(|e| violation("durability", format!("node {}: {e}", self.id)))?;
        for (e, prev_term) in &written {
            env.checker.on_durable_entry(self.id, e, *prev_term)?;
        }
        self.fsync()
    }

    fn write_hard_state(&mut self, hs: Option<HardState>, sync: bool) -> SimResult {
        if let Some(hs) = hs {
            self.storage.wl().set_hard_state(hs);
            self.unsynced_hard_state = Some(hs);
        }
        if sync { self.fsync() } else { Ok(()) }
    }

    /// Makes every write so far durable.
    fn fsync(&mut self) -> SimResult {
        if let Some(hs) = self.unsynced_hard_state.take() {
            let old = self.disk.hard_state;
            self.just_voted |= hs.vote != 0 && (hs.term != old.term || hs.vote != old.vote);
            self.disk.hard_state = hs;
        }
        let last = self.disk.last_index().max(self.disk.snapshot.index());
        Checker::on_fsync(self.id, self.disk.hard_state.commit, last)
    }

    fn on_read_states(&mut self, states: &[raft::ReadState], env: &mut Env) -> SimResult {
        for rs in states {
            let ctx = rs.request_ctx.as_ref();
            if ctx.len() != 9 || ctx[0] != READ_TAG {
                return Err(violation(
                    "read linearizability",
                    format!("unknown read {ctx:?}"),
                ));
            }
            let read_id = u64::from_be_bytes(ctx[1..9].try_into().expect("invariant: 8 bytes"));
            env.trace
                .line(|| format!("  node {} read {read_id} at index {}", self.id, rs.index));
            env.checker.on_read_state(read_id, self.id, rs.index)?;
        }
        env.checker.complete_reads(self.id, self.sm.applied);
        Ok(())
    }

    /// Applies committed entries to the state machine (and configuration changes to the node).
    fn apply_entries(&mut self, ents: &[Entry], env: &mut Env) -> SimResult {
        for e in ents {
            if e.index <= self.sm.applied {
                continue; // covered by a snapshot installed in the meantime
            }
            if e.index != self.sm.applied + 1 {
                return Err(violation(
                    "state machine safety",
                    format!(
                        "node {} applies index {} after {}",
                        self.id, e.index, self.sm.applied
                    ),
                ));
            }
            let write_id = write_id_of(e);
            if e.entry_type != EntryType::EntryNormal as i32 {
                self.apply_conf_change(e, env)?;
            }
            self.sm.apply(e.index, entry_digest(e), write_id.is_some());
            env.checker
                .on_apply(self.id, e.index, entry_digest(e), self.sm.hash)?;
            if let Some(write_id) = write_id {
                let leads = self.is_leader();
                env.checker
                    .on_write_applied(write_id, e.index, self.id, leads);
            }
            if self.state_machine_durable {
                self.disk.state_machine = Some(self.sm.clone());
            }
        }
        Ok(())
    }

    fn apply_conf_change(&mut self, e: &Entry, env: &mut Env) -> SimResult {
        let cc = decode_conf_change(e)
            .map_err(|err| violation("state machine safety", format!("bad conf change: {err}")))?;
        match self.raw().apply_conf_change(&cc) {
            Ok(cs) => {
                env.trace
                    .line(|| format!("  node {} applies conf change {cc:?} -> {cs:?}", self.id));
                let member = [&cs.voters, &cs.learners, &cs.voters_outgoing]
                    .iter()
                    .any(|ids| ids.contains(&self.id));
                if !member && !self.cfg.step_down_on_removal && self.is_leader() {
                    self.stop_requested = true;
                }
                self.storage.wl().set_conf_state(cs.clone());
                self.sm.conf_state = cs;
            }
            Err(err) => {
                env.trace
                    .line(|| format!("  node {} cannot apply {cc:?}: {err}", self.id));
            }
        }
        self.observe(env)?;
        env.checker
            .on_conf_applied(self.id, e.index, &self.sm.conf_state)
    }
}

/// The client write id an entry carries, if it is a write.
fn write_id_of(e: &Entry) -> Option<u64> {
    let data = e.data.as_ref();
    (e.entry_type == EntryType::EntryNormal as i32 && data.len() >= 9 && data[0] == WRITE_TAG)
        .then(|| u64::from_be_bytes(data[1..9].try_into().expect("invariant: 8 bytes")))
}

/// A one-line summary of a `Ready` for the trace.
fn describe_ready(id: u64, rd: &Ready) -> String {
    let mut parts = vec![format!("  node {id} ready:")];
    if let Some(ss) = rd.soft_state {
        parts.push(format!("soft {:?} lead {}", ss.raft_state, ss.leader_id));
    }
    if let Some(hs) = rd.hard_state {
        parts.push(format!("hs t{} v{} c{}", hs.term, hs.vote, hs.commit));
    }
    if let (Some(first), Some(last)) = (rd.entries.first(), rd.entries.last()) {
        parts.push(format!("entries {}..={} ", first.index, last.index));
    }
    if let Some(snap) = &rd.snapshot {
        parts.push(format!("snapshot {}/{}", snap.index(), snap.term()));
    }
    if let (Some(first), Some(last)) = (rd.committed_entries.first(), rd.committed_entries.last()) {
        parts.push(format!("apply {}..={}", first.index, last.index));
    }
    if !rd.read_states.is_empty() {
        parts.push(format!("reads {}", rd.read_states.len()));
    }
    parts.push(format!("msgs {} sync {}", rd.messages.len(), rd.must_sync));
    parts.join(" ")
}
