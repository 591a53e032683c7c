//! [`Mailbox`]: how messages reach a machine, and how a machine gets scheduled.
//!
//! The channel is unbounded underneath, with the capacity enforced by `try_send`: ordinary
//! senders (network messages, client requests) get `Full` back and can answer "busy", while
//! `force_send` lets through the messages that must never be lost (a storage thread's response
//! to a peer), which are bounded by the writes in flight.

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::errors::SendError;
use crate::fsm::{Fsm, FsmState};

/// Puts a woken machine on a poller queue.
pub(crate) trait Schedule<F: Fsm>: Send + Sync {
    /// Queues `fsm`, whose mailbox is `mailbox`, for a poller.
    fn schedule(&self, fsm: Box<F>, mailbox: Arc<MailboxInner<F>>);
}

/// The shared part of a mailbox: the machine's state and the receiving end of its channel.
pub(crate) struct MailboxInner<F: Fsm> {
    state: FsmState<F>,
    receiver: Receiver<F::Message>,
    capacity: usize,
    scheduler: Arc<dyn Schedule<F>>,
}

/// The address of one machine. Cheap to clone; callers may cache it.
pub struct Mailbox<F: Fsm> {
    sender: Sender<F::Message>,
    inner: Arc<MailboxInner<F>>,
}

impl<F: Fsm> Clone for Mailbox<F> {
    fn clone(&self) -> Mailbox<F> {
        Mailbox {
            sender: self.sender.clone(),
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: Fsm> Mailbox<F> {
    pub(crate) fn new(fsm: Box<F>, capacity: usize, scheduler: Arc<dyn Schedule<F>>) -> Mailbox<F> {
        // Unbounded on purpose: `try_send` enforces `capacity`; only `force_send` exceeds it.
        let (sender, receiver) = crossbeam_channel::unbounded();
        let inner = MailboxInner {
            state: FsmState::new(fsm),
            receiver,
            capacity,
            scheduler,
        };
        Mailbox {
            sender,
            inner: Arc::new(inner),
        }
    }

    /// Sends unless the mailbox is full or closed, and wakes the machine.
    ///
    /// # Errors
    /// `Full` at capacity, `Disconnected` once the machine is closed; the message comes back.
    pub fn try_send(&self, msg: F::Message) -> Result<(), SendError<F::Message>> {
        if self.inner.receiver.len() >= self.inner.capacity {
            return Err(SendError::Full(msg));
        }
        self.force_send(msg)
    }

    /// Sends whatever the mailbox holds, and wakes the machine.
    ///
    /// # Errors
    /// `Disconnected` once the machine is closed.
    pub fn force_send(&self, msg: F::Message) -> Result<(), SendError<F::Message>> {
        if self.inner.state.is_closed() {
            return Err(SendError::Disconnected(msg));
        }
        if let Err(err) = self.sender.send(msg) {
            return Err(SendError::Disconnected(err.into_inner()));
        }
        self.inner.notify();
        Ok(())
    }

    /// Messages waiting.
    pub fn len(&self) -> usize {
        self.inner.receiver.len()
    }

    /// Whether no message waits.
    pub fn is_empty(&self) -> bool {
        self.inner.receiver.is_empty()
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

    /// Moves up to `limit` waiting messages into `out`.
    pub(crate) fn drain_into(&self, out: &mut Vec<F::Message>, limit: usize) {
        out.extend(self.receiver.try_iter().take(limit));
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
        // it; the SeqCst status change makes sure one of us sees the other.
        if !self.receiver.is_empty() {
            self.notify();
        }
    }

    fn close(&self) {
        drop(self.state.close());
        self.drain_and_drop();
    }

    fn drain_and_drop(&self) {
        for msg in self.receiver.try_iter() {
            drop(msg);
        }
    }
}
