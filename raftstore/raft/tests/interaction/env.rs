//! The [`InteractionEnv`]: a group of nodes, the messages in flight between them, and the
//! output of the command being run.
//!
//! Nodes have ids `1..=n` in the order `add-nodes` created them. Nothing moves by itself: a
//! message sits in [`InteractionEnv::messages`] until a command delivers or drops it, a `Ready`
//! waits until `process-ready`, and in async-storage-writes mode each node's storage work waits
//! in its append and apply queues until `process-append-thread` / `process-apply-thread`.

use std::collections::{BTreeSet, VecDeque};

use datadriven::TestCase;
use raft::raftpb::{Message, Snapshot};
use raft::{Config, MemStorage, RawNode};

use crate::args::Args;
use crate::handlers;
use crate::output::Output;

/// One member of the group, with its storage and its pending storage work.
pub struct Node {
    /// The node under test.
    pub raw: RawNode<MemStorage>,
    /// Its storage (a handle on the same state the node reads).
    pub storage: MemStorage,
    /// The configuration it was created with.
    pub config: Config,
    /// `MsgStorageAppend` messages not yet processed by the append thread, oldest first.
    pub append_work: VecDeque<Message>,
    /// `MsgStorageApply` messages not yet processed by the apply thread, oldest first.
    pub apply_work: VecDeque<Message>,
    /// The state machine after each applied entry or installed snapshot, oldest first. The state
    /// machine appends every payload to the data of the previous state.
    pub history: Vec<Snapshot>,
}

/// A group of nodes under test and everything in flight between them.
pub struct InteractionEnv {
    /// The nodes; node `id` is at index `id - 1`.
    pub nodes: Vec<Node>,
    /// Messages sent and not yet delivered or dropped, in the order they were sent.
    pub messages: Vec<Message>,
    /// Messages taken off the network by `delay-msgs`, in the order they were sent, until
    /// `release-msgs` puts them back behind everything sent meanwhile.
    pub delayed: Vec<Message>,
    /// Links that are cut, as `(smaller id, larger id)`: messages between the two nodes are
    /// dropped when delivered, in both directions.
    pub cut_links: BTreeSet<(u64, u64)>,
    /// Where the current command writes.
    pub output: Output,
}

impl InteractionEnv {
    /// An empty group writing to `output`.
    pub fn new(output: Output) -> InteractionEnv {
        InteractionEnv {
            nodes: Vec::new(),
            messages: Vec::new(),
            delayed: Vec::new(),
            cut_links: BTreeSet::new(),
            output,
        }
    }

    /// Runs one command and returns its output (`ok` when it printed nothing).
    ///
    /// # Panics
    /// On a mistake in the script (unknown command, bad argument): those must be fixed, not
    /// recorded. Errors returned by the core are part of the output instead.
    pub fn handle(&mut self, case: &TestCase) -> String {
        let args = Args::new(&case.args);
        let result = handlers::dispatch(self, &case.directive, args, &case.input);
        if let Err(err) = result {
            panic!("command `{}` failed: {err}", case.directive);
        }
        let out = self.output.take();
        if out.is_empty() {
            "ok\n".to_string()
        } else {
            out
        }
    }

    /// The node with the given id.
    pub fn node(&mut self, id: u64) -> Result<&mut Node, String> {
        let idx = id.checked_sub(1).ok_or("node ids start at 1")? as usize;
        self.nodes
            .get_mut(idx)
            .ok_or_else(|| format!("node {id} does not exist"))
    }

    /// The ids of every node, ascending.
    pub fn all_ids(&self) -> Vec<u64> {
        (1..=self.nodes.len() as u64).collect()
    }

    /// The given ids, or every node's when none is given.
    pub fn ids_or_all(&self, ids: Vec<u64>) -> Vec<u64> {
        if ids.is_empty() { self.all_ids() } else { ids }
    }

    /// Whether the link between `a` and `b` is cut.
    pub fn is_cut(&self, a: u64, b: u64) -> bool {
        self.cut_links.contains(&(a.min(b), a.max(b)))
    }

    /// Prints an error the core returned; such errors are part of the expected behaviour.
    pub fn print_error(&self, err: &raft::Error) {
        self.output.error(&format!("error: {err}"));
    }
}
