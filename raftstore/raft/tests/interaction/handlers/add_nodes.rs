//! `add-nodes <count> [voters=(..)] [learners=(..)] [index=N] [content=S] [options]`: creates
//! nodes with the next free ids.
//!
//! With `index`, every new node starts from a snapshot at that index (term 1) holding `content`
//! and the given configuration, as if the group had run that far; its hard state is at term 1,
//! so the first election is for term 2. With voters but no index, the
//! nodes start with that configuration and an empty log. Without either, a node starts empty and
//! waits to be added by a configuration change and caught up by a snapshot.
//!
//! Options set `Config` fields: `async-storage-writes`, `prevote`, `checkquorum`,
//! `read-only=safe|lease-based`, `max-committed-size-per-ready`, `max-inflight`,
//! `max-inflight-bytes`, `max-size-per-msg`, `max-uncommitted-size`,
//! `disable-proposal-forwarding`, `disable-conf-change-validation`, `step-down-on-removal`,
//! `election-tick`, `heartbeat-tick`.

use std::collections::VecDeque;

use bytes::Bytes;
use raft::raftpb::{ConfState, HardState, Snapshot, SnapshotMetadata};
use raft::{Config, MemStorage, NO_LIMIT, RawNode, ReadOnlyOption};

use crate::args::Args;
use crate::env::{InteractionEnv, Node};

pub fn run(env: &mut InteractionEnv, mut args: Args) -> Result<(), String> {
    let count = args.id()?;
    let cs = ConfState {
        voters: args.list("voters")?,
        learners: args.list("learners")?,
        ..ConfState::default()
    };
    let index: Option<u64> = args.opt("index")?;
    let content: String = args.opt("content")?.unwrap_or_default();
    let mut cfg = default_config();
    apply_config_args(&mut cfg, &mut args)?;
    args.finish()?;
    let initial = match index {
        Some(0) => return Err("index must be at least 1".to_string()),
        Some(index) => Some(Snapshot {
            data: Bytes::from(content),
            metadata: Some(SnapshotMetadata {
                conf_state: Some(cs),
                index,
                term: 1,
            }),
        }),
        None if !cs.voters.is_empty() || !cs.learners.is_empty() => Some(Snapshot {
            data: Bytes::from(content),
            metadata: Some(SnapshotMetadata {
                conf_state: Some(cs),
                index: 0,
                term: 0,
            }),
        }),
        None => None,
    };
    for _ in 0..count {
        let id = env.nodes.len() as u64 + 1;
        let node =
            new_node(id, &cfg, initial.as_ref()).map_err(|err| format!("node {id}: {err}"))?;
        env.nodes.push(node);
    }
    Ok(())
}

/// The harness defaults: short timeouts and no size limits, as in etcd's interaction tests.
fn default_config() -> Config {
    Config {
        election_tick: 3,
        heartbeat_tick: 1,
        max_size_per_msg: NO_LIMIT,
        ..Config::default()
    }
}

/// Sets the `Config` fields named by the command's options.
pub fn apply_config_args(cfg: &mut Config, args: &mut Args) -> Result<(), String> {
    if let Some(v) = args.opt("async-storage-writes")? {
        cfg.async_storage_writes = v;
    }
    if let Some(v) = args.opt("prevote")? {
        cfg.pre_vote = v;
    }
    if let Some(v) = args.opt("checkquorum")? {
        cfg.check_quorum = v;
    }
    if let Some(mode) = args.opt::<String>("read-only")? {
        cfg.read_only_option = match mode.as_str() {
            "safe" => ReadOnlyOption::Safe,
            "lease-based" => ReadOnlyOption::LeaseBased,
            _ => return Err(format!("unknown read-only mode {mode}")),
        };
    }
    if let Some(v) = args.opt("max-committed-size-per-ready")? {
        cfg.max_committed_size_per_ready = v;
    }
    if let Some(v) = args.opt("max-inflight")? {
        cfg.max_inflight_msgs = v;
    }
    if let Some(v) = args.opt("max-inflight-bytes")? {
        cfg.max_inflight_bytes = v;
    }
    if let Some(v) = args.opt("max-size-per-msg")? {
        cfg.max_size_per_msg = v;
    }
    if let Some(v) = args.opt("max-uncommitted-size")? {
        cfg.max_uncommitted_entries_size = v;
    }
    if let Some(v) = args.opt("disable-proposal-forwarding")? {
        cfg.disable_proposal_forwarding = v;
    }
    if let Some(v) = args.opt("disable-conf-change-validation")? {
        cfg.disable_conf_change_validation = v;
    }
    if let Some(v) = args.opt("step-down-on-removal")? {
        cfg.step_down_on_removal = v;
    }
    if let Some(v) = args.opt("election-tick")? {
        cfg.election_tick = v;
    }
    if let Some(v) = args.opt("heartbeat-tick")? {
        cfg.heartbeat_tick = v;
    }
    Ok(())
}

fn new_node(id: u64, cfg: &Config, initial: Option<&Snapshot>) -> Result<Node, String> {
    let mut cfg = Config { id, ..cfg.clone() };
    let storage = match initial {
        None => MemStorage::new(),
        Some(snap) if snap.index() == 0 => {
            MemStorage::new_with_conf_state(snap.meta().conf_state.unwrap_or_default())
        }
        Some(snap) => {
            // As after a real bootstrap, the node has seen the term of the snapshot's last entry:
            // no entry may be newer than the node's own term.
            let storage = MemStorage::new();
            let mut core = storage.wl();
            core.apply_snapshot(snap.clone())
                .map_err(|err| err.to_string())?;
            core.set_hard_state(HardState {
                term: snap.term(),
                vote: 0,
                commit: snap.index(),
            });
            drop(core);
            cfg.applied = snap.index();
            storage
        }
    };
    let raw = RawNode::new(&cfg, storage.clone()).map_err(|err| err.to_string())?;
    let history = vec![initial.cloned().unwrap_or_default()];
    Ok(Node {
        raw,
        storage,
        config: cfg,
        append_work: VecDeque::new(),
        apply_work: VecDeque::new(),
        history,
    })
}
