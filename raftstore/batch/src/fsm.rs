//! The [`Fsm`] trait and the state that decides who runs a machine.
//!
//! A machine is always in exactly one place: parked in its mailbox's slot (idle), in the
//! scheduler's queue or a poller's hands (notified), or gone (closed). The transition from idle
//! to notified is a compare-and-swap, so however many senders wake a machine at once, it is
//! scheduled exactly once.
//!
//! ```text
//!            take_if_idle (CAS)              park (CAS)
//!   IDLE ────────────────────────► NOTIFIED ──────────► IDLE
//!     │  close                         │ close
//!     └──────────► CLOSED ◄────────────┘   (the poller drops the machine on release)
//! ```

use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;

/// A finite-state machine driven by the batch system: a region's peer, an apply delegate, the
/// store itself.
pub trait Fsm: Send + 'static {
    /// What its mailbox carries.
    type Message: Send + 'static;

    /// Whether the machine is finished; a stopped machine is dropped, and its mailbox closed,
    /// at the end of the round that stopped it.
    fn is_stopped(&self) -> bool {
        false
    }
}

const IDLE: u8 = 0;
const NOTIFIED: u8 = 1;
const CLOSED: u8 = 2;

/// Where a machine is and, while it is idle, the machine itself.
pub(crate) struct FsmState<F> {
    /// `IDLE`, `NOTIFIED` or `CLOSED`.
    ///
    /// Invariant: `slot` holds the machine exactly when the status is `IDLE` (transiently also
    /// during `park`, before the status changes).
    status: AtomicU8,
    slot: Mutex<Option<Box<F>>>,
}

impl<F> FsmState<F> {
    /// An idle machine.
    pub(crate) fn new(fsm: Box<F>) -> FsmState<F> {
        FsmState {
            status: AtomicU8::new(IDLE),
            slot: Mutex::new(Some(fsm)),
        }
    }

    /// Takes the machine if it was idle; the caller must then schedule it. At most one of any
    /// number of concurrent callers gets it.
    pub(crate) fn take_if_idle(&self) -> Option<Box<F>> {
        self.status
            .compare_exchange(IDLE, NOTIFIED, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        let fsm = self.slot.lock().take();
        debug_assert!(
            fsm.is_some(),
            "invariant: an idle machine is parked in its slot"
        );
        fsm
    }

    /// Parks a machine after its round. Gives it back if the mailbox was closed meanwhile (the
    /// caller drops it). After parking, the caller must look for messages that arrived before
    /// the status turned idle, whose senders saw it notified and did not schedule it.
    pub(crate) fn park(&self, fsm: Box<F>) -> Result<(), Box<F>> {
        *self.slot.lock() = Some(fsm);
        match self
            .status
            .compare_exchange(NOTIFIED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => Ok(()),
            Err(_) => Err(self
                .slot
                .lock()
                .take()
                .expect("invariant: the machine was parked just above")),
        }
    }

    /// Closes the state for good. Returns the machine if it was parked (to be dropped by the
    /// caller); a running machine is dropped by its poller when it tries to park it.
    pub(crate) fn close(&self) -> Option<Box<F>> {
        match self.status.swap(CLOSED, Ordering::SeqCst) {
            IDLE => self.slot.lock().take(),
            _ => None,
        }
    }

    /// Whether the state was closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.status.load(Ordering::SeqCst) == CLOSED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_taker_wins() {
        let state = FsmState::new(Box::new(7));
        assert_eq!(state.take_if_idle(), Some(Box::new(7)));
        assert_eq!(
            state.take_if_idle(),
            None,
            "a notified machine is not taken twice"
        );
        state.park(Box::new(8)).unwrap();
        assert_eq!(state.take_if_idle(), Some(Box::new(8)));
    }

    #[test]
    fn closing_an_idle_machine_hands_it_back() {
        let state = FsmState::new(Box::new(1));
        assert_eq!(state.close(), Some(Box::new(1)));
        assert!(state.is_closed());
        assert_eq!(state.take_if_idle(), None);
    }

    #[test]
    fn closing_a_running_machine_makes_its_park_fail() {
        let state = FsmState::new(Box::new(1));
        let fsm = state.take_if_idle().unwrap();
        assert_eq!(state.close(), None, "the poller holds the machine");
        assert_eq!(state.park(fsm), Err(Box::new(1)));
        assert_eq!(state.take_if_idle(), None);
    }
}
