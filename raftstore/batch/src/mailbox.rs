//! [`Mailbox`]: how messages reach a machine, and how a machine gets scheduled.
//!
//! The queue is unbounded underneath, with the capacity enforced by `try_send`: ordinary
//! senders (network messages, client requests) get `Full` back and can answer "busy", while
//! `force_send` lets through the messages that must never be lost (a storage thread's response
//! to a peer), which are bounded by the writes in flight.
//!
//! The queue is a `VecDeque` behind a short lock rather than a lock-free channel: a store has a
//! mailbox per region per batch system, most of them empty and quiet at any moment, and an
//! empty mailbox here owns no buffer (about 50 bytes in all), where an unbounded crossbeam
//! channel holds over a kilobyte (cache-padded ends and a retained block of slots). Senders to
//! one mailbox are few (the pollers, a writer, the clients of one region), so the lock is held
//! for a push or a drain and rarely contended.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::errors::SendError;
use crate::fsm::{Fsm, FsmState};

/// Puts a woken machine on a poller queue.
pub(crate) trait Schedule<F: Fsm>: Send + Sync {
    /// Queues `fsm`, whose mailbox is `mailbox`, for a poller.
    fn schedule(&self, fsm: Box<F>, mailbox: Arc<MailboxInner<F>>);
}

/// The shared part of a mailbox: the machine's state and its queue of messages.
pub(crate) struct MailboxInner<F: Fsm> {
    state: FsmState<F>,
    /// Waiting messages. Empty means no buffer: a drain that empties it frees it.
    queue: Mutex<VecDeque<F::Message>>,
    capacity: usize,
    scheduler: Arc<dyn Schedule<F>>,
}

/// The address of one machine. Cheap to clone; callers may cache it.
pub struct Mailbox<F: Fsm> {
    inner: Arc<MailboxInner<F>>,
}

impl<F: Fsm> Clone for Mailbox<F> {
    fn clone(&self) -> Mailbox<F> {
        Mailbox {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: Fsm> Mailbox<F> {
    pub(crate) fn new(fsm: Box<F>, capacity: usize, scheduler: Arc<dyn Schedule<F>>) -> Mailbox<F> {
        let inner = MailboxInner {
            state: FsmState::new(fsm),
            queue: Mutex::new(VecDeque::new()),
            capacity,
            scheduler,
        };
        Mailbox {
            inner: Arc::new(inner),
        }
    }

    /// Sends unless the mailbox is full or closed, and wakes the machine.
    ///
    /// # Errors
    /// `Full` at capacity, `Disconnected` once the machine is closed; the message comes back.
    pub fn try_send(&self, msg: F::Message) -> Result<(), SendError<F::Message>> {
        self.send(msg, self.inner.capacity)
    }

    /// Sends whatever the mailbox holds, and wakes the machine.
    ///
    /// # Errors
    /// `Disconnected` once the machine is closed.
    pub fn force_send(&self, msg: F::Message) -> Result<(), SendError<F::Message>> {
        self.send(msg, usize::MAX)
    }

    fn send(&self, msg: F::Message, capacity: usize) -> Result<(), SendError<F::Message>> {
        {
            let mut queue = self.inner.queue.lock();
            // Checked under the lock that `close` drains under: a message is either refused
            // here or dropped by the close, never left behind in a closed mailbox.
            if self.inner.state.is_closed() {
                return Err(SendError::Disconnected(msg));
            }
            if queue.len() >= capacity {
                return Err(SendError::Full(msg));
            }
            queue.push_back(msg);
        }
        self.inner.notify();
        Ok(())
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.inner.queue.lock().len()
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.inner.queue.lock().is_empty()
    }

    /// Whether the machine was closed.
    pub fn is_closed(&self) -> bool {
        self.inner.state.is_closed()
    }

    /// Closes the mailbox: the machine is dropped (now if idle, else when its round ends) and
    /// waiting messages with it.
    pub fn close(&self) {
        self.inner.close();
    }
}

impl<F: Fsm> MailboxInner<F> {
    /// Schedules the machine if it is idle.
    fn notify(self: &Arc<Self>) {
        if let Some(fsm) = self.state.take_if_idle() {
            self.scheduler.schedule(fsm, Arc::clone(self));
        }
    }

    /// Moves up to `limit` waiting messages into `out`. Emptying the queue frees its buffer,
    /// so a mailbox that goes quiet holds no memory for messages.
    pub(crate) fn drain_into(&self, out: &mut Vec<F::Message>, limit: usize) {
        let mut queue = self.queue.lock();
        if queue.len() <= limit {
            out.extend(std::mem::take(&mut *queue));
        } else {
            out.extend(queue.drain(..limit));
        }
    }

    /// Parks the machine after its round, or drops it if it stopped or was closed. A machine
    /// with messages left is scheduled again, behind every machine already queued.
    pub(crate) fn release(self: &Arc<Self>, fsm: Box<F>) {
        if fsm.is_stopped() {
            drop(fsm);
            self.close();
            return;
        }
        if self.state.park(fsm).is_err() {
            // Closed while running: the machine is dropped here.
            self.drain_and_drop();
            return;
        }
        // A sender that pushed before the park saw the machine notified and did not schedule
        // it. The park happens before this look at the queue; a push the look misses takes the
        // lock after it, so that sender's notify sees the machine idle and schedules it.
        if !self.queue.lock().is_empty() {
            self.notify();
        }
    }

    fn close(&self) {
        drop(self.state.close());
        self.drain_and_drop();
    }

    fn drain_and_drop(&self) {
        let waiting = std::mem::take(&mut *self.queue.lock());
        // Dropped outside the lock: a message's drop may send to another mailbox.
        drop(waiting);
    }
}
