//! [`Client`]: the API applications call, routing by key with a region cache.
//!
//! ```text
//! put(k, v) ─► region cache: region holding k, its leader's store ─► store ─► answer
//!    ▲                                                                  │
//!    └── NotLeader{leader} / EpochNotMatch / RegionNotFound: refresh, retry (bounded, backoff)
//! ```
//!
//! Every call returns a future that needs no particular executor (a oneshot channel and a timer
//! thread); each has a blocking version. A retry happens only on errors that guarantee the
//! request had no effect; `Timeout` and `OutcomeUnknown` reach the caller.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{Peer, PeerRole, Region, RegionEpoch};
use futures_timer::Delay;
use parking_lot::{Mutex, RwLock};

use crate::cmd::{ChangePeers, CmdHeader, Mutation, PeerChange};
use crate::error::{Error, Result};
use crate::message::{AdminRequest, Callback, RegionRequest, Request, Response};
use crate::meta::RegionInfo;
use crate::node::StoreHandle;

/// How a client retries.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The longest a call may take in total.
    pub timeout: Duration,
    /// The first backoff after an error without a leader hint; doubles up to `max_backoff`.
    pub backoff: Duration,
    /// The longest backoff.
    pub max_backoff: Duration,
}

impl Default for ClientConfig {
    fn default() -> ClientConfig {
        ClientConfig {
            timeout: Duration::from_secs(10),
            backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(200),
        }
    }
}

/// A client of a cluster. Cheap to clone; clones share the region cache.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    stores: RwLock<HashMap<u64, StoreHandle>>,
    /// Region by start key, with the leader's store as last seen.
    cache: Mutex<BTreeMap<Bytes, RegionInfo>>,
    /// Spreads guesses over a region's stores when its leader is unknown.
    next_pick: AtomicUsize,
}

impl Client {
    /// A client reaching `stores`.
    pub fn new(stores: Vec<StoreHandle>, cfg: ClientConfig) -> Client {
        let stores = stores.into_iter().map(|s| (s.store_id(), s)).collect();
        Client {
            inner: Arc::new(Inner {
                cfg,
                stores: RwLock::new(stores),
                cache: Mutex::new(BTreeMap::new()),
                next_pick: AtomicUsize::new(0),
            }),
        }
    }

    /// Adds or replaces a store (a restarted one).
    pub fn add_store(&self, store: StoreHandle) {
        self.inner.stores.write().insert(store.store_id(), store);
    }

    /// Forgets a store (stopped for good or for a while).
    pub fn remove_store(&self, store_id: u64) {
        self.inner.stores.write().remove(&store_id);
    }

