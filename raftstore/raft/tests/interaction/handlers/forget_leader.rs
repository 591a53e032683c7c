//! `forget-leader <ids>`: the followers forget their leader, so they may grant votes before
//! their election timeout.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    for id in ids {
        if let Err(err) = env.node(id)?.raw.forget_leader() {
            env.print_error(&err);
        }
    }
    Ok(())
}
