//! One file per command. Every handler takes its arguments, calls [`crate::args::Args::finish`],
//! acts on the environment and writes to its output. A handler returns `Err` only for a mistake
//! in the script; errors of the core are printed as part of the output.

mod add_nodes;
mod campaign;
mod compact;
mod cut;
mod delay_msgs;
mod deliver_msgs;
mod forget_leader;
mod heal;
mod isolate;
mod log_level;
mod process_append_thread;
mod process_apply_thread;
mod process_ready;
mod propose;
mod propose_conf_change;
mod raft_log;
mod raft_state;
mod read_index;
mod release_msgs;
mod report_snapshot;
mod report_unreachable;
mod restart;
mod send_snapshot;
mod snapshot_unavailable;
mod stabilize;
mod status;
mod tick;
mod transfer_leadership;

use crate::args::Args;
use crate::env::InteractionEnv;

/// Runs the command `cmd`; `input` is the text between the command line and `----`.
pub fn dispatch(
    env: &mut InteractionEnv,
    cmd: &str,
    args: Args,
    input: &str,
) -> Result<(), String> {
    if cmd != "propose-conf-change" && !input.trim().is_empty() {
        return Err(format!("{cmd} takes no input"));
    }
    match cmd {
        "add-nodes" => add_nodes::run(env, args),
        "campaign" => campaign::run(env, args),
        "compact" => compact::run(env, args),
        "cut" => cut::run(env, args),
        "delay-msgs" => delay_msgs::run(env, args),
        "deliver-msgs" => deliver_msgs::run(env, args),
        "forget-leader" => forget_leader::run(env, args),
        "heal" => heal::run(env, args),
        "isolate" => isolate::run(env, args),
        "log-level" => log_level::run(env, args),
        "process-append-thread" => process_append_thread::run(env, args),
        "process-apply-thread" => process_apply_thread::run(env, args),
        "process-ready" => process_ready::run(env, args),
        "propose" => propose::run(env, args),
        "propose-conf-change" => propose_conf_change::run(env, args, input),
        "raft-log" => raft_log::run(env, args),
        "raft-state" => raft_state::run(env, args),
        "read-index" => read_index::run(env, args),
        "release-msgs" => release_msgs::run(env, args),
        "report-snapshot" => report_snapshot::run(env, args),
        "report-unreachable" => report_unreachable::run(env, args),
        "restart" => restart::run(env, args),
        "send-snapshot" => send_snapshot::run(env, args),
        "snapshot-unavailable" => snapshot_unavailable::run(env, args),
        "stabilize" => stabilize::run(env, args),
        "status" => status::run(env, args),
        "tick" => tick::run(env, args, tick::Interval::Explicit),
        "tick-election" => tick::run(env, args, tick::Interval::Election),
        "tick-heartbeat" => tick::run(env, args, tick::Interval::Heartbeat),
        "transfer-leadership" => transfer_leadership::run(env, args),
        _ => Err(format!("unknown command {cmd}")),
    }
}
