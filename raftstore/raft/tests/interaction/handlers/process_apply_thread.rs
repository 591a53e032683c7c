//! `process-apply-thread <ids>`: each node's apply thread applies the entries of the oldest
//! `MsgStorageApply` in its queue and puts the message's responses on the network.
//!
//! Applying appends an entry's payload to the state machine (a configuration change's context
//! for a change) and, for a configuration change, calls `RawNode::apply_conf_change`.

use raft::decode_conf_change;
use raft::raftpb::{Entry, Snapshot, SnapshotMetadata};

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::{InteractionEnv, Node};
use crate::output::Output;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    for &id in &ids {
        if ids.len() > 1 {
            env.output.line(&format!("> {id} processing apply thread"));
            let output = env.output.clone();
            output.indented(|| process_apply_thread(env, id))?;
        } else {
            process_apply_thread(env, id)?;
        }
    }
    Ok(())
}

/// Processes the oldest apply work of node `id`, if any.
pub fn process_apply_thread(env: &mut InteractionEnv, id: u64) -> Result<(), String> {
    let output = env.output.clone();
    let node = env.node(id)?;
    let Some(mut m) = node.apply_work.pop_front() else {
        output.line("no apply work to perform");
        return Ok(());
    };
    let responses = std::mem::take(&mut m.responses);
    output.line("Processing:");
    output.line(&describe_message(&m));
    apply(node, &m.entries, &output);
    output.line("Responses:");
    for r in &responses {
        output.line(&describe_message(r));
    }
    env.messages.extend(responses);
    Ok(())
}

/// Applies committed entries to the node's state machine. A configuration change the core
/// refuses to apply is printed and leaves the configuration as it was.
///
/// The storage's snapshot then becomes the new state, so a leader that must catch a follower
/// up by snapshot sends what it has applied (the log itself is only compacted by `compact`).
pub fn apply(node: &mut Node, entries: &[Entry], output: &Output) {
    if entries.is_empty() {
        return;
    }
    apply_entries(node, entries, output);
    let state = node.history.last().cloned().unwrap_or_default();
    let mut storage = node.storage.wl();
    if state.index() > storage.snapshot().index() {
        let cs = state.meta().conf_state;
        if let Err(err) = storage.create_snapshot(state.index(), cs, state.data.clone()) {
            output.error(&format!(
                "error creating snapshot at {}: {err}",
                state.index()
            ));
        }
    }
}

fn apply_entries(node: &mut Node, entries: &[Entry], output: &Output) {
    for e in entries {
        let last = node.history.last().cloned().unwrap_or_default();
        let mut conf_state = last.meta().conf_state;
        let update = if raft::raft::is_conf_change_entry(e) {
            let applied = decode_conf_change(e)
                .and_then(|cc| node.raw.apply_conf_change(&cc).map(|cs| (cs, cc.context)));
            match applied {
                Ok((cs, context)) => {
                    conf_state = Some(cs);
                    context
                }
                Err(err) => {
                    output.error(&format!("error applying {}/{}: {err}", e.term, e.index));
                    bytes::Bytes::new()
                }
            }
        } else {
            e.data.clone()
        };
        let mut data = last.data.to_vec();
        data.extend_from_slice(&update);
        node.history.push(Snapshot {
            data: data.into(),
            metadata: Some(SnapshotMetadata {
                conf_state,
                index: e.index,
                term: e.term,
            }),
        });
    }
}
