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

use batch_system::{Fsm, PollHandler};
use engine::{ApplyBatch, ApplyState, KvEngine, Region, WriteBatch};
use tracing::error;

use crate::error::{Error, Result};
use crate::message::{ApplyMsg, ApplyResult, ApplyTask, Callback, PeerMsg, Response};
use crate::router::RaftRouter;

/// One region's apply side.
pub struct ApplyFsm<E: KvEngine> {
    region: Region,
    state: ApplyState,
    _engine: std::marker::PhantomData<E>,
}

impl<E: KvEngine> Fsm for ApplyFsm<E> {
    type Message = ApplyMsg;
}

impl<E: KvEngine> ApplyFsm<E> {
    /// The apply side of `region`, which has applied up to `state`.
    pub fn new(region: Region, state: ApplyState) -> ApplyFsm<E> {
        ApplyFsm {
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

/// The poll handler of the apply pollers.
pub struct ApplyPoller<E: KvEngine> {
    engine: E,
    batch: E::WriteBatch,
    raft_router: RaftRouter<E>,
    outcomes: Vec<Outcome>,
    failed: Arc<AtomicBool>,
}

impl<E: KvEngine> ApplyPoller<E> {
    /// A handler writing to `engine` and reporting to `raft_router`; `failed` is set (and the
    /// store stops) when a write fails.
    pub fn new(engine: E, raft_router: RaftRouter<E>, failed: Arc<AtomicBool>) -> ApplyPoller<E> {
        let batch = engine.write_batch();
        ApplyPoller {
            engine,
            batch,
            raft_router,
            outcomes: Vec::new(),
            failed,
        }
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

impl<E: KvEngine> PollHandler<ApplyFsm<E>, ApplyControl> for ApplyPoller<E> {
    fn handle_control(&mut self, _control: &mut ApplyControl, _msgs: &mut Vec<()>) {}

    fn handle_normal(&mut self, fsm: &mut ApplyFsm<E>, msgs: &mut Vec<ApplyMsg>) {
        for msg in msgs.drain(..) {
            match msg {
                ApplyMsg::Apply(task) => self.apply_task(fsm, task),
                ApplyMsg::Reset { region, state } => {
                    fsm.region = region;
                    fsm.state = state;
                }
            }
        }
    }

    fn end(&mut self, _fsms: &mut [Box<ApplyFsm<E>>]) {
        if self.outcomes.is_empty() {
            return;
        }
        let written = if self.failed.load(Ordering::Acquire) {
            Err(Error::Engine(
                "the store stopped after an engine error".into(),
            ))
        } else {
            self.engine
                .write(&mut self.batch, false)
                .map_err(Error::from)
        };
        if let Err(err) = &written {
            error!(%err, "apply write failed; the store stops");
            self.failed.store(true, Ordering::Release);
            self.batch.clear();
        }
        for outcome in self.outcomes.drain(..) {
            for (callback, answer) in outcome.answers {
                match &written {
                    Ok(()) => callback.done(answer),
                    Err(err) => callback.done(Err(err.clone())),
                }
            }
            if written.is_ok() {
                let _ = self.raft_router.force_send(
                    outcome.region_id,
                    PeerMsg::Applied(Box::new(outcome.result)),
                );
            }
        }
    }
}
