//! The poll loop and the handler a user plugs into it.
//!
//! A round: take up to `max_batch_size` machines from the queue (waiting for the first),
//! `begin`, give each its waiting messages (up to `messages_per_tick`), `end` with every normal
//! machine of the round (where batched work happens: one write task, one flush of messages),
//! then park the machines again.

use std::sync::Arc;

use crossbeam_channel::Receiver;
use tracing::debug;

use crate::fsm::Fsm;
use crate::mailbox::MailboxInner;

/// What a poller does with the machines of a round. One handler per poller thread.
pub trait PollHandler<N: Fsm, C: Fsm>: Send + 'static {
    /// A round starts with `batch_size` machines.
    fn begin(&mut self, batch_size: usize) {
        let _ = batch_size;
    }

    /// The position of `normal` in a round: machines of a round are handled in ascending order
    /// of this key (ties in no particular order). A handler whose batched work is cheaper in some
    /// order says so here (a write batch whose keys ascend inserts faster into a skiplist
    /// memtable); the default keeps arrival order. Only consulted when [`Self::ORDERED`].
    fn round_order(normal: &N) -> u64 {
        let _ = normal;
        0
    }

    /// Whether [`Self::round_order`] orders the machines of a round.
    const ORDERED: bool = false;

    /// The control machine's turn; `msgs` holds its waiting messages (drain them).
    fn handle_control(&mut self, control: &mut C, msgs: &mut Vec<C::Message>);

    /// A normal machine's turn; `msgs` holds its waiting messages (drain them).
    fn handle_normal(&mut self, normal: &mut N, msgs: &mut Vec<N::Message>);

    /// The round ends; `normals` are the normal machines handled in it, still owned by the
    /// poller. Work that benefits from batching goes here.
    fn end(&mut self, normals: &mut [Box<N>]) {
        let _ = normals;
    }
}

/// What travels on the poller queue.
pub(crate) enum Task<N: Fsm, C: Fsm> {
    /// A woken normal machine and its mailbox.
    Normal(Box<N>, Arc<MailboxInner<N>>),
    /// The woken control machine and its mailbox.
    Control(Box<C>, Arc<MailboxInner<C>>),
    /// The poller that takes this stops after its round.
    Shutdown,
}

/// One poller thread's loop.
pub(crate) struct Poller<N: Fsm, C: Fsm, H> {
    pub(crate) queue: Receiver<Task<N, C>>,
    pub(crate) handler: H,
    pub(crate) max_batch_size: usize,
    pub(crate) messages_per_tick: usize,
}

/// The machines of one round.
struct Round<N: Fsm, C: Fsm> {
    normals: Vec<Box<N>>,
    normal_mailboxes: Vec<Arc<MailboxInner<N>>>,
    control: Option<(Box<C>, Arc<MailboxInner<C>>)>,
    shutdown: bool,
}

impl<N: Fsm, C: Fsm, H: PollHandler<N, C>> Poller<N, C, H> {
    /// Runs rounds until a shutdown task arrives or the queue closes.
    pub(crate) fn run(mut self) {
        let mut round = Round {
            normals: Vec::with_capacity(self.max_batch_size),
            normal_mailboxes: Vec::with_capacity(self.max_batch_size),
            control: None,
            shutdown: false,
        };
        let mut normal_msgs = Vec::new();
        let mut control_msgs = Vec::new();
        while let Ok(first) = self.queue.recv() {
            let mut tasks = vec![first];
            // Stop gathering at a shutdown task: each poller must consume exactly one, or
            // another poller would wait for one forever.
            while tasks.len() < self.max_batch_size && !matches!(tasks.last(), Some(Task::Shutdown))
            {
                match self.queue.try_recv() {
                    Ok(task) => tasks.push(task),
                    Err(_) => break,
                }
            }
            if H::ORDERED {
                // Control and shutdown tasks sort first; they touch no normal machine.
                tasks.sort_unstable_by_key(|task| match task {
                    Task::Normal(fsm, _) => H::round_order(fsm),
                    Task::Control(..) | Task::Shutdown => 0,
                });
            }
            self.handler.begin(tasks.len());
            for task in tasks {
                match task {
                    Task::Shutdown => round.shutdown = true,
                    Task::Control(mut fsm, mailbox) => {
                        mailbox.drain_into(&mut control_msgs, self.messages_per_tick);
                        self.handler.handle_control(&mut fsm, &mut control_msgs);
                        control_msgs.clear();
                        round.control = Some((fsm, mailbox));
                    }
                    Task::Normal(mut fsm, mailbox) => {
                        mailbox.drain_into(&mut normal_msgs, self.messages_per_tick);
                        self.handler.handle_normal(&mut fsm, &mut normal_msgs);
                        normal_msgs.clear();
                        round.normals.push(fsm);
                        round.normal_mailboxes.push(mailbox);
                    }
                }
            }
            self.handler.end(&mut round.normals);
            for (fsm, mailbox) in round
                .normals
                .drain(..)
                .zip(round.normal_mailboxes.drain(..))
            {
                mailbox.release(fsm);
            }
            if let Some((fsm, mailbox)) = round.control.take() {
                mailbox.release(fsm);
            }
            if round.shutdown {
                debug!("poller stops");
                return;
            }
        }
    }
}
