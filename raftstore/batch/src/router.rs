//! [`Router`]: from a region id to its machine's mailbox, plus the control mailbox.
//!
//! The map is split into shards, each behind its own read-write lock, so sends to different
//! regions never contend on one lock and the common case (a send) takes only a read lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::RwLock;

use crate::errors::{Error, SendError};
use crate::fsm::Fsm;
use crate::mailbox::{Mailbox, Schedule};

/// Shards of the id-to-mailbox map; a power of two.
const SHARDS: usize = 64;

/// One shard of the id-to-mailbox map.
type Shard<N> = RwLock<HashMap<u64, Mailbox<N>>>;

/// Routes messages to machines by id, and to the control machine.
pub struct Router<N: Fsm, C: Fsm> {
    shards: Arc<[Shard<N>]>,
    control: Mailbox<C>,
    scheduler: Arc<dyn Schedule<N>>,
    mailbox_capacity: usize,
    shutdown: Arc<AtomicBool>,
}

impl<N: Fsm, C: Fsm> Clone for Router<N, C> {
    fn clone(&self) -> Router<N, C> {
        Router {
            shards: Arc::clone(&self.shards),
            control: self.control.clone(),
            scheduler: Arc::clone(&self.scheduler),
            mailbox_capacity: self.mailbox_capacity,
            shutdown: Arc::clone(&self.shutdown),
        }
    }
}

impl<N: Fsm, C: Fsm> Router<N, C> {
    pub(crate) fn new(
        control: Mailbox<C>,
        scheduler: Arc<dyn Schedule<N>>,
        mailbox_capacity: usize,
    ) -> Router<N, C> {
        let shards: Vec<_> = (0..SHARDS).map(|_| RwLock::new(HashMap::new())).collect();
        Router {
            shards: shards.into(),
            control,
            scheduler,
            mailbox_capacity,
            shutdown: Arc::new(AtomicBool::new(false)),
        }
    }

    fn shard(&self, id: u64) -> &Shard<N> {
        &self.shards[(id as usize) & (SHARDS - 1)]
    }

    /// Registers a machine under `id` and returns its mailbox. The machine starts idle: it
    /// runs when its first message arrives.
    ///
    /// # Errors
    /// `AlreadyRegistered` if `id` is taken (the machine is dropped), `WrongState` after
    /// shutdown.
    pub fn register(&self, id: u64, fsm: Box<N>) -> Result<Mailbox<N>, Error> {
        if self.shutdown.load(Ordering::SeqCst) {
            return Err(Error::WrongState { state: "shut down" });
        }
        let mut shard = self.shard(id).write();
        if shard.contains_key(&id) {
            return Err(Error::AlreadyRegistered { id });
        }
        let mailbox = Mailbox::new(fsm, self.mailbox_capacity, Arc::clone(&self.scheduler));
        shard.insert(id, mailbox.clone());
        Ok(mailbox)
    }

    /// The mailbox of `id`, for callers that send to it often.
    pub fn mailbox(&self, id: u64) -> Option<Mailbox<N>> {
        self.shard(id).read().get(&id).cloned()
    }

    /// Sends to `id` unless its mailbox is full.
    ///
    /// # Errors
    /// `NotFound`, `Full` or `Disconnected`; the message comes back.
    pub fn send(&self, id: u64, msg: N::Message) -> Result<(), SendError<N::Message>> {
        match self.shard(id).read().get(&id) {
            Some(mailbox) => mailbox.try_send(msg),
            None => Err(SendError::NotFound(msg)),
        }
    }

    /// Sends to `id` whatever its mailbox holds (for messages that must not be refused).
    ///
    /// # Errors
    /// `NotFound` or `Disconnected`; the message comes back.
    pub fn force_send(&self, id: u64, msg: N::Message) -> Result<(), SendError<N::Message>> {
        match self.shard(id).read().get(&id) {
            Some(mailbox) => mailbox.force_send(msg),
            None => Err(SendError::NotFound(msg)),
        }
    }

    /// Sends to the control machine unless its mailbox is full.
    ///
    /// # Errors
    /// `Full` or `Disconnected`; the message comes back.
    pub fn send_control(&self, msg: C::Message) -> Result<(), SendError<C::Message>> {
        self.control.try_send(msg)
    }

    /// Sends to the control machine whatever its mailbox holds.
    ///
    /// # Errors
    /// `Disconnected` after shutdown.
    pub fn force_send_control(&self, msg: C::Message) -> Result<(), SendError<C::Message>> {
        self.control.force_send(msg)
    }

    /// Sends a message made by `make` to every registered machine (ignoring full mailboxes'
    /// limits: a broadcast is a tick or a store-wide event).
    pub fn broadcast_normal(&self, mut make: impl FnMut() -> N::Message) {
        for shard in self.shards.iter() {
            for mailbox in shard.read().values() {
                let _ = mailbox.force_send(make());
            }
        }
    }

    /// Unregisters `id` and closes its mailbox. Returns whether it was registered.
    pub fn close(&self, id: u64) -> bool {
        let removed = self.shard(id).write().remove(&id);
        removed.map(|mailbox| mailbox.close()).is_some()
    }

    /// How many machines are registered.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether no machine is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes every mailbox, the control one included; later sends fail.
    pub(crate) fn close_all(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
        for shard in self.shards.iter() {
            for (_, mailbox) in shard.write().drain() {
                mailbox.close();
            }
        }
        self.control.close();
    }
}
