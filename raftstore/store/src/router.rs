//! The routers of a store: region id to the peer's mailbox (raft side) and to the region's apply
//! mailbox (apply side), each with a control mailbox for store-wide work.

use batch_system::Router;

use crate::apply::{ApplyControl, ApplyFsm};
use crate::peer::PeerFsm;
use crate::store_fsm::StoreFsm;

/// Region id to [`PeerFsm`]; control messages go to the [`StoreFsm`].
pub type RaftRouter<E> = Router<PeerFsm<E>, StoreFsm<E>>;

/// Region id to [`ApplyFsm`].
pub type ApplyRouter<E> = Router<ApplyFsm<E>, ApplyControl>;
