//! `report-unreachable <id> peer=<peer>`: node `id`'s transport reports that `peer` could not be
//! reached.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let peer: u64 = args.req("peer")?;
    args.finish()?;
    env.node(id)?.raw.report_unreachable(peer);
    Ok(())
}
