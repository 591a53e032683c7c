//! `stabilize [ids]`: handles `Ready`s, delivers messages and runs the storage threads of the
//! given nodes (all by default) until none of them has anything left to do.
//!
//! Each round goes through the nodes in id order four times: Readys, then deliveries, then
//! append threads, then apply threads. Messages to nodes outside the set stay in flight.

use super::deliver_msgs::{deliver_msgs, has_msgs_for};
use super::process_append_thread::process_append_thread;
use super::process_apply_thread::process_apply_thread;
use super::process_ready::process_ready;
use crate::args::Args;
use crate::env::InteractionEnv;

/// Rounds after which `stabilize` gives up: a livelock in the core must fail the script, not
/// hang it.
const ROUNDS_MAX: usize = 1000;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    let ids = env.ids_or_all(ids);
    for _ in 0..ROUNDS_MAX {
        if !stabilize_round(env, &ids)? {
            return Ok(());
        }
    }
    Err(format!("no fixed point after {ROUNDS_MAX} rounds"))
}

/// Runs one round and returns whether anything happened.
fn stabilize_round(env: &mut InteractionEnv, ids: &[u64]) -> Result<bool, String> {
    let output = env.output.clone();
    let mut busy = false;
    for &id in ids {
        if env.node(id)?.raw.has_ready() {
            busy = true;
            output.line(&format!("> {id} handling Ready"));
            output.indented(|| process_ready(env, id))?;
        }
    }
    for &id in ids {
        if has_msgs_for(env, id) {
            busy = true;
            output.line(&format!("> {id} receiving messages"));
            output.indented(|| deliver_msgs(env, id, None, false));
        }
    }
    for &id in ids {
        if !env.node(id)?.append_work.is_empty() {
            busy = true;
            output.line(&format!("> {id} processing append thread"));
            while !env.node(id)?.append_work.is_empty() {
                output.indented(|| process_append_thread(env, id))?;
            }
        }
    }
    for &id in ids {
        if !env.node(id)?.apply_work.is_empty() {
            busy = true;
            output.line(&format!("> {id} processing apply thread"));
            while !env.node(id)?.apply_work.is_empty() {
                output.indented(|| process_apply_thread(env, id))?;
            }
        }
    }
    Ok(busy)
}
