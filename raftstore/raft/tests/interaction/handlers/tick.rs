//! `tick-heartbeat <ids>`, `tick-election <ids>` and `tick <ids> n=<count>`: advance the nodes'
//! logical clocks by a heartbeat interval, an election timeout (the configured one: a follower
//! whose randomized timeout is longer does not campaign yet) or `count` ticks.

use crate::args::Args;
use crate::env::InteractionEnv;

/// How many ticks a command stands for.
#[derive(Clone, Copy)]
pub enum Interval {
    Heartbeat,
    Election,
    Explicit,
}

pub fn run(env: &mut InteractionEnv, mut args: Args, interval: Interval) -> Result<(), String> {
    let ids = args.ids();
    let explicit: Option<usize> = args.opt("n")?;
    args.finish()?;
    if ids.is_empty() {
        return Err("tick commands need node ids".to_string());
    }
    for id in ids {
        let node = env.node(id)?;
        let count = match interval {
            Interval::Heartbeat => node.config.heartbeat_tick,
            Interval::Election => node.config.election_tick,
            Interval::Explicit => explicit.ok_or("tick needs n=")?,
        };
        for _ in 0..count {
            node.raw.tick();
        }
    }
    Ok(())
}
