//! `raft-state`: one line per node, from that node's own point of view: role, whether its
//! configuration makes it a voter, term, leader, commit and applied index.

use raft::StateRole;

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, args: Args) -> Result<(), String> {
    args.finish()?;
    for node in &env.nodes {
        let raft = &node.raw.raft;
        let voter = if raft.prs.config.voters.contains(raft.id) {
            "Voter"
        } else {
            "Non-Voter"
        };
        let role = match raft.state {
            StateRole::Leader => "StateLeader",
            StateRole::Candidate => "StateCandidate",
            StateRole::PreCandidate => "StatePreCandidate",
            StateRole::Follower => "StateFollower",
        };
        env.output.line(&format!(
            "{}: {role} ({voter}) Term:{} Lead:{} Commit:{} Applied:{}",
            raft.id, raft.term, raft.leader_id, raft.raft_log.committed, raft.raft_log.applied
        ));
    }
    Ok(())
}
