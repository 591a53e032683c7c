//! The safety checkers, run after every interaction with a node and after every step.
//!
//! Each checker keeps the global history it needs, built incrementally so that checking stays
//! cheap (a seed runs thousands of steps):
//!
//! | checker | history | checked when |
//! | --- | --- | --- |
//! | election safety | term -> leader, over all history | a node is seen leading |
//! | log matching | (index, term) -> (entry digest, previous term) | an entry becomes durable |
//! | committed entries never change | index -> committed term | a node's commit index moves |
//! | leader completeness | the committed table | a node starts leading; new commits |
//! | commit rule | the node's last commit index and term | a leader's commit index moves |
//! | state machine safety | index -> (entry digest, state hash); index -> configuration | apply |
//! | monotonic commit, apply and term | per node, floors from the disk across restarts | always |
//! | durability | the disk's commit index never passes its log | every fsync |
//! | read linearizability | write acks, read start floors | a `ReadState` arrives |
//!
//! Reads are checked against the model in the issue: a write is acknowledged when it is applied
//! at the node that proposed it or at a leader; a read starts when `read_index` is called and
//! must return an index at or above every write acknowledged before it started.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use raft::raftpb::{ConfState, Entry};
use raft::{MemStorage, Raft, StateRole};

use crate::disk::entry_digest;

/// A broken invariant, named by the checker that found it.
#[derive(Debug, Clone)]
pub struct Violation {
    /// The checker.
    pub checker: &'static str,
    /// What it saw.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.checker, self.detail)
    }
}

/// The result of anything that can break an invariant.
pub type SimResult<T = ()> = Result<T, Violation>;

/// Builds a violation.
pub fn violation(checker: &'static str, detail: impl Into<String>) -> Violation {
    Violation {
        checker,
        detail: detail.into(),
    }
}

/// A committed entry as the checker knows it.
#[derive(Clone, Copy, Debug)]
struct Committed {
    /// The entry's term.
    term: u64,
    /// At least the term in which it was committed.
    commit_term: u64,
}

/// What the checker last saw of one node.
#[derive(Clone, Debug, Default)]
struct NodeView {
    term: u64,
    commit: u64,
    applied: u64,
    /// The term in which the node was last seen leading (its log was checked then).
    leader_term: u64,
    /// The durable commit index the node must not restart below.
    commit_floor: u64,
    /// The durable applied index the node must not restart below.
    applied_floor: u64,
}

/// A read between `read_index` and its completion.
#[derive(Clone, Debug)]
struct PendingRead {
    node: u64,
    /// The highest index of a write acknowledged before the read started.
    floor: u64,
    /// The read index once the `ReadState` arrived.
    index: Option<u64>,
}

/// The term of the entry at `index` in `r`'s log, if the log still knows it.
fn log_term(r: &Raft<MemStorage>, index: u64) -> Option<u64> {
    let log = &r.raft_log;
    if index + 1 < log.first_index() || index > log.last_index() {
        return None;
    }
    log.term(index).ok()
}

/// Counters that show what a run exercised.
#[derive(Clone, Debug, Default)]
pub struct Coverage {
    /// Distinct (term, leader) pairs seen.
    pub leaders: u64,
    /// The highest commit index seen.
    pub max_commit: u64,
    /// Client writes acknowledged.
    pub writes_acked: u64,
    /// Reads completed and checked.
    pub reads_checked: u64,
    /// Configuration changes applied (counted once per index).
    pub conf_changes: u64,
    /// Snapshots installed from a leader.
    pub snapshots_installed: u64,
    /// Crashes.
    pub crashes: u64,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped (randomly, by partitions, to crashed nodes, or a full queue).
    pub dropped: u64,
    /// Lease-based reads that missed an acknowledged write (see [`Checker::on_read_state`]).
    pub stale_lease_reads: u64,
}

impl Coverage {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Coverage) {
        self.leaders += other.leaders;
        self.max_commit += other.max_commit;
        self.writes_acked += other.writes_acked;
        self.reads_checked += other.reads_checked;
        self.conf_changes += other.conf_changes;
        self.snapshots_installed += other.snapshots_installed;
        self.crashes += other.crashes;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.stale_lease_reads += other.stale_lease_reads;
    }
}

