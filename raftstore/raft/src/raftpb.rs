//! The wire types of the consensus core, mirroring etcd's `raftpb` field for field.
//!
//! They are prost messages derived in Rust (no `protoc`), so the transport can encode them as they
//! are. Entry payloads and contexts are [`Bytes`]: a proposal's buffer travels to the transport and
//! to the apply thread without being copied.

use bytes::Bytes;

/// What an entry's payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum EntryType {
    /// An application command (or the empty entry a leader appends at the start of its term).
    EntryNormal = 0,
    /// An encoded [`ConfChange`].
    EntryConfChange = 1,
    /// An encoded [`ConfChangeV2`].
    EntryConfChangeV2 = 2,
}

/// One entry of the replicated log.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// The term in which the entry was proposed.
    #[prost(uint64, tag = "2")]
    pub term: u64,
    /// The position of the entry in the log; the first entry ever is 1.
    #[prost(uint64, tag = "3")]
    pub index: u64,
    /// How `data` is to be read.
    #[prost(enumeration = "EntryType", tag = "1")]
    pub entry_type: i32,
    /// The payload.
    #[prost(bytes = "bytes", tag = "4")]
    pub data: Bytes,
}

/// What a snapshot covers: the log position it replaces and the configuration at that position.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotMetadata {
    /// The configuration as of `index`.
    #[prost(message, optional, tag = "1")]
    pub conf_state: Option<ConfState>,
    /// The last log index the snapshot includes.
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// The term of the entry at `index`.
    #[prost(uint64, tag = "3")]
    pub term: u64,
}

/// A snapshot of the state machine up to some index, replacing the log before it.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Snapshot {
    /// The application's serialized state (opaque to the core).
    #[prost(bytes = "bytes", tag = "1")]
    pub data: Bytes,
    /// Where the snapshot sits in the log.
    #[prost(message, optional, tag = "2")]
    pub metadata: Option<SnapshotMetadata>,
}

/// Every message the core sends or receives, including the local ones that never leave a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MessageType {
    /// Local: start an election (sent by `tick` or `campaign`).
    MsgHup = 0,
    /// Local: a leader should broadcast heartbeats.
    MsgBeat = 1,
    /// A proposal of entries (local, or forwarded by a follower to its leader).
    MsgProp = 2,
    /// Leader to follower: append these entries after (`index`, `log_term`).
    MsgApp = 3,
    /// Follower to leader: the outcome of a `MsgApp` or snapshot.
    MsgAppResp = 4,
    /// Candidate asking for a vote.
    MsgVote = 5,
    /// The answer to `MsgVote`.
    MsgVoteResp = 6,
    /// Leader to follower: install this snapshot.
    MsgSnap = 7,
    /// Leader to follower: I am alive; commit up to `commit`.
    MsgHeartbeat = 8,
    /// The answer to `MsgHeartbeat`.
    MsgHeartbeatResp = 9,
    /// Local: the transport could not reach `from`.
    MsgUnreachable = 10,
    /// Local: a snapshot to `from` was sent (or failed, when `reject`).
    MsgSnapStatus = 11,
    /// Local: the leader checks that a quorum is still active.
    MsgCheckQuorum = 12,
    /// Ask the leader to hand leadership to `from`.
    MsgTransferLeader = 13,
    /// Leader to transferee: campaign now, ignoring the election timeout.
    MsgTimeoutNow = 14,
    /// A linearizable read request.
    MsgReadIndex = 15,
    /// The answer to a forwarded `MsgReadIndex`.
    MsgReadIndexResp = 16,
    /// A pre-candidate asking whether it could win an election.
    MsgPreVote = 17,
    /// The answer to `MsgPreVote`.
    MsgPreVoteResp = 18,
    /// Local, async storage writes: append these entries, hard state and snapshot, then deliver
    /// `responses`.
    MsgStorageAppend = 19,
    /// Local, async storage writes: the append thread finished a `MsgStorageAppend`.
    MsgStorageAppendResp = 20,
    /// Local, async storage writes: apply these committed entries, then deliver `responses`.
    MsgStorageApply = 21,
    /// Local, async storage writes: the apply thread finished a `MsgStorageApply`.
    MsgStorageApplyResp = 22,
    /// Local: a follower forgets its leader so it may vote sooner (see `forget_leader`).
    MsgForgetLeader = 23,
}

