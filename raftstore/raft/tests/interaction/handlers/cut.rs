//! `cut <a> <b>`: breaks the link between two nodes in both directions; messages between them
//! are dropped when delivered, until `heal`.

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let ids = args.ids();
    args.finish()?;
    let [a, b] = ids.as_slice() else {
        return Err(format!("cut takes two node ids, got {ids:?}"));
    };
    env.cut_links.insert((*a, *b));
    Ok(())
}
