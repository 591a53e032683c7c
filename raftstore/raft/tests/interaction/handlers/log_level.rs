//! `log-level <debug|info|warn|error|none>`: sets what is printed from here on. `none` also
//! silences the harness (errors excepted), which keeps a script's setup short.

use crate::args::Args;
use crate::env::InteractionEnv;
use crate::output::LogLevel;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let level = LogLevel::parse(&args.word()?)?;
    args.finish()?;
    env.output.set_level(level);
    Ok(())
}
