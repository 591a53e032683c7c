//! `restart <id> [options]`: the node crashes and comes back from what its storage holds. Its
//! unstable entries, its pending storage work and its volatile state are lost; messages already
//! on the network stay there. Options (as for `add-nodes`) change its configuration, as an
//! upgrade would.

use raft::{RawNode, Storage as _};

use super::add_nodes::apply_config_args;
use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let node = env.node(id)?;
    let mut cfg = node.config.clone();
    apply_config_args(&mut cfg, &mut args)?;
    args.finish()?;
    // The state machine survives the crash; it restarts at what it applied, which never exceeds
    // the durable commit index.
    let state = node
        .storage
        .initial_state()
        .map_err(|err| err.to_string())?;
    let applied = node.history.last().map_or(0, raft::raftpb::Snapshot::index);
    cfg.applied = applied.min(state.hard_state.commit);
    node.history.retain(|snap| snap.index() <= cfg.applied);
    node.raw =
        RawNode::new(&cfg, node.storage.clone()).map_err(|err| format!("node {id}: {err}"))?;
    node.config = cfg;
    node.append_work.clear();
    node.apply_work.clear();
    Ok(())
}
