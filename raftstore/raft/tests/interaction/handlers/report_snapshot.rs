//! `report-snapshot <id> peer=<peer> status=finish|failure`: node `id` learns the outcome of the
//! snapshot it sent to `peer`.

use raft::SnapshotStatus;

use crate::args::Args;
use crate::env::InteractionEnv;

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let id = args.id()?;
    let peer: u64 = args.req("peer")?;
    let status = match args.req::<String>("status")?.as_str() {
        "finish" => SnapshotStatus::Finish,
        "failure" => SnapshotStatus::Failure,
        other => return Err(format!("unknown snapshot status {other}")),
    };
    args.finish()?;
    env.node(id)?.raw.report_snapshot(peer, status);
    Ok(())
}
