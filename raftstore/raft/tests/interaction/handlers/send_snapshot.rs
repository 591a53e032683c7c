//! `send-snapshot from=<id> to=<id> [index=N]`: puts a `MsgSnap` with the sender's state machine
//! (as of its applied index N, by default the latest) on the network, not delivered yet, as an
//! application that ships snapshots by itself would.

use raft::raftpb::{Message, MessageType};

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let from: u64 = args.req("from")?;
    let to: u64 = args.req("to")?;
    let index: Option<u64> = args.opt("index")?;
    args.finish()?;
    let node = env.node(from)?;
    let snapshot = match index {
        None => node.history.last().cloned().unwrap_or_default(),
        Some(index) => node
            .history
            .iter()
            .find(|snap| snap.index() == index)
            .cloned()
            .ok_or_else(|| format!("node {from} never applied index {index}"))?,
    };
    let m = Message {
        from,
        to,
        term: node.raw.raft.term,
        snapshot: Some(Box::new(snapshot)),
        ..Message::of_type(MessageType::MsgSnap)
    };
    env.output.line(&describe_message(&m));
    env.messages.push(m);
    Ok(())
}
