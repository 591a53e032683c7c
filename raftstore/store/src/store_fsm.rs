//! [`StoreFsm`]: store-wide work on the raft pollers (the control FSM of the raft batch system).

use std::marker::PhantomData;

use std::sync::Arc;

use batch_system::Fsm;
use engine::{ApplyState, KvEngine, KvReader, PeerState, Region, RegionId};
use raft::raftpb::MessageType;
use tracing::{debug, info, warn};

use crate::apply::ApplyFsm;
use crate::message::{PeerMsg, RaftMessage, StoreMsg};
use crate::peer::PeerFsm;
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
    pub fn handle(&mut self, msgs: &mut Vec<StoreMsg>, ctx: &mut PollContext<E>) {
        for msg in msgs.drain(..) {
            match msg {
                StoreMsg::RaftToCreate(msg) => self.maybe_create_peer(*msg, ctx),
                StoreMsg::Tick => {}
            }
        }
    }

    /// A message reached this store for a region it has no running peer of: create the peer
    /// if the message comes from a member of a newer configuration than any tombstone here.
    ///
    /// Only a leader's messages create peers (a vote request from a stale peer must not), and
    /// never for a region this store left at the same or a later configuration.
    fn maybe_create_peer(&mut self, msg: RaftMessage, ctx: &mut PollContext<E>) {
        let region_id = msg.region_id;
        let Some(to) = msg.to_peer.clone().filter(|p| p.store_id == self.store_id) else {
            return;
        };
        let from_leader = msg.message.as_ref().is_some_and(|m| {
            matches!(
                m.kind(),
                MessageType::MsgApp | MessageType::MsgHeartbeat | MessageType::MsgSnap
            )
        });
        if !from_leader || ctx.store.raft_router.mailbox(region_id).is_some() {
            return;
        }
        match ctx.store.engine.region_state(RegionId(region_id)) {
            Ok(Some(state)) if state.state() == PeerState::Tombstone => {
                let gone = state.region.and_then(|r| r.epoch).unwrap_or_default();
                if msg.epoch.unwrap_or_default().conf_ver <= gone.conf_ver {
                    debug!(region = region_id, "message for a removed peer dropped");
                    return;
                }
            }
            Ok(Some(state)) if state.state() == PeerState::Normal => return,
            Ok(_) => {}
            Err(err) => {
                warn!(region = region_id, %err, "cannot read region state");
                return;
            }
        }
        let region = Region {
            id: region_id,
            start_key: msg.start_key.clone(),
            end_key: msg.end_key.clone(),
            epoch: None,
            peers: Vec::new(),
        };
        let store = &ctx.store;
        let peer = match PeerFsm::create(
            &store.cfg,
            store.engine.clone(),
            region.clone(),
            to,
            Arc::clone(&store.cache_budget),
        ) {
            Ok(peer) => peer,
            Err(err) => {
                warn!(region = region_id, %err, "cannot create peer");
                return;
            }
        };
        let apply = ApplyFsm::new(region, ApplyState::default());
        if store
            .apply_router
            .register(region_id, Box::new(apply))
            .is_err()
            || store
                .raft_router
                .register(region_id, Box::new(peer))
                .is_err()
        {
            return;
        }
        info!(
            store = self.store_id,
            region = region_id,
            "peer created for a new member"
        );
        let _ = store
            .raft_router
            .force_send(region_id, PeerMsg::Raft(Box::new(msg)));
    }
}
