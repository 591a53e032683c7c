//! `delay-msgs <ids> [type=MsgAppResp]`: takes the messages in flight to the given nodes (of the
//! given type) off the network; `release-msgs` puts them back behind everything sent meanwhile.
//! This is how a script reorders messages between the same two nodes.

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    let kind = args
        .opt::<String>("type")?
        .map(|name| super::deliver_msgs::parse_type(&name));
    let kind = kind.transpose()?;
    args.finish()?;
    let (delayed, rest) = std::mem::take(&mut env.messages)
        .into_iter()
        .partition(|m| ids.contains(&m.to) && kind.is_none_or(|k| m.kind() == k));
    env.messages = rest;
    let delayed: Vec<_> = delayed;
    if delayed.is_empty() {
        env.output.line("no messages");
    }
    for m in &delayed {
        env.output
            .line(&format!("delayed: {}", describe_message(m)));
    }
    env.delayed.extend(delayed);
    Ok(())
}
