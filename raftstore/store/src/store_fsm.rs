//! [`StoreFsm`]: store-wide work on the raft pollers (the control FSM of the raft batch system).

use std::marker::PhantomData;

use batch_system::Fsm;
use engine::KvEngine;
use tracing::debug;

use crate::message::StoreMsg;
use crate::poll::PollContext;

/// The store's control machine.
pub struct StoreFsm<E: KvEngine> {
    store_id: u64,
    _engine: PhantomData<E>,
}

impl<E: KvEngine> Fsm for StoreFsm<E> {
    type Message = StoreMsg;
}

impl<E: KvEngine> StoreFsm<E> {
    /// The control machine of store `store_id`.
    pub fn new(store_id: u64) -> StoreFsm<E> {
        StoreFsm {
            store_id,
            _engine: PhantomData,
        }
    }

    /// Handles store-wide messages.
    pub fn handle(&mut self, msgs: &mut Vec<StoreMsg>, _ctx: &mut PollContext<E>) {
        for msg in msgs.drain(..) {
            match msg {
                StoreMsg::RaftToCreate(msg) => {
                    // Creating peers from messages lands with membership changes to new stores.
                    debug!(
                        store = self.store_id,
                        region = msg.region_id,
                        "message for a region without a peer here dropped"
                    );
                }
                StoreMsg::Tick => {}
            }
        }
    }
}
