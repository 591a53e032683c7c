//! `deliver-msgs <ids> [drop=(ids)] [type=MsgApp]`: delivers the messages in flight to the given
//! nodes, in the order they were sent, or drops those to the `drop` nodes. With `type`, only
//! messages of that type are handled. Local messages (to or from the node itself or its storage
//! threads) are never dropped: they stand for reliable in-process hand-offs. A message over a
//! link that `cut` or `isolate` broke is dropped instead of delivered.

use raft::raft::is_local_msg_target;
use raft::raftpb::{Message, MessageType};

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let deliver = args.ids();
    let drop: Vec<u64> = args.list("drop")?;
    let kind = args
        .opt::<String>("type")?
        .map(|name| parse_type(&name))
        .transpose()?;
    args.finish()?;
    if let Some(id) = deliver.iter().find(|id| drop.contains(id)) {
        return Err(format!("cannot both deliver and drop messages to {id}"));
    }
    let mut handled = 0;
    for id in drop {
        handled += deliver_msgs(env, id, kind, true);
    }
    for id in deliver {
        handled += deliver_msgs(env, id, kind, false);
    }
    if handled == 0 {
        env.output.line("no messages");
    }
    Ok(())
}

/// Delivers (or drops) the messages to `to`, of type `kind` if given, and returns how many.
pub fn deliver_msgs(
    env: &mut InteractionEnv,
    to: u64,
    kind: Option<MessageType>,
    drop: bool,
) -> usize {
    let (msgs, rest): (Vec<Message>, Vec<Message>) = std::mem::take(&mut env.messages)
        .into_iter()
        .partition(|m| m.to == to && kind.is_none_or(|k| m.kind() == k) && !(drop && is_local(m)));
    env.messages = rest;
    let count = msgs.len();
    for m in msgs {
        let text = describe_message(&m);
        if drop || env.is_cut(m.from, m.to) && !is_local(&m) {
            env.output.line(&format!("dropped: {text}"));
            continue;
        }
        env.output.line(&text);
        let result = match env.node(to) {
            Ok(node) => node.raw.step(m),
            Err(err) => {
                env.output.error(&err);
                continue;
            }
        };
        if let Err(err) = result {
            env.print_error(&err);
        }
    }
    count
}

/// Whether any messages to `to` are in flight.
pub fn has_msgs_for(env: &InteractionEnv, to: u64) -> bool {
    env.messages.iter().any(|m| m.to == to)
}

fn is_local(m: &Message) -> bool {
    m.from == m.to || is_local_msg_target(m.from) || is_local_msg_target(m.to)
}

pub fn parse_type(name: &str) -> Result<MessageType, String> {
    (0..64)
        .filter_map(|v| MessageType::try_from(v).ok())
        .find(|kind| format!("{kind:?}") == name)
        .ok_or_else(|| format!("unknown message type {name}"))
}
