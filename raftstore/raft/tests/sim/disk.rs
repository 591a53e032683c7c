//! What survives a crash: each node's durable log, hard state, snapshot and (optionally) state
//! machine, kept apart from the `MemStorage` the node reads.
//!
//! Every write reaches the node's `MemStorage` at once; it reaches the [`Disk`] only when it is
//! fsynced. Entries, snapshots and changes of term or vote are always fsynced before anything that
//! depends on them is acknowledged; a hard state that only moves the commit index may be written
//! without an fsync (the `Ready::must_sync == false` case) and is then lost by a crash unless a
//! later fsync carries it. A restart rebuilds a fresh `MemStorage` from the disk alone.
//!
//! ```text
//!   Ready / MsgStorageAppend ──► MemStorage (read by the node)
//!                          └──► fsync? ──► Disk ──(crash + restart)──► new MemStorage
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};
use raft::raftpb::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};

/// The durable state of one node.
#[derive(Clone, Debug, Default)]
pub struct Disk {
    /// The last fsynced hard state.
    pub hard_state: HardState,
    /// The latest snapshot (created locally or received); `metadata` is `None` for a node that
    /// was never a member.
    pub snapshot: Snapshot,
    /// The index of the last entry compacted away (its term is `compacted_term`).
    pub compacted_index: u64,
    /// The term of the entry at `compacted_index`.
    pub compacted_term: u64,
    /// The log after `compacted_index`, contiguous.
    pub entries: Vec<Entry>,
    /// The state machine, when the application persists it on every apply.
    pub state_machine: Option<StateMachine>,
}

impl Disk {
    /// The disk of a node that starts as a member of `cs` with an empty log.
    pub fn bootstrap(cs: ConfState, state_machine_durable: bool) -> Disk {
        let sm = StateMachine::initial(cs.clone());
        Disk {
            snapshot: Snapshot {
                data: sm.encode(),
                metadata: Some(SnapshotMetadata {
                    conf_state: Some(cs),
                    index: 0,
                    term: 0,
                }),
            },
            state_machine: state_machine_durable.then_some(sm),
            ..Disk::default()
        }
    }

    /// The index of the last durable entry.
    pub fn last_index(&self) -> u64 {
        self.compacted_index + self.entries.len() as u64
    }

    /// The term of the entry at `index`, if the disk still knows it.
    pub fn term(&self, index: u64) -> Option<u64> {
        if index == self.compacted_index {
            return Some(self.compacted_term);
        }
        if index < self.compacted_index {
            return None;
        }
        self.entries
            .get((index - self.compacted_index - 1) as usize)
            .map(|e| e.term)
    }

    /// Writes `ents`, replacing the log from `ents[0].index` on; entries at or below the
    /// compaction point are skipped. Returns, for each entry written, the term of the entry
    /// before it (for the log matching check).
    ///
    /// # Errors
    /// A description of the gap if `ents` would leave one.
    pub fn append(&mut self, ents: &[Entry]) -> Result<Vec<(Entry, u64)>, String> {
        let ents: Vec<&Entry> = ents
            .iter()
            .filter(|e| e.index > self.compacted_index)
            .collect();
        let Some(first) = ents.first() else {
            return Ok(Vec::new());
        };
        if first.index > self.last_index() + 1 {
            return Err(format!(
                "log gap: writing index {} after last index {}",
                first.index,
                self.last_index()
            ));
        }
        self.entries
            .truncate((first.index - self.compacted_index - 1) as usize);
        let mut written = Vec::with_capacity(ents.len());
        for e in ents {
            let prev_term = self
                .term(e.index - 1)
                .expect("invariant: the previous entry is known");
            written.push(((*e).clone(), prev_term));
            self.entries.push((*e).clone());
        }
        Ok(written)
    }

    /// Installs a snapshot received from a leader: the log is replaced by it.
    pub fn apply_snapshot(&mut self, snap: &Snapshot) {
        self.compacted_index = snap.index();
        self.compacted_term = snap.term();
        self.entries.clear();
        self.snapshot = snap.clone();
    }

    /// Records a snapshot the node made of its own state machine, and drops the log up to
    /// `compact_index` (at most the snapshot's index).
    pub fn install_local_snapshot(&mut self, snap: &Snapshot, compact_index: u64) {
        assert!(
            compact_index <= snap.index(),
            "compacting past the snapshot"
        );
        self.snapshot = snap.clone();
        if compact_index > self.compacted_index {
            let term = self
                .term(compact_index)
                .expect("invariant: compacting a known entry");
            let n = (compact_index - self.compacted_index) as usize;
            self.entries.drain(..n);
            self.compacted_index = compact_index;
            self.compacted_term = term;
        }
    }
}

/// The replicated state machine: a hash chain over every applied entry, so two nodes that
/// applied different entries at any index end up with different states.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StateMachine {
    /// The index of the last applied entry.
    pub applied: u64,
    /// The hash chain up to `applied`.
    pub hash: u64,
    /// How many client writes were applied.
    pub writes: u64,
    /// The configuration as of `applied`.
    pub conf_state: ConfState,
}

impl StateMachine {
    /// The state before any entry, in configuration `cs`.
    pub fn initial(conf_state: ConfState) -> StateMachine {
        StateMachine {
            conf_state,
            ..StateMachine::default()
        }
    }

    /// The state a snapshot holds.
    ///
    /// # Panics
    /// If the snapshot's data does not decode or disagrees with its metadata.
    pub fn from_snapshot(snap: &Snapshot) -> StateMachine {
        let mut data = snap.data.clone();
        assert_eq!(data.len(), 24, "snapshot data of {} bytes", data.len());
        let sm = StateMachine {
            applied: data.get_u64(),
            hash: data.get_u64(),
            writes: data.get_u64(),
            conf_state: snap.meta().conf_state.unwrap_or_default(),
        };
        assert_eq!(
            sm.applied,
            snap.index(),
            "snapshot data disagrees with its metadata"
        );
        sm
    }

    /// The snapshot data of this state (the configuration travels in the metadata).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(24);
        buf.put_u64(self.applied);
        buf.put_u64(self.hash);
        buf.put_u64(self.writes);
        buf.freeze()
    }

    /// Applies the entry with digest `digest` at the next index.
    pub fn apply(&mut self, index: u64, digest: u64, is_write: bool) {
        assert_eq!(index, self.applied + 1, "applying out of order");
        self.applied = index;
        self.hash = mix(self.hash ^ digest);
        self.writes += u64::from(is_write);
    }
}

/// A 64-bit digest of an entry (FNV-1a over its term, type and payload).
pub fn entry_digest(e: &Entry) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |byte: u8| {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    e.term.to_le_bytes().into_iter().for_each(&mut eat);
    e.entry_type.to_le_bytes().into_iter().for_each(&mut eat);
    e.data.iter().copied().for_each(&mut eat);
    h
}

/// A 64-bit finalizer (splitmix64), so the chain does not cancel out.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
