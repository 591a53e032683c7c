//! `status <id>`: the node's configuration and, on a leader, every peer's progress
//! (`2: StateReplicate match=11 next=12 ...`).

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    args.finish()?;
    let status = env.node(id)?.raw.status();
    let output = &env.output;
    output.line(&format!("config: {}", status.config));
    if status.basic.lead_transferee != 0 {
        output.line(&format!(
            "transferring leadership to {}",
            status.basic.lead_transferee
        ));
    }
    if status.progress.is_empty() {
        let ss = status.basic.soft_state;
        output.line(&format!(
            "no progress: {} (leader {})",
            ss.raft_state, ss.leader_id
        ));
    }
    for (peer, pr) in &status.progress {
        output.line(&format!("{peer}: {pr}"));
    }
    Ok(())
}
