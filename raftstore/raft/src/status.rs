//! Snapshots of a node's state for the application and for operators.

use crate::raft::{Raft, SoftState};
use crate::raftpb::HardState;
use crate::storage::Storage;
use crate::tracker::{Progress, TrackerConfig};

/// The state of a node without its peers' progress (cheap to take).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BasicStatus {
    /// The node's id.
    pub id: u64,
    /// Term, vote and commit index.
    pub hard_state: HardState,
    /// Leader and role.
    pub soft_state: SoftState,
    /// The highest index the application reported applied.
    pub applied: u64,
    /// The target of a leadership transfer in progress, 0 for none.
    pub lead_transferee: u64,
}

impl BasicStatus {
    pub(crate) fn of<S: Storage>(r: &Raft<S>) -> BasicStatus {
        BasicStatus {
            id: r.id,
            hard_state: r.hard_state(),
            soft_state: r.soft_state(),
            applied: r.raft_log.applied,
            lead_transferee: r.lead_transferee,
        }
    }
}

/// The full state of a node: basic status, configuration and (leaders only) progress.
#[derive(Clone, Debug)]
pub struct Status {
    /// Term, vote, commit, role, leader, applied.
    pub basic: BasicStatus,
    /// The active configuration.
    pub config: TrackerConfig,
    /// Every peer's replication progress, by id; empty unless the node leads.
    pub progress: Vec<(u64, Progress)>,
}

impl Status {
    pub(crate) fn of<S: Storage>(r: &Raft<S>) -> Status {
        let progress = if r.is_leader() {
            r.prs
                .progress
                .iter()
                .map(|(id, pr)| (id, pr.clone()))
                .collect()
        } else {
            Vec::new()
        };
        Status {
            basic: BasicStatus::of(r),
            config: r.prs.config.clone(),
            progress,
        }
    }
}
