//! The apply pool: committed entries become data.
//!
//! Every region has an [`ApplyFsm`] in its own batch system. A round of an apply poller applies
//! the tasks of many regions into one write batch, each region's apply state next to its data,
//! writes it without fsync (the next synced raft-log write makes it durable; recovery never sees
//! data without the apply state covering it), then answers the proposals and reports the applied
//! index to each peer.
//!
//! ```text
//! ApplyTask(entries, proposals) ─► decode, check epoch, mutations ─► one WriteBatch
//!   ─► write(sync = false) ─► answer proposals ─► PeerMsg::Applied(applied index, conf changes)
//! ```
//!
//! Every replica applies the same entries in the same order and reaches the same decisions
//! (an epoch check refuses the same commands everywhere), so replicas never diverge.

mod exec;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use batch_system::{Fsm, PollHandler};
use engine::{ApplyBatch, ApplyState, KvEngine, Region, WriteBatch};
use tracing::{error, warn};

use crate::error::{Error, Result};
use crate::message::{ApplyMsg, ApplyResult, ApplyTask, Callback, PeerMsg, Response};
use crate::router::RaftRouter;

/// One region's apply side.
pub struct ApplyFsm<E: KvEngine> {
    /// This replica's peer id (a conf change may remove it).
    peer_id: u64,
    region: Arc<Region>,
    state: ApplyState,
    _engine: std::marker::PhantomData<E>,
}

impl<E: KvEngine> Fsm for ApplyFsm<E> {
    type Message = ApplyMsg;
}

impl<E: KvEngine> ApplyFsm<E> {
    /// The apply side of `peer`, from where its storage says it has applied up to.
    pub fn for_peer(peer: &crate::peer::PeerFsm<E>) -> ApplyFsm<E> {
        ApplyFsm::new(
            peer.peer().id,
            Arc::clone(peer.region()),
            peer.storage().apply_state(),
        )
    }

    /// The apply side of peer `peer_id` of `region`, which has applied up to `state`.
    pub fn new(peer_id: u64, region: Arc<Region>, state: ApplyState) -> ApplyFsm<E> {
        ApplyFsm {
            peer_id,
            region,
            state,
            _engine: std::marker::PhantomData,
        }
    }
}

/// The apply pool's control FSM (nothing store-wide to do yet).
pub struct ApplyControl;

impl Fsm for ApplyControl {
    type Message = ();
}

/// What one region's tasks of a round produced, delivered after the write.
struct Outcome {
    region_id: u64,
    answers: Vec<(Callback, Result<Response>)>,
    result: ApplyResult,
}

/// One apply round: the tasks of many regions applied into one write batch, then written once.
///
/// This is the apply poller's whole work, free of threads and mailboxes, so the store simulator
/// can run an apply round as one step: [`ApplyRound::apply`] for each message, then
/// [`ApplyRound::finish`].
pub struct ApplyRound<E: KvEngine> {
    engine: E,
    batch: E::WriteBatch,
    /// The regions applied since the last `finish`, answered and reported by it.
    outcomes: Vec<Outcome>,
}

impl<E: KvEngine> ApplyRound<E> {
    /// An empty round writing to `engine`.
    pub fn new(engine: E) -> ApplyRound<E> {
        let batch = engine.write_batch();
        ApplyRound {
            engine,
            batch,
            outcomes: Vec::new(),
        }
    }

    /// Applies one message of `fsm` into the round's batch; nothing is visible before
    /// [`ApplyRound::finish`].
    pub fn apply(&mut self, fsm: &mut ApplyFsm<E>, msg: ApplyMsg) {
        match msg {
            ApplyMsg::Apply(task) => self.apply_task(fsm, *task),
            ApplyMsg::Reset(reset) => {
                let (region, state) = *reset;
                fsm.region = region;
                fsm.state = state;
            }
        }
    }