/// A message between two nodes of a group, or between a node and its local storage threads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// What the message is.
    #[prost(enumeration = "MessageType", tag = "1")]
    pub msg_type: i32,
    /// The recipient's id.
    #[prost(uint64, tag = "2")]
    pub to: u64,
    /// The sender's id.
    #[prost(uint64, tag = "3")]
    pub from: u64,
    /// The sender's term (0 for local messages that carry none).
    #[prost(uint64, tag = "4")]
    pub term: u64,
    /// For `MsgApp`: the term of the entry at `index`. For votes: the candidate's last log term.
    /// For `MsgStorageAppendResp`/`MsgStorageApplyResp`: the term of the entry at `index`.
    #[prost(uint64, tag = "5")]
    pub log_term: u64,
    /// For `MsgApp`: the index the entries follow. For votes: the candidate's last index. For
    /// responses: the index acknowledged or rejected.
    #[prost(uint64, tag = "6")]
    pub index: u64,
    /// Entries to append (or to apply, for `MsgStorageApply`).
    #[prost(message, repeated, tag = "7")]
    pub entries: Vec<Entry>,
    /// The sender's commit index (bounded by what the recipient is known to have).
    #[prost(uint64, tag = "8")]
    pub commit: u64,
    /// For `MsgSnap` and `MsgStorageAppend`: the snapshot to install.
    #[prost(message, optional, boxed, tag = "9")]
    pub snapshot: Option<Box<Snapshot>>,
    /// A negative answer.
    #[prost(bool, tag = "10")]
    pub reject: bool,
    /// For rejected `MsgAppResp`: the follower's guess of where the logs may match.
    #[prost(uint64, tag = "11")]
    pub reject_hint: u64,
    /// Opaque context: a read request's id, a campaign's kind.
    #[prost(bytes = "bytes", tag = "12")]
    pub context: Bytes,
    /// For `MsgStorageAppend`: the vote being persisted.
    #[prost(uint64, tag = "13")]
    pub vote: u64,
    /// For local storage messages: what to deliver once the write is done.
    #[prost(message, repeated, tag = "14")]
    pub responses: Vec<Message>,
    /// For `MsgApp`: the append carries no entries and only moves the follower's commit index,
    /// and the leader already knows the follower matches at `index`. A follower that accepts
    /// it without appending anything sends no `MsgAppResp`: the answer would tell the leader
    /// nothing. (Not in etcd's raftpb; it saves a quarter of the messages per proposal.)
    #[prost(bool, tag = "15")]
    pub commit_only: bool,
}

/// The state that must be persisted before any message that depends on it is sent.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct HardState {
    /// The current term.
    #[prost(uint64, tag = "1")]
    pub term: u64,
    /// Whom this node voted for in `term` (0 for nobody).
    #[prost(uint64, tag = "2")]
    pub vote: u64,
    /// The highest index known committed.
    #[prost(uint64, tag = "3")]
    pub commit: u64,
}

/// A group's membership: the voters (two sets while joint) and the learners.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct ConfState {
    /// The voters of the incoming (or only) configuration.
    #[prost(uint64, repeated, tag = "1")]
    pub voters: Vec<u64>,
    /// The learners.
    #[prost(uint64, repeated, tag = "2")]
    pub learners: Vec<u64>,
    /// The voters of the outgoing configuration; empty unless joint.
    #[prost(uint64, repeated, tag = "3")]
    pub voters_outgoing: Vec<u64>,
    /// Voters of the outgoing configuration that become learners when the joint state is left.
    #[prost(uint64, repeated, tag = "4")]
    pub learners_next: Vec<u64>,
    /// Whether the joint state is left automatically once entered.
    #[prost(bool, tag = "5")]
    pub auto_leave: bool,
}

/// The kind of one membership change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConfChangeType {
    /// Add a voter (or promote a learner).
    AddNode = 0,
    /// Remove a voter or learner.
    RemoveNode = 1,
    /// No change of membership (carries an application update in its context).
    UpdateNode = 2,
    /// Add a learner (or demote a voter, through a joint configuration).
    AddLearnerNode = 3,
}

/// A single membership change in the original (v1) format.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfChange {
    /// The kind of change.
    #[prost(enumeration = "ConfChangeType", tag = "2")]
    pub change_type: i32,
    /// The node it concerns.
    #[prost(uint64, tag = "3")]
    pub node_id: u64,
    /// Opaque to the core.
    #[prost(bytes = "bytes", tag = "4")]
    pub context: Bytes,
    /// Unused by the core; kept for wire compatibility.
    #[prost(uint64, tag = "1")]
    pub id: u64,
}

/// One change inside a [`ConfChangeV2`].
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ConfChangeSingle {
    /// The kind of change.
    #[prost(enumeration = "ConfChangeType", tag = "1")]
    pub change_type: i32,
    /// The node it concerns.
    #[prost(uint64, tag = "2")]
    pub node_id: u64,
}

