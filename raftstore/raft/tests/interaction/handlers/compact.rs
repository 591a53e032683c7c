//! `compact <id> index=<index>`: the node discards its stored log up to and including `index`
//! (which it must have applied), then prints what is left of the log. Its storage already holds
//! a snapshot of everything applied, which is what a leader sends to a follower that is behind
//! the compaction.

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
        return Err(format!(
            "cannot compact node {id} to {index}: applied only to {applied}"
        ));
    }
    let mut storage = node.storage.wl();
    storage
        .compact(index)
        .map_err(|err| format!("node {id}: compacting: {err}"))?;
    drop(storage);
    print_log(env, id)
}
