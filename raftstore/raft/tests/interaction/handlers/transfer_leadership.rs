//! `transfer-leadership from=<leader> to=<transferee>`: asks the leader to hand over.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let from: u64 = args.req("from")?;
    let to: u64 = args.req("to")?;
    args.finish()?;
    if let Err(err) = env.node(from)?.raw.transfer_leader(to) {
        env.print_error(&err);
    }
    Ok(())
}
