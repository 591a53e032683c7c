//! `process-ready <ids>`: each node hands out a `Ready`, which is printed and handled.
//!
//! Synchronous nodes persist the Ready's snapshot, entries and hard state, apply its committed
//! entries, queue its messages and call `advance`. Asynchronous nodes only route the messages:
//! storage work to their append and apply queues, the rest onto the network.

use raft::Error;
use raft::raft::is_local_msg_target;
use raft::raftpb::MessageType;

use super::{process_append_thread, process_apply_thread};
use crate::args::Args;
use crate::describe::describe_ready;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    if ids.is_empty() {
        return Err("process-ready needs node ids".to_string());
    }
    for &id in &ids {
        if ids.len() > 1 {
            env.output.line(&format!("> {id} handling Ready"));
            let output = env.output.clone();
            output.indented(|| process_ready(env, id))?;
        } else {
            process_ready(env, id)?;
        }
    }
    Ok(())
}

/// Takes one `Ready` from node `id` and handles it.
pub fn process_ready(env: &mut InteractionEnv, id: u64) -> Result<(), String> {
    let output = env.output.clone();
    let node = env.node(id)?;
    let rd = node.raw.ready();
    output.line(&describe_ready(&rd));
    let is_async = node.config.async_storage_writes;
    if !is_async {
        process_append_thread::persist(node, rd.hard_state, &rd.entries, rd.snapshot.as_ref())
            .map_err(|err: Error| format!("node {id}: persisting a Ready: {err}"))?;
        process_apply_thread::apply(node, &rd.committed_entries, &output);
    }
    let mut network = Vec::new();
    for m in rd.messages {
        if !is_local_msg_target(m.to) {
            network.push(m);
            continue;
        }
        if !is_async {
            return Err(format!(
                "node {id}: a synchronous Ready holds a local message"
            ));
        }
        match m.kind() {
            MessageType::MsgStorageAppend => node.append_work.push_back(m),
            MessageType::MsgStorageApply => node.apply_work.push_back(m),
            other => return Err(format!("node {id}: unexpected local message {other:?}")),
        }
    }
    if !is_async {
        node.raw.advance();
    }
    env.messages.extend(network);
    Ok(())
}