/// How a [`ConfChangeV2`] enters and leaves a joint configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ConfChangeTransition {
    /// A single change applies directly; several go through a joint configuration that is left
    /// automatically.
    Auto = 0,
    /// Always through a joint configuration, left automatically.
    Implicit = 1,
    /// Always through a joint configuration, left only by an explicit empty `ConfChangeV2`.
    Explicit = 2,
}

/// A set of membership changes applied together (joint consensus when more than one voter
/// changes).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ConfChangeV2 {
    /// How to enter and leave the joint configuration.
    #[prost(enumeration = "ConfChangeTransition", tag = "1")]
    pub transition: i32,
    /// The changes; empty means "leave the joint configuration".
    #[prost(message, repeated, tag = "2")]
    pub changes: Vec<ConfChangeSingle>,
    /// Opaque to the core.
    #[prost(bytes = "bytes", tag = "3")]
    pub context: Bytes,
}

impl Entry {
    /// A normal entry with the given position and payload.
    pub fn new(index: u64, term: u64, data: Bytes) -> Entry {
        Entry {
            term,
            index,
            entry_type: EntryType::EntryNormal as i32,
            data,
        }
    }

    /// The payload size counted against the byte limits of the core (the payload only, as
    /// etcd counts it for uncommitted-size accounting; message limits use [`Entry::size`]).
    pub fn payload_size(&self) -> u64 {
        self.data.len() as u64
    }

    /// The size used for message and batch limits: the payload plus a fixed header estimate,
    /// so that empty entries still count.
    pub fn size(&self) -> u64 {
        self.data.len() as u64 + ENTRY_HEADER_SIZE
    }
}

/// What an entry costs beyond its payload when sizing messages (term, index, type, framing).
pub const ENTRY_HEADER_SIZE: u64 = 16;

impl Message {
    /// A message of the given type with every other field empty.
    pub fn of_type(msg_type: MessageType) -> Message {
        Message {
            msg_type: msg_type as i32,
            ..Message::default()
        }
    }

    /// The message's type; an unknown wire value reads as `MsgHup`, which peers never send and
    /// the core ignores when it comes from the network.
    pub fn kind(&self) -> MessageType {
        MessageType::try_from(self.msg_type).unwrap_or(MessageType::MsgHup)
    }
}

impl Snapshot {
    /// The snapshot's metadata (the default, index 0, if absent).
    pub fn meta(&self) -> SnapshotMetadata {
        self.metadata.clone().unwrap_or_default()
    }

    /// The last index the snapshot covers.
    pub fn index(&self) -> u64 {
        self.metadata.as_ref().map_or(0, |m| m.index)
    }

    /// The term of the entry at [`Snapshot::index`].
    pub fn term(&self) -> u64 {
        self.metadata.as_ref().map_or(0, |m| m.term)
    }

    /// Whether this is the empty snapshot (index 0).
    pub fn is_empty(&self) -> bool {
        self.index() == 0
    }
}

impl HardState {
    /// Whether nothing was ever recorded.
    pub fn is_empty(&self) -> bool {
        *self == HardState::default()
    }
}

impl ConfChangeV2 {
    /// Whether this change enters a joint configuration, and if so whether it leaves it by
    /// itself. Mirrors etcd's `EnterJoint`.
    pub fn enter_joint(&self) -> Option<bool> {
        let transition =
            ConfChangeTransition::try_from(self.transition).unwrap_or(ConfChangeTransition::Auto);
        if transition != ConfChangeTransition::Auto || self.changes.len() > 1 {
            let auto_leave = matches!(
                transition,
                ConfChangeTransition::Auto | ConfChangeTransition::Implicit
            );
            Some(auto_leave)
        } else {
            None
        }
    }

    /// Whether this is the empty change that leaves a joint configuration (the context may
    /// still carry application data).
    pub fn leave_joint(&self) -> bool {
        self.transition == ConfChangeTransition::Auto as i32 && self.changes.is_empty()
    }
}

impl ConfChange {
    /// The same change as a [`ConfChangeV2`] (one change, no joint configuration).
    pub fn into_v2(self) -> ConfChangeV2 {
        ConfChangeV2 {
            transition: ConfChangeTransition::Auto as i32,
            changes: vec![ConfChangeSingle {
                change_type: self.change_type,
                node_id: self.node_id,
            }],
            context: self.context,
        }
    }
}

impl ConfChangeSingle {
    /// A change of the given kind for `node_id`.
    pub fn new(change_type: ConfChangeType, node_id: u64) -> ConfChangeSingle {
        ConfChangeSingle {
            change_type: change_type as i32,
            node_id,
        }
    }
}
