//! `campaign <id>`: the node starts an election now (a pre-vote first when enabled).

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    args.finish()?;
    if let Err(err) = env.node(id)?.raw.campaign() {
        env.print_error(&err);
    }
    Ok(())
}
