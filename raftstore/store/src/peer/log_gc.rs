//! Log GC on the leader: propose compacting the log once it is no longer needed.
//!
//! The point is the lowest index every peer has (so nobody needs a snapshot), at most the
//! leader's applied index, once at least `log_gc_threshold` entries sit above the current
//! point. Past `log_gc_count_limit` entries the leader compacts to its applied index anyway: a
//! peer that lags that far catches up by snapshot. The compaction is an admin command in the
//! log, so every replica deletes the same prefix at the same position (see the apply side).

use engine::KvEngine;
use prost::Message as _;
use raft::StateRole;
use tracing::debug;

use super::PeerFsm;
use crate::cmd::{AdminCmd, CmdHeader, RaftCmd};
use crate::poll::PollContext;

impl<E: KvEngine> PeerFsm<E> {
    /// On a leader's tick: proposes a compaction when one is due.
    pub(super) fn maybe_compact_log(&mut self, ctx: &PollContext<E>) {
        if self.role != StateRole::Leader {
            return;
        }
        let Some(to) = self.compaction_point(ctx) else {
            return;
        };
        let Ok(term) = self.raw.raft.raft_log.term(to) else {
            return;
        };
        let cmd = RaftCmd {
            header: Some(CmdHeader {
                region_id: self.region.id,
                epoch: self.region.epoch,
            }),
            mutations: Vec::new(),
            admin: Some(AdminCmd {
                compact_index: to,
                compact_term: term,
            }),
        };
        if self.raw.propose(cmd.encode_to_vec().into()).is_ok() {
            self.gc_proposed = to;
            metrics::counter!("flotilla_log_gc_proposed").increment(1);
            debug!(region = self.region.id, to, "log compaction proposed");
        }
    }

    /// Where to compact to now, if anywhere.
    fn compaction_point(&self, ctx: &PollContext<E>) -> Option<u64> {
        let cfg = &ctx.store.cfg;
        let state = self.storage.apply_state();
        let (truncated, applied) = (state.truncated_index, state.applied_index);
        let last = self.raw.raft.raft_log.last_index();
        let everyone_has = self
            .raw
            .raft
            .prs
            .progress
            .iter()
            .map(|(_, pr)| pr.matched)
            .min()?;
        let to = if last - truncated > cfg.log_gc_count_limit {
            applied
        } else {
            let to = everyone_has.min(applied);
            if to < truncated + cfg.log_gc_threshold {
                return None;
            }
            to
        };
        (to > truncated && to > self.gc_proposed).then_some(to)
    }
}