/// The global history and the per-node views.
pub struct Checker {
    /// Term -> the one node that led it.
    leaders: BTreeMap<u64, u64>,
    /// `committed[i]` is the committed entry at index `i`: its term, and an upper bound of the
    /// term in which it was committed (the term of the node that first reported it, which is
    /// that term exactly when the leader reports it, as it always does first unless it crashes).
    /// `None`: not seen yet.
    committed: Vec<Option<Committed>>,
    /// Indexes committed since the last check of the current leaders.
    newly_committed: Vec<u64>,
    /// (index, term) -> (entry digest, term of the previous entry), for durable entries.
    log_pairs: HashMap<(u64, u64), (u64, u64)>,
    /// `applied[i]`: the digest of the entry applied at `i` and the state hash after it.
    applied: Vec<Option<(u64, u64)>>,
    /// The configuration after applying the change at an index.
    conf_at: HashMap<u64, ConfState>,
    nodes: Vec<NodeView>,
    /// Write id -> proposing node, for writes not acknowledged yet.
    writes_pending: BTreeMap<u64, u64>,
    /// The highest index of an acknowledged write.
    max_acked_index: u64,
    /// Read id -> the read.
    reads: BTreeMap<u64, PendingRead>,
    /// Whether reads are lease-based (see [`Checker::on_read_state`]).
    lease_reads: bool,
    /// Whether a stale lease read fails the run.
    strict_lease: bool,
    /// The first stale lease read seen, described.
    pub stale_lease_read: Option<String>,
    /// What was exercised.
    pub coverage: Coverage,
}

impl Checker {
    /// A checker for `node_count` nodes with ids `1..=node_count`.
    pub fn new(node_count: usize, lease_reads: bool, strict_lease: bool) -> Checker {
        Checker {
            leaders: BTreeMap::new(),
            committed: vec![Some(Committed {
                term: 0,
                commit_term: 0,
            })],
            newly_committed: Vec::new(),
            log_pairs: HashMap::new(),
            applied: vec![Some((0, 0))],
            conf_at: HashMap::new(),
            nodes: vec![NodeView::default(); node_count],
            writes_pending: BTreeMap::new(),
            max_acked_index: 0,
            reads: BTreeMap::new(),
            lease_reads,
            strict_lease,
            stale_lease_read: None,
            coverage: Coverage::default(),
        }
    }

    fn view(&mut self, id: u64) -> &mut NodeView {
        &mut self.nodes[(id - 1) as usize]
    }

    /// Looks at a node after any interaction: election safety, monotonic term, commit and
    /// apply, newly committed entries, and the log of a new leader.
    pub fn observe(&mut self, id: u64, r: &Raft<MemStorage>) -> SimResult {
        let view = self.view(id).clone();
        if r.term < view.term {
            return Err(violation(
                "monotonic term",
                format!("node {id} went from term {} to {}", view.term, r.term),
            ));
        }
        let commit = r.raft_log.committed;
        if commit < view.commit {
            return Err(violation(
                "monotonic commit",
                format!("node {id} commit went from {} to {commit}", view.commit),
            ));
        }
        let applied = r.raft_log.applied;
        if applied < view.applied {
            return Err(violation(
                "monotonic apply",
                format!(
                    "node {id} applied index went from {} to {applied}",
                    view.applied
                ),
            ));
        }
        if applied > commit {
            return Err(violation(
                "monotonic apply",
                format!("node {id} applied {applied} beyond its commit index {commit}"),
            ));
        }
        if r.state == StateRole::Leader && r.term == view.term && commit > view.commit {
            // A leader moves its commit index only to an entry of its own term: entries of
            // earlier terms commit through it, never by counting replicas (Raft paper, figure 8).
            let term = log_term(r, commit);
            if term != Some(r.term) {
                return Err(violation(
                    "commit rule",
                    format!(
                        "leader {id} of term {} committed index {commit} of term {term:?} by \
                         counting replicas",
                        r.term
                    ),
                ));
            }
        }
        for index in view.commit + 1..=commit {
            if let Some(term) = log_term(r, index) {
                self.record_committed(index, term, id, r.term)?;
            }
        }
        let v = self.view(id);
        v.term = r.term;
        v.commit = commit;
        v.applied = applied;
        if r.state == StateRole::Leader {
            self.observe_leader(id, r)?;
        }
        Ok(())
    }

    fn observe_leader(&mut self, id: u64, r: &Raft<MemStorage>) -> SimResult {
        let term = r.term;
        match self.leaders.get(&term) {
            Some(&other) if other != id => {
                return Err(violation(
                    "election safety",
                    format!("term {term} has two leaders: {other} and {id}"),
                ));
            }
            Some(_) => {}
            None => {
                self.leaders.insert(term, id);
                self.coverage.leaders += 1;
            }
        }
        if self.view(id).leader_term == term {
            return Ok(());
        }
        self.view(id).leader_term = term;
        // A new leader's log must hold every entry committed so far in earlier terms.
        let start = r.raft_log.first_index().saturating_sub(1).max(1);
        for index in start..self.committed.len() as u64 {
            if let Some(c) = self.committed[index as usize]
                && c.commit_term < term
            {
                Self::check_leader_has(id, r, index, c.term)?;
            }
        }
        Ok(())
    }

