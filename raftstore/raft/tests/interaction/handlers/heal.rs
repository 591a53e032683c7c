//! `heal`: restores every link that `cut` or `isolate` broke.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, args: Args) -> Result<(), String> {
    args.finish()?;
    env.cut_links.clear();
    Ok(())
}