    /// Writes the round's batch without sync, answers the round's proposals, and returns each
    /// applied region's result for its peer, in the order applied.
    ///
    /// The write is not synced: the store writer's next synced write makes it durable, and a
    /// crash before that loses the data and the apply state covering it together, so recovery
    /// applies the entries again from the log. Proposals are answered only after the write, so
    /// a client never sees a write that a read of this store could miss.
    ///
    /// When the write fails, or `failed` is already set, every proposal of the round is answered
    /// with the error, `failed` is set, and nothing is returned: the peers must not learn of an
    /// applied index that is not written.
    pub fn finish(&mut self, failed: &AtomicBool) -> Vec<(u64, ApplyResult)> {
        if self.outcomes.is_empty() {
            return Vec::new();
        }
        let written = if failed.load(Ordering::Acquire) {
            Err(Error::Engine(
                "the store stopped after an engine error".into(),
            ))
        } else {
            let started = Instant::now();
            let written = self
                .engine
                .write(&mut self.batch, false)
                .map_err(Error::from);
            let took = started.elapsed();
            metrics::histogram!("flotilla_apply_write_seconds").record(took.as_secs_f64());
            metrics::histogram!("flotilla_apply_batch_regions").record(self.outcomes.len() as f64);
            if took > crate::writer::SLOW_WRITE {
                warn!(?took, regions = self.outcomes.len(), "apply: slow write");
            }
            written
        };
        if let Err(err) = &written {
            error!(%err, "apply write failed; the store stops");
            failed.store(true, Ordering::Release);
            self.batch.clear();
        }
        let mut results = Vec::with_capacity(self.outcomes.len());
        for outcome in self.outcomes.drain(..) {
            for (callback, answer) in outcome.answers {
                match &written {
                    Ok(()) => callback.done(answer),
                    Err(err) => callback.done(Err(err.clone())),
                }
            }
            if written.is_ok() {
                results.push((outcome.region_id, outcome.result));
            }
        }
        results
    }

    fn apply_task(&mut self, fsm: &mut ApplyFsm<E>, task: ApplyTask) {
        let mut result = ApplyResult {
            applied_index: fsm.state.applied_index,
            conf_changes: Vec::new(),
            region: None,
            compacted_to: None,
            responses: task.responses,
        };
        let mut proposals = task.proposals.into_iter().peekable();
        let mut answers = Vec::new();
        for entry in &task.entries {
            if entry.index <= fsm.state.applied_index {
                continue;
            }
            let outcome = exec::apply_entry(fsm, entry, &mut self.batch, &mut result);
            fsm.state.applied_index = entry.index;
            while let Some(p) = proposals.next_if(|p| p.index <= entry.index) {
                let answer = if p.index == entry.index && p.term == entry.term {
                    outcome.clone()
                } else {
                    Err(Error::StaleCommand {
                        region_id: fsm.region.id,
                    })
                };
                answers.push((p.callback, answer));
            }
        }
        for p in proposals {
            // Proposals above the task's last entry come back with a later task; the peer
            // only hands over proposals up to the last entry, so this is a lost proposal.
            answers.push((
                p.callback,
                Err(Error::StaleCommand {
                    region_id: fsm.region.id,
                }),
            ));
        }
        self.batch
            .put_apply_state(engine::RegionId(fsm.region.id), &fsm.state);
        result.applied_index = fsm.state.applied_index;
        self.outcomes.push(Outcome {
            region_id: fsm.region.id,
            answers,
            result,
        });
    }
}

/// The poll handler of the apply pollers: an [`ApplyRound`] per poller round, whose results go
/// to the peers through the raft router.
pub struct ApplyPoller<E: KvEngine> {
    round: ApplyRound<E>,
    raft_router: RaftRouter<E>,
    failed: Arc<AtomicBool>,
}

impl<E: KvEngine> ApplyPoller<E> {
    /// A handler writing to `engine` and reporting to `raft_router`; `failed` is set (and the
    /// store stops) when a write fails.
    pub fn new(engine: E, raft_router: RaftRouter<E>, failed: Arc<AtomicBool>) -> ApplyPoller<E> {
        ApplyPoller {
            round: ApplyRound::new(engine),
            raft_router,
            failed,
        }
    }
}

impl<E: KvEngine> PollHandler<ApplyFsm<E>, ApplyControl> for ApplyPoller<E> {
    /// Regions apply in the order of their ranges, so the data keys of a round's batch roughly
    /// ascend: the memtable's skiplist then reuses the previous insert's position instead of
    /// searching from the top (perf showed skiplist inserts as the largest cost of applying).
    const ORDERED: bool = true;

    fn round_order(fsm: &ApplyFsm<E>) -> u64 {
        let mut head = [0u8; 8];
        let start = &fsm.region.start_key[..fsm.region.start_key.len().min(8)];
        head[..start.len()].copy_from_slice(start);
        u64::from_be_bytes(head)
    }

    fn handle_control(&mut self, _control: &mut ApplyControl, _msgs: &mut Vec<()>) {}

    fn handle_normal(&mut self, fsm: &mut ApplyFsm<E>, msgs: &mut Vec<ApplyMsg>) {
        for msg in msgs.drain(..) {
            self.round.apply(fsm, msg);
        }
    }

    fn end(&mut self, _fsms: &mut [Box<ApplyFsm<E>>]) {
        for (region_id, result) in self.round.finish(&self.failed) {
            let _ = self
                .raft_router
                .force_send(region_id, PeerMsg::Applied(Box::new(result)));
        }
    }
}
