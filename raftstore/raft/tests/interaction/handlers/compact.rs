//! `compact <id> index=<index>`: the node snapshots its state machine (at its applied index) and
//! discards its stored log up to and including `index`, then prints what is left of the log.
//!
//! The snapshot is what its storage hands out from then on when the leader needs to catch up a
//! follower that is behind the compaction.

use raft::Storage as _;

use super::raft_log::print_log;
use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let index: u64 = args.req("index")?;
    args.finish()?;
    let node = env.node(id)?;
    let applied = node.history.last().map_or(0, raft::raftpb::Snapshot::index);
    if index > applied {
        return Err(format!("cannot compact node {id} to {index}: applied only to {applied}"));
    }
    let state = node.history.last().cloned().unwrap_or_default();
    let stored = node.storage.snapshot(0, 0).map_or(0, |snap| snap.index());
    let mut storage = node.storage.wl();
    if applied > stored {
        storage
            .create_snapshot(applied, state.meta().conf_state, state.data.clone())
            .map_err(|err| format!("node {id}: creating a snapshot: {err}"))?;
    }
    storage.compact(index).map_err(|err| format!("node {id}: compacting: {err}"))?;
    drop(storage);
    print_log(env, id)
}