    fn check_leader_has(id: u64, r: &Raft<MemStorage>, index: u64, want: u64) -> SimResult {
        if index + 1 < r.raft_log.first_index() {
            return Ok(()); // compacted: covered by the snapshot, which holds committed state
        }
        let got = log_term(r, index);
        if got != Some(want) {
            return Err(violation(
                "leader completeness",
                format!(
                    "leader {id} of term {} has term {got:?} at index {index}, but term {want} \
                     was committed there",
                    r.term
                ),
            ));
        }
        Ok(())
    }

    /// Checks the entries committed since the last call against every current leader of a
    /// later or equal term.
    pub fn check_leaders(&mut self, leaders: &[(u64, &Raft<MemStorage>)]) -> SimResult {
        let newly = std::mem::take(&mut self.newly_committed);
        for &(id, r) in leaders {
            for &index in &newly {
                let c = self.committed[index as usize].expect("invariant: recorded");
                if c.commit_term <= r.term {
                    Self::check_leader_has(id, r, index, c.term)?;
                }
            }
        }
        Ok(())
    }

    /// Records that the entry (`index`, `term`) is committed, as node `id` in term
    /// `node_term` reports.
    pub fn record_committed(
        &mut self,
        index: u64,
        term: u64,
        id: u64,
        node_term: u64,
    ) -> SimResult {
        let i = index as usize;
        if i >= self.committed.len() {
            self.committed.resize(i + 1, None);
        }
        match self.committed[i] {
            None => {
                self.committed[i] = Some(Committed {
                    term,
                    commit_term: node_term,
                });
                self.newly_committed.push(index);
                self.coverage.max_commit = self.coverage.max_commit.max(index);
                Ok(())
            }
            Some(c) if c.term == term => Ok(()),
            Some(Committed { term: t, .. }) => Err(violation(
                "committed entries never change",
                format!("index {index} was committed with term {t}, node {id} commits term {term}"),
            )),
        }
    }

    /// Log matching: an entry became durable on node `id` after an entry of term `prev_term`.
    pub fn on_durable_entry(&mut self, id: u64, e: &Entry, prev_term: u64) -> SimResult {
        if e.term < prev_term {
            return Err(violation(
                "log matching",
                format!(
                    "node {id} logs term {} at {} after term {prev_term}",
                    e.term, e.index
                ),
            ));
        }
        let digest = entry_digest(e);
        match self.log_pairs.get(&(e.index, e.term)) {
            None => {
                self.log_pairs
                    .insert((e.index, e.term), (digest, prev_term));
                Ok(())
            }
            Some(&(d, p)) if d == digest && p == prev_term => Ok(()),
            Some(&(d, p)) => Err(violation(
                "log matching",
                format!(
                    "node {id} has a different entry at index {} term {}: digest {digest:x} \
                     after term {prev_term}, elsewhere digest {d:x} after term {p}",
                    e.index, e.term
                ),
            )),
        }
    }

    /// Durability: after an fsync the durable commit index lies within the durable log.
    pub fn on_fsync(id: u64, commit: u64, last_index: u64) -> SimResult {
        if commit > last_index {
            return Err(violation(
                "durability",
                format!("node {id} persisted commit {commit} beyond its durable log {last_index}"),
            ));
        }
        Ok(())
    }

    /// State machine safety: node `id` applied the entry with `digest` at `index`, reaching
    /// state `hash`.
    pub fn on_apply(&mut self, id: u64, index: u64, digest: u64, hash: u64) -> SimResult {
        let i = index as usize;
        if i >= self.applied.len() {
            self.applied.resize(i + 1, None);
        }
        match self.applied[i] {
            None => {
                self.applied[i] = Some((digest, hash));
                Ok(())
            }
            Some((d, h)) if d == digest && h == hash => Ok(()),
            Some((d, h)) => Err(violation(
                "state machine safety",
                format!(
                    "node {id} applied entry {digest:x} (state {hash:x}) at index {index}, \
                     another node applied {d:x} (state {h:x})"
                ),
            )),
        }
    }

    /// State machine safety for snapshots: a state restored at `index` equals the state every
    /// node reached by applying up to `index`.
    pub fn on_restore(&mut self, id: u64, index: u64, hash: u64) -> SimResult {
        if let Some(Some((_, h))) = self.applied.get(index as usize)
            && *h != hash
        {
            return Err(violation(
                "state machine safety",
                format!("node {id} restored state {hash:x} at {index}, applied state is {h:x}"),
            ));
        }
        Ok(())
    }

