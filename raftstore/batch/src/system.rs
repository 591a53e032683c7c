//! [`BatchSystem`]: the poller threads, started with a handler per thread and stopped cleanly.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

use crate::config::Config;
use crate::errors::Error;
use crate::fsm::Fsm;
use crate::mailbox::{Mailbox, MailboxInner, Schedule};
use crate::poller::{PollHandler, Poller, Task};
use crate::router::Router;

/// Queues woken normal machines.
struct NormalScheduler<N: Fsm, C: Fsm> {
    queue: Sender<Task<N, C>>,
}

impl<N: Fsm, C: Fsm> Schedule<N> for NormalScheduler<N, C> {
    fn schedule(&self, fsm: Box<N>, mailbox: Arc<MailboxInner<N>>) {
        // Fails only once every poller is gone; the machine is dropped with the system.
        let _ = self.queue.send(Task::Normal(fsm, mailbox));
    }
}

/// Queues the woken control machine.
struct ControlScheduler<N: Fsm, C: Fsm> {
    queue: Sender<Task<N, C>>,
}

impl<N: Fsm, C: Fsm> Schedule<C> for ControlScheduler<N, C> {
    fn schedule(&self, fsm: Box<C>, mailbox: Arc<MailboxInner<C>>) {
        let _ = self.queue.send(Task::Control(fsm, mailbox));
    }
}

/// What [`BatchSystem::new`] returns: the router and the (not yet started) system.
pub type RouterAndSystem<N, C> = (Router<N, C>, BatchSystem<N, C>);

/// The pollers of one pool, and the queue they share.
pub struct BatchSystem<N: Fsm, C: Fsm> {
    cfg: Config,
    router: Router<N, C>,
    queue_tx: Sender<Task<N, C>>,
    queue_rx: Receiver<Task<N, C>>,
    pollers: Vec<JoinHandle<()>>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Running,
    Stopped,
}

impl<N: Fsm, C: Fsm> BatchSystem<N, C> {
    /// A system with `control` as its control machine, and the router to reach its machines.
    /// No thread runs until [`BatchSystem::spawn`].
    ///
    /// # Errors
    /// `ConfigInvalid` for an unusable config.
    pub fn new(cfg: Config, control: Box<C>) -> Result<RouterAndSystem<N, C>, Error> {
        cfg.validate()?;
        // Unbounded on purpose: each machine is in the queue at most once (exactly-once
        // scheduling), so the queue never holds more entries than there are machines.
        let (queue_tx, queue_rx) = crossbeam_channel::unbounded();
        let control_scheduler = Arc::new(ControlScheduler {
            queue: queue_tx.clone(),
        });
        let control = Mailbox::new(control, cfg.mailbox_capacity, control_scheduler);
        let normal_scheduler = Arc::new(NormalScheduler {
            queue: queue_tx.clone(),
        });
        let router = Router::new(control, normal_scheduler, cfg.mailbox_capacity);
        let system = BatchSystem {
            cfg,
            router: router.clone(),
            queue_tx,
            queue_rx,
            pollers: Vec::new(),
            state: State::Created,
        };
        Ok((router, system))
    }

    /// Starts `pool_size` pollers, each with the handler `build(i)` returns.
    ///
    /// # Errors
    /// `WrongState` if already started or stopped, `Spawn` if a thread cannot start (the
    /// pollers already started are stopped).
    pub fn spawn<H: PollHandler<N, C>>(
        &mut self,
        mut build: impl FnMut(usize) -> H,
    ) -> Result<(), Error> {
        if self.state != State::Created {
            return Err(Error::WrongState {
                state: "already started or stopped",
            });
        }
        self.state = State::Running;
        for i in 0..self.cfg.pool_size {
            let poller = Poller {
                queue: self.queue_rx.clone(),
                handler: build(i),
                max_batch_size: self.cfg.max_batch_size,
                messages_per_tick: self.cfg.messages_per_tick,
            };
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{i}", self.cfg.thread_name))
                .spawn(move || poller.run());
            match spawned {
                Ok(handle) => self.pollers.push(handle),
                Err(err) => {
                    self.shutdown();
                    return Err(Error::Spawn {
                        reason: err.to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Closes every mailbox, lets each poller finish its round, and joins them. Machines are
    /// dropped; sends fail from now on. Idempotent.
    pub fn shutdown(&mut self) {
        if self.state == State::Stopped {
            return;
        }
        self.state = State::Stopped;
        self.router.close_all();
        for _ in 0..self.pollers.len() {
            let _ = self.queue_tx.send(Task::Shutdown);
        }
        for handle in self.pollers.drain(..) {
            // A poller that panicked already reported it; shutting down goes on.
            let _ = handle.join();
        }
        // Drop what is still queued (machines woken during shutdown).
        while self.queue_rx.try_recv().is_ok() {}
    }

    /// The router of this system.
    pub fn router(&self) -> &Router<N, C> {
        &self.router
    }
}

impl<N: Fsm, C: Fsm> Drop for BatchSystem<N, C> {
    fn drop(&mut self) {
        self.shutdown();
    }
}
