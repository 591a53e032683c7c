//! `propose-conf-change <id> [v1=true] [transition=auto|implicit|explicit]` with the changes as
//! the command's input: `v4` adds voter 4, `l5` adds learner 5 (or demotes voter 5), `r3`
//! removes 3, `u2` updates 2. An empty input with `transition` left at `auto` is the change that
//! leaves a joint configuration. `v1=true` proposes a single change in the v1 format.

use raft::raftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2,
};

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args, input: &str) -> Result<(), String> {
    let id = args.id()?;
    let v1 = args.opt("v1")?.unwrap_or(false);
    let transition = match args.opt::<String>("transition")?.as_deref() {
        None | Some("auto") => ConfChangeTransition::Auto,
        Some("implicit") => ConfChangeTransition::Implicit,
        Some("explicit") => ConfChangeTransition::Explicit,
        Some(other) => return Err(format!("unknown transition {other}")),
    };
    args.finish()?;
    let changes = parse_changes(input)?;
    let raw = &mut env.node(id)?.raw;
    let result = if v1 {
        let [change] = changes.as_slice() else {
            return Err("a v1 change holds exactly one change".to_string());
        };
        if transition != ConfChangeTransition::Auto {
            return Err("a v1 change has no transition".to_string());
        }
        let cc = ConfChange {
            change_type: change.change_type,
            node_id: change.node_id,
            ..ConfChange::default()
        };
        raw.propose_conf_change(&cc)
    } else {
        let cc = ConfChangeV2 {
            transition: transition as i32,
            changes,
            ..ConfChangeV2::default()
        };
        raw.propose_conf_change(&cc)
    };
    if let Err(err) = result {
        env.print_error(&err);
    }
    Ok(())
}

/// Parses `v1 l2 r3 u4` (whitespace-separated, over any number of lines).
fn parse_changes(input: &str) -> Result<Vec<ConfChangeSingle>, String> {
    input
        .split_whitespace()
        .map(|word| {
            let (kind, id) = word.split_at(1);
            let change_type = match kind {
                "v" => ConfChangeType::AddNode,
                "l" => ConfChangeType::AddLearnerNode,
                "r" => ConfChangeType::RemoveNode,
                "u" => ConfChangeType::UpdateNode,
                _ => return Err(format!("unknown change {word:?}")),
            };
            let node_id = id.parse().map_err(|_| format!("bad node id in {word:?}"))?;
            Ok(ConfChangeSingle::new(change_type, node_id))
        })
        .collect()
}
