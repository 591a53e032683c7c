//! `read-index <id> ctx=<context>`: asks for a linearizable read; the answer shows up as a
//! `ReadState` in a later `Ready`.

use bytes::Bytes;

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let ctx: String = args.req("ctx")?;
    args.finish()?;
    if let Err(err) = env.node(id)?.raw.read_index(Bytes::from(ctx)) {
        env.print_error(&err);
    }
    Ok(())
}
