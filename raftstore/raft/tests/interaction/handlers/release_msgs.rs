//! `release-msgs`: puts the messages held by `delay-msgs` back on the network, behind everything
//! sent since, in their original order.

use crate::args::Args;
use crate::describe::describe_message;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, args: Args) -> Result<(), String> {
    args.finish()?;
    let released = std::mem::take(&mut env.delayed);
    if released.is_empty() {
        env.output.line("no messages");
    }
    for m in &released {
        env.output
            .line(&format!("released: {}", describe_message(m)));
    }
    env.messages.extend(released);
    Ok(())
}
