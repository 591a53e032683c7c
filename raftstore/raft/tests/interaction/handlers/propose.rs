//! `propose <id> data=foo` or `propose <id> data=(a,b,c)`: proposes entries on a node (a
//! follower forwards them to its leader). Several values are proposed as one batch.

use bytes::Bytes;

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let data: Vec<String> = args.list("data")?;
    args.finish()?;
    let raw = &mut env.node(id)?.raw;
    let result = match data.as_slice() {
        [] => return Err("propose needs data=".to_string()),
        [one] => raw.propose(Bytes::from(one.clone())),
        many => raw.propose_batch(many.iter().cloned().map(Bytes::from)),
    };
    if let Err(err) = result {
        env.print_error(&err);
    }
    Ok(())
}
