//! `raft-log <id>`: prints the entries in the node's storage (what is durable, not the
//! unstable tail).

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
    let storage = env.node(id)?.storage.rl();
    if storage.entries_vec().is_empty() {
        let (first, last) = (storage.first_index(), storage.last_index());
        output.line(&format!("log is empty: first index={first}, last index={last}"));
    } else {
        output.line(&describe_entries(storage.entries_vec()));
    }
    Ok(())
}
