//! `snapshot-unavailable <id>`: the node's storage answers the next snapshot request with
//! "temporarily unavailable", as a storage does while it is still preparing one.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    args.finish()?;
    env.node(id)?.storage.wl().trigger_snapshot_unavailable();
    Ok(())
}