    /// Every node ends up in the same configuration after applying the change at `index`.
    pub fn on_conf_applied(&mut self, id: u64, index: u64, cs: &ConfState) -> SimResult {
        match self.conf_at.get(&index) {
            None => {
                self.conf_at.insert(index, cs.clone());
                self.coverage.conf_changes += 1;
                Ok(())
            }
            Some(seen) if seen == cs => Ok(()),
            Some(seen) => Err(violation(
                "state machine safety",
                format!("node {id} has configuration {cs:?} after index {index}, others {seen:?}"),
            )),
        }
    }

    /// A client proposed write `write_id` at node `id`.
    pub fn on_propose(&mut self, write_id: u64, id: u64) {
        self.writes_pending.insert(write_id, id);
    }

    /// Node `id` applied write `write_id` at `index`; acknowledges it if the node proposed it
    /// or leads.
    pub fn on_write_applied(&mut self, write_id: u64, index: u64, id: u64, leads: bool) {
        let Some(&proposer) = self.writes_pending.get(&write_id) else {
            return;
        };
        if proposer == id || leads {
            self.writes_pending.remove(&write_id);
            self.max_acked_index = self.max_acked_index.max(index);
            self.coverage.writes_acked += 1;
        }
    }

    /// Whether the write was acknowledged.
    pub fn is_acked(&self, write_id: u64) -> bool {
        !self.writes_pending.contains_key(&write_id)
    }

    /// A client started read `read_id` at node `id`.
    pub fn on_read_start(&mut self, read_id: u64, id: u64) {
        let floor = self.max_acked_index;
        self.reads.insert(
            read_id,
            PendingRead {
                node: id,
                floor,
                index: None,
            },
        );
    }

    /// Read linearizability: the read's index must cover every write acknowledged before the
    /// read started.
    ///
    /// Lease-based reads are not linearizable under this fault model, with or without clock
    /// drift, because the core follows etcd (etcd-io/raft#166): a leader trusts its lease until
    /// its next `CheckQuorum`, up to two election timeouts after it last heard from a quorum,
    /// while followers vote for someone else one election timeout after they last heard from it,
    /// at once after a restart, and a heartbeat response may answer a long-delayed heartbeat. A
    /// stale lease read is therefore counted and reported, and fails the run only in strict mode
    /// (`SIM_STRICT_LEASE=1`); reads in `Safe` mode are always checked strictly.
    pub fn on_read_state(&mut self, read_id: u64, id: u64, index: u64) -> SimResult {
        let Some(read) = self.reads.get_mut(&read_id) else {
            return Ok(());
        };
        if read.node != id || read.index.is_some() {
            return Ok(()); // a duplicate answer (the request was duplicated in flight)
        }
        read.index = Some(index);
        if index >= read.floor {
            return Ok(());
        }
        let detail = format!(
            "read {read_id} at node {id} got read index {index}, but a write at index {} was \
             acknowledged before the read started",
            read.floor
        );
        if self.lease_reads && !self.strict_lease {
            self.coverage.stale_lease_reads += 1;
            self.stale_lease_read.get_or_insert(detail);
            return Ok(());
        }
        Err(violation("read linearizability", detail))
    }

    /// Completes the reads of node `id` whose index it has applied.
    pub fn complete_reads(&mut self, id: u64, applied: u64) {
        let before = self.reads.len();
        self.reads.retain(|_, r| {
            !(r.node == id && r.index.is_some_and(|i| i <= applied) && r.floor <= applied)
        });
        self.coverage.reads_checked += (before - self.reads.len()) as u64;
    }

    /// Node `id` crashed; its durable commit and applied indexes are the floors it must restart
    /// at or above, and its reads are lost.
    pub fn on_crash(&mut self, id: u64, durable_commit: u64, durable_applied: u64) {
        self.reads.retain(|_, r| r.node != id);
        self.coverage.crashes += 1;
        let v = self.view(id);
        v.commit_floor = v.commit_floor.max(durable_commit);
        v.applied_floor = v.applied_floor.max(durable_applied);
    }

    /// Node `id` restarted: its commit and applied indexes may not be below the durable floors.
    pub fn on_restart(&mut self, id: u64, r: &Raft<MemStorage>) -> SimResult {
        let v = self.view(id).clone();
        let (commit, applied) = (r.raft_log.committed, r.raft_log.applied);
        if commit < v.commit_floor {
            return Err(violation(
                "monotonic commit",
                format!(
                    "node {id} restarted at commit {commit} below durable {}",
                    v.commit_floor
                ),
            ));
        }
        if applied < v.applied_floor {
            return Err(violation(
                "monotonic apply",
                format!(
                    "node {id} restarted at applied {applied} below {}",
                    v.applied_floor
                ),
            ));
        }
        let v = self.view(id);
        v.term = r.term;
        v.commit = commit.min(v.commit);
        v.applied = applied;
        v.leader_term = 0;
        self.observe(id, r)
    }
}
