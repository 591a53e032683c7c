//! Flotilla's batch system: thousands of finite-state machines (one per region) multiplexed
//! over a few poller threads.
//!
//! Every machine ([`Fsm`]) has a [`Mailbox`]: a channel plus a parking slot. Sending to an idle
//! mailbox schedules its machine exactly once onto a shared queue; pollers take machines from the
//! queue in batches, hand each its pending messages (at most `messages_per_tick` per round), let
//! the handler do the batch's shared work in `end` (one write task, one flush of messages), and
//! park the machines again. A machine with messages left goes to the back of the queue, so a busy
//! region cannot starve the others.
//!
//! ```text
//!   Router ──send(id, msg)──► Mailbox ──(idle → notified)──► queue ──► Poller: begin
//!                                ▲                                        handle_normal × batch
//!                                └──────── release (park, or requeue) ◄── end
//! ```
//!
//! # Module map
//!
//! | module | owns |
//! | --- | --- |
//! | [`fsm`] | the [`Fsm`] trait and the idle / notified / closed state of a machine |
//! | [`mailbox`] | [`Mailbox`]: bounded sends, wake-ups, parking |
//! | [`router`] | [`Router`]: region id to mailbox (sharded, no global lock), the control mailbox |
//! | [`poller`] | [`PollHandler`] and the poll loop |
//! | [`system`] | [`BatchSystem`]: starting and stopping the pollers |
//! | [`config`] | [`Config`] and its validation |
//! | [`errors`] | [`SendError`], [`Error`] |

pub mod config;
pub mod errors;
pub mod fsm;
pub mod mailbox;
pub mod poller;
pub mod router;
pub mod system;

pub use config::Config;
pub use errors::{Error, SendError};
pub use fsm::Fsm;
pub use mailbox::Mailbox;
pub use poller::PollHandler;
pub use router::Router;
pub use system::BatchSystem;
