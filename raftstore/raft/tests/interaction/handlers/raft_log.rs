//! `raft-log <id>`: prints the entries in the node's storage (what is durable), then the
//! unstable tail the node holds in memory, if any, with how much of it was handed to storage.

use crate::args::Args;
use crate::describe::describe_entries;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    args.finish()?;
    print_log(env, id)
}

/// Prints node `id`'s stored entries, or the bounds of its empty log.
pub fn print_log(env: &mut InteractionEnv, id: u64) -> Result<(), String> {
    let output = env.output.clone();
    let node = env.node(id)?;
    let storage = node.storage.rl();
    if storage.entries_vec().is_empty() {
        let (first, last) = (storage.first_index(), storage.last_index());
        output.line(&format!(
            "log is empty: first index={first}, last index={last}"
        ));
    } else {
        output.line(&describe_entries(storage.entries_vec()));
    }
    let unstable = &node.raw.raft.raft_log.unstable;
    if !unstable.entries.is_empty() {
        output.line(&format!(
            "unstable: offset={} in_progress_until={}",
            unstable.offset, unstable.offset_in_progress
        ));
        output.indented(|| output.line(&describe_entries(&unstable.entries)));
    }
    Ok(())
}
