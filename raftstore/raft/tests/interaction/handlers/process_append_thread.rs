//! `process-append-thread <ids>`: each node's append thread persists the oldest
//! `MsgStorageAppend` in its queue and puts the message's responses on the network.

use raft::Error;
use raft::raftpb::{Entry, HardState, Snapshot};

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::{InteractionEnv, Node};

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    for &id in &ids {
        if ids.len() > 1 {
            env.output.line(&format!("> {id} processing append thread"));
            let output = env.output.clone();
            output.indented(|| process_append_thread(env, id))?;
        } else {
            process_append_thread(env, id)?;
        }
    }
    Ok(())
}

/// Processes the oldest append work of node `id`, if any.
pub fn process_append_thread(env: &mut InteractionEnv, id: u64) -> Result<(), String> {
    let output = env.output.clone();
    let node = env.node(id)?;
    let Some(mut m) = node.append_work.pop_front() else {
        output.line("no append work to perform");
        return Ok(());
    };
    let responses = std::mem::take(&mut m.responses);
    output.line("Processing:");
    output.line(&describe_message(&m));
    let hs = HardState {
        term: m.term,
        vote: m.vote,
        commit: m.commit,
    };
    let hs = (!hs.is_empty()).then_some(hs);
    persist(node, hs, &m.entries, m.snapshot.as_deref())
        .map_err(|err| format!("node {id}: append thread: {err}"))?;
    output.line("Responses:");
    for r in &responses {
        output.line(&describe_message(r));
    }
    env.messages.extend(responses);
    Ok(())
}

/// Writes what a `Ready` or `MsgStorageAppend` asks for: the snapshot first, then the entries,
/// then the hard state (which may commit them). An installed snapshot also becomes the state
/// machine's latest state.
pub fn persist(
    node: &mut Node,
    hs: Option<HardState>,
    entries: &[Entry],
    snapshot: Option<&Snapshot>,
) -> Result<(), Error> {
    let mut storage = node.storage.wl();
    if let Some(snap) = snapshot.filter(|snap| !snap.is_empty()) {
        storage.apply_snapshot(snap.clone())?;
        node.history.push(snap.clone());
    }
    storage.append(entries)?;
    if let Some(hs) = hs {
        storage.set_hard_state(hs);
    }
    Ok(())
}
