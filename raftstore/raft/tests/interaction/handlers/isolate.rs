//! `isolate <ids>`: cuts every link of the given nodes, to every node that exists now, as if
//! they crashed or were partitioned away; `heal` restores them.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    for id in ids {
        for other in env.all_ids() {
            if other != id {
                env.cut_links.insert((id.min(other), id.max(other)));
            }
        }
    }
    Ok(())
}