    /// Sets `key` to `value`.
    pub async fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        self.write(vec![Mutation::put(key, value)]).await
    }

    /// Removes `key`.
    pub async fn delete(&self, key: impl Into<Bytes>) -> Result<()> {
        self.write(vec![Mutation::delete(key)]).await
    }

    /// Applies `mutations` atomically; they must all fall in one region.
    pub async fn write(&self, mutations: Vec<Mutation>) -> Result<()> {
        let Some(first) = mutations.first() else {
            return Err(Error::InvalidRequest("a write with no mutation".into()));
        };
        let key = first.key.clone();
        match self.call(&key, Request::Write(mutations)).await? {
            Response::Written => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// The value of `key` (linearizable).
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>> {
        let key = key.into();
        match self.call(&key.clone(), Request::Get(key)).await? {
            Response::Value(value) => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// Up to `limit` pairs with keys in `[start, end)` (end empty: no bound), in key order,
    /// across regions; each region's part is linearizable.
    pub async fn scan(
        &self,
        start: impl Into<Bytes>,
        end: impl Into<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        let (mut start, end) = (start.into(), end.into());
        let mut out = Vec::new();
        while out.len() < limit {
            let region = self.locate(&start)?.region;
            let region_end = region.end_key.clone();
            let part_end = if !region_end.is_empty() && (end.is_empty() || end > region_end) {
                region_end.clone()
            } else {
                end.clone()
            };
            let request = Request::Scan {
                start: start.clone(),
                end: part_end,
                limit: limit - out.len(),
            };
            match self.call(&start, request).await? {
                Response::Pairs(pairs) => out.extend(pairs),
                other => return Err(unexpected(&other)),
            }
            if region_end.is_empty() || (!end.is_empty() && end <= region_end) {
                break;
            }
            start = region_end;
        }
        Ok(out)
    }

    /// Every region, as the stores know them (deduplicated by id, newest epoch first).
    pub fn regions(&self) -> Vec<RegionInfo> {
        let mut by_id: BTreeMap<u64, RegionInfo> = BTreeMap::new();
        for store in self.inner.stores.read().values() {
            for info in store.regions() {
                if by_id
                    .get(&info.region.id)
                    .is_none_or(|known| fresher(&info, known))
                {
                    by_id.insert(info.region.id, info);
                }
            }
        }
        by_id.into_values().collect()
    }

    /// The region holding `key`.
    pub fn region_for_key(&self, key: &[u8]) -> Result<RegionInfo> {
        self.locate(key)
    }

    /// Region `region_id`, as the freshest store knows it (one lookup per store, not a walk
    /// over every region).
    pub fn region(&self, region_id: u64) -> Result<RegionInfo> {
        self.inner
            .stores
            .read()
            .values()
            .filter_map(|s| s.region(region_id))
            .reduce(|a, b| if fresher(&b, &a) { b } else { a })
            .ok_or(Error::RegionNotFound {
                region_id,
                store_id: 0,
            })
    }

    /// Hands the leadership of `region_id` to its peer on `to_store`.
    pub async fn transfer_leader(&self, region_id: u64, to_store: u64) -> Result<()> {
        self.admin(region_id, || AdminRequest::TransferLeader { to_store })
            .await
            .map(|_| ())
    }

    /// Changes the membership of `region_id` (several changes: one joint step).
    pub async fn change_peers(&self, region_id: u64, changes: Vec<PeerChange>) -> Result<()> {
        self.admin(region_id, || {
            AdminRequest::ChangePeers(ChangePeers {
                header: None,
                changes: changes.clone(),
            })
        })
        .await
        .map(|_| ())
    }

    /// Moves region `region_id`'s replica from `from_store` to `to` (a new peer on another
    /// store), keeping the replica count: add `to` as a learner, wait until it holds the region
    /// (a snapshot caught it up), then in one joint step promote it and demote the old voter,
    /// and finally remove the old peer.
    pub async fn move_replica(&self, region_id: u64, from_store: u64, to: Peer) -> Result<()> {
        let old = self
            .region(region_id)?
            .region
            .peers
            .iter()
            .find(|p| p.store_id == from_store)
            .cloned()
            .ok_or_else(|| Error::InvalidRequest(format!("no peer on store {from_store}")))?;
        let learner = Peer {
            role: PeerRole::Learner as i32,
            ..to.clone()
        };
        self.change_peers(region_id, vec![PeerChange::add_learner(learner)])
            .await?;
        self.wait_for("the new replica to hold the region", || {
            self.inner
                .stores
                .read()
                .get(&to.store_id)
                .and_then(|s| s.region(region_id))
                .is_some()
        })
        .await?;
        self.change_peers(
            region_id,
            vec![
                PeerChange::add_voter(to.clone()),
                PeerChange::add_learner(old.clone()),
            ],
        )
        .await?;
        self.wait_for("the joint configuration to be left", || {
            self.region(region_id).is_ok_and(|info| {
                info.region
                    .peers
                    .iter()
                    .all(|p| !matches!(p.role(), PeerRole::IncomingVoter | PeerRole::DemotingVoter))
            })
        })
        .await?;
        self.change_peers(region_id, vec![PeerChange::remove(old)])
            .await
    }

    async fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) -> Result<()> {
        let deadline = Instant::now() + self.inner.cfg.timeout;
        let mut backoff = self.inner.cfg.backoff;
        while !done() {
            if Instant::now() > deadline {
                tracing::warn!(what, "gave up waiting");
                return Err(Error::Timeout);
            }
            Delay::new(backoff).await;
            backoff = (backoff * 2).min(self.inner.cfg.max_backoff);
        }
        Ok(())
    }

    /// [`Client::move_replica`], blocking.
    pub fn move_replica_blocking(&self, region_id: u64, from_store: u64, to: Peer) -> Result<()> {
        futures_executor::block_on(self.move_replica(region_id, from_store, to))
    }

    /// [`Client::put`], blocking.
    pub fn put_blocking(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        futures_executor::block_on(self.put(key, value))
    }

    /// [`Client::get`], blocking.
    pub fn get_blocking(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>> {
        futures_executor::block_on(self.get(key))
    }

    /// [`Client::delete`], blocking.
    pub fn delete_blocking(&self, key: impl Into<Bytes>) -> Result<()> {
        futures_executor::block_on(self.delete(key))
    }

    /// [`Client::scan`], blocking.
    pub fn scan_blocking(
        &self,
        start: impl Into<Bytes>,
        end: impl Into<Bytes>,
        limit: usize,
    ) -> Result<Vec<(Bytes, Bytes)>> {
        futures_executor::block_on(self.scan(start, end, limit))
    }

    /// [`Client::write`], blocking.
    pub fn write_blocking(&self, mutations: Vec<Mutation>) -> Result<()> {
        futures_executor::block_on(self.write(mutations))
    }

    /// [`Client::transfer_leader`], blocking.
    pub fn transfer_leader_blocking(&self, region_id: u64, to_store: u64) -> Result<()> {
        futures_executor::block_on(self.transfer_leader(region_id, to_store))
    }

    /// [`Client::change_peers`], blocking.
    pub fn change_peers_blocking(&self, region_id: u64, changes: Vec<PeerChange>) -> Result<()> {
        futures_executor::block_on(self.change_peers(region_id, changes))
    }

    /// Sends `request` for `key` to its region's leader, retrying where that is safe.
    async fn call(&self, key: &[u8], request: Request) -> Result<Response> {
        let deadline = Instant::now() + self.inner.cfg.timeout;
        let mut backoff = self.inner.cfg.backoff;
        loop {
            let info = self.locate(key)?;
            let store = self.pick_store(&info)?;
            let (callback, rx) = Callback::new();
            store.request(RegionRequest {
                header: header_of(&info.region),
                request: request.clone(),
                deadline,
                callback,
            });
            let result = rx.await.unwrap_or(Err(Error::Timeout));
            match result {
                Err(err) if err.is_retryable() && Instant::now() < deadline => {
                    let hinted = self.learn(&info, store.store_id(), &err);
                    if !hinted {
                        Delay::new(backoff).await;
                        backoff = (backoff * 2).min(self.inner.cfg.max_backoff);
                    }
                }
                Err(err) if err.is_retryable() => return Err(Error::Timeout),
                other => return other,
            }
        }
    }

    async fn admin(&self, region_id: u64, make: impl Fn() -> AdminRequest) -> Result<Response> {
        let deadline = Instant::now() + self.inner.cfg.timeout;
        let mut backoff = self.inner.cfg.backoff;
        loop {
            let info = self.region(region_id)?;
            let store = self.pick_store(&info)?;
            let (callback, rx) = Callback::new();
            store.admin(region_id, header_of(&info.region), make(), callback);
            match rx.await.unwrap_or(Err(Error::Timeout)) {
                Err(err) if err.is_retryable() && Instant::now() < deadline => {
                    self.learn(&info, store.store_id(), &err);
                    Delay::new(backoff).await;
                    backoff = (backoff * 2).min(self.inner.cfg.max_backoff);
                }
                other => return other,
            }
        }
    }

    /// The cached region of `key`, or the freshest any store knows.
    fn locate(&self, key: &[u8]) -> Result<RegionInfo> {
        if let Some(info) = self.cached(key) {
            return Ok(info);
        }
        let best = self
            .inner
            .stores
            .read()
            .values()
            .filter_map(|s| s.region_for_key(key))
            .reduce(|a, b| if fresher(&b, &a) { b } else { a })
            .ok_or_else(|| Error::InvalidRequest(format!("no store holds key {key:02x?}")))?;
        self.remember(best.clone());
        Ok(best)
    }

    fn cached(&self, key: &[u8]) -> Option<RegionInfo> {
        let cache = self.inner.cache.lock();
        let (_, info) = cache
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()?;
        info.region.contains(key).then(|| info.clone())
    }

    fn remember(&self, info: RegionInfo) {
        let mut cache = self.inner.cache.lock();
        cache.retain(|_, known| known.region.id != info.region.id);
        cache.insert(info.region.start_key.clone(), info);
    }

    fn forget(&self, region_id: u64) {
        self.inner
            .cache
            .lock()
            .retain(|_, known| known.region.id != region_id);
    }

    /// The store to ask: the leader's if known, else one holding a peer (round robin by time).
    fn pick_store(&self, info: &RegionInfo) -> Result<StoreHandle> {
        let stores = self.inner.stores.read();
        if let Some(store) = info.leader_store.and_then(|id| stores.get(&id)) {
            return Ok(Arc::clone(store));
        }
        let candidates: Vec<&StoreHandle> = info
            .region
            .peers
            .iter()
            .filter_map(|p| stores.get(&p.store_id))
            .collect();
        if candidates.is_empty() {
            return Err(Error::RegionNotFound {
                region_id: info.region.id,
                store_id: 0,
            });
        }
        let pick = self.inner.next_pick.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::clone(candidates[pick % candidates.len()]))
    }

    /// Updates the cache from an error; returns whether it named where to go next.
    fn learn(&self, info: &RegionInfo, asked_store: u64, err: &Error) -> bool {
        match err {
            Error::NotLeader {
                leader: Some(leader),
                ..
            } if *leader != asked_store => {
                let mut next = info.clone();
                next.leader_store = Some(*leader);
                self.remember(next);
                true
            }
            Error::EpochNotMatch { current, .. } => {
                self.forget(current.id);
                false
            }
            _ => {
                // No hint: ask the stores afresh after the backoff.
                self.forget(info.region.id);
                false
            }
        }
    }
}

fn header_of(region: &Region) -> CmdHeader {
    CmdHeader {
        region_id: region.id,
        epoch: region.epoch,
    }
}

/// Whether `candidate` is a better view of a region than `known`: a newer epoch, or the same
/// epoch with a leader where `known` has none. (An older epoch never wins, leader or not.)
fn fresher(candidate: &RegionInfo, known: &RegionInfo) -> bool {
    let epoch = |info: &RegionInfo| {
        let e: RegionEpoch = info.region.epoch.unwrap_or_default();
        (e.version, e.conf_ver)
    };
    match epoch(candidate).cmp(&epoch(known)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => {
            known.leader_store.is_none() && candidate.leader_store.is_some()
        }
        std::cmp::Ordering::Less => false,
    }
}

fn unexpected(response: &Response) -> Error {
    Error::InvalidRequest(format!("unexpected response {response:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(conf_ver: u64, leader_store: Option<u64>) -> RegionInfo {
        RegionInfo {
            region: Arc::new(Region {
                id: 1,
                epoch: Some(RegionEpoch {
                    conf_ver,
                    version: 1,
                }),
                ..Region::default()
            }),
            leader_store,
        }
    }

    #[test]
    fn a_newer_epoch_wins_and_an_older_one_never_does() {
        assert!(fresher(&info(3, None), &info(2, Some(1))));
        assert!(
            !fresher(&info(2, Some(1)), &info(3, None)),
            "a stale view with a leader must not replace a newer one"
        );
        assert!(fresher(&info(3, Some(2)), &info(3, None)));
        assert!(!fresher(&info(3, None), &info(3, Some(2))));
    }
}
