//! [`LocalCluster`]: several stores in one process over the in-process transport, each on its
//! own engine, with regions bootstrapped by splitting the key space up front (until split lands).
//!
//! Tests and the `store` benchmark use it. Stopping a store without a clean shutdown and
//! reopening it on its (crashed) engine models kill -9.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::{KvEngine, Peer, PeerRole, Region, RegionEpoch};

use crate::client::{Client, ClientConfig};
use crate::config::StoreConfig;
use crate::error::{Error, Result};
use crate::node::{Node, StoreHandle, bootstrap};
use crate::transport::Transport;
use crate::transport::local::LocalTransport;

/// The peer id of region `region_id`'s replica on store `store_id` in a bootstrapped cluster.
pub fn bootstrap_peer_id(region_id: u64, store_id: u64) -> u64 {
    (region_id << 8) | store_id
}

/// The start key of region `i` (0-based) of `count` bootstrapped regions: the key space is cut
/// evenly over its first four bytes, so uniformly random keys spread evenly over the regions and
/// up to 2^32 regions get distinct keys.
pub fn split_key(i: u64, count: u64) -> Bytes {
    let v = ((u128::from(i) << 32) / u128::from(count.max(1))) as u32;
    Bytes::copy_from_slice(&v.to_be_bytes())
}

/// `count` regions covering the whole key space, each with a voter on every store of `stores`.
pub fn bootstrap_regions(count: u64, stores: &[u64]) -> Vec<Region> {
    (0..count)
        .map(|i| {
            let id = i + 1;
            debug_assert!(i == 0 || split_key(i, count) > split_key(i - 1, count));
            Region {
                id,
                start_key: if i == 0 {
                    Bytes::new()
                } else {
                    split_key(i, count)
                },
                end_key: if i + 1 == count {
                    Bytes::new()
                } else {
                    split_key(i + 1, count)
                },
                epoch: Some(RegionEpoch {
                    conf_ver: 1,
                    version: 1,
                }),
                peers: stores
                    .iter()
                    .map(|&store_id| Peer {
                        id: bootstrap_peer_id(id, store_id),
                        store_id,
                        role: PeerRole::Voter as i32,
                    })
                    .collect(),
            }
        })
        .collect()
}

impl<E: KvEngine> Drop for LocalCluster<E> {
    /// Stops every running store, so that their engines are closed once the caller drops its
    /// own handles (the transport's sinks would otherwise keep the stores' peers alive).
    fn drop(&mut self) {
        for store_id in 1..=self.nodes.len() as u64 {
            self.stop(store_id);
        }
    }
}

/// The pause before checking a condition on the whole cluster again, after a check that took
/// `check_took`: ten times as long (at least `floor`), so that watching a cluster of many
/// regions does not starve the stores being watched.
pub fn poll_pause(check_took: Duration, floor: Duration) -> Duration {
    floor.max(check_took * 10)
}

/// Stores in one process.
pub struct LocalCluster<E: KvEngine> {
    /// The network between the stores.
    pub transport: LocalTransport,
    /// Every store's engine; `None` only inside [`LocalCluster::reopen_engine`].
    engines: Vec<Option<E>>,
    nodes: Vec<Option<Node<E>>>,
    cfg: StoreConfig,
    client: Client,
}

impl<E: KvEngine> LocalCluster<E> {
    /// Bootstraps `regions` regions on `engines.len()` stores (ids 1..=n) and starts them.
    pub fn start(cfg: &StoreConfig, engines: Vec<E>, regions: u64) -> Result<LocalCluster<E>> {
        let store_ids: Vec<u64> = (1..=engines.len() as u64).collect();
        let layout = bootstrap_regions(regions, &store_ids);
        for engine in &engines {
            bootstrap(engine, &layout)?;
        }
        LocalCluster::recover(cfg, engines)
    }

    /// Starts stores (ids 1..=n) on engines that already hold their regions: the whole cluster
    /// restarting, after a clean stop or a kill -9. Every peer is rebuilt from its engine.
    pub fn recover(cfg: &StoreConfig, engines: Vec<E>) -> Result<LocalCluster<E>> {
        let store_ids: Vec<u64> = (1..=engines.len() as u64).collect();
        let transport = LocalTransport::new(cfg.store_id);
        let mut cluster = LocalCluster {
            transport,
            engines: engines.into_iter().map(Some).collect(),
            nodes: Vec::new(),
            cfg: cfg.clone(),
            client: Client::new(Vec::new(), ClientConfig::default()),
        };
        for store_id in store_ids {
            let node = cluster.open(store_id)?;
            cluster.nodes.push(Some(node));
        }
        Ok(cluster)
    }

    fn open(&self, store_id: u64) -> Result<Node<E>> {
        let cfg = StoreConfig {
            store_id,
            ..self.cfg.clone()
        };
        let engine = self.engine(store_id).clone();
        let transport: Arc<dyn Transport> = Arc::new(self.transport.clone());
        let node = Node::start(cfg, engine, &transport)?;
        self.transport.register(store_id, node.sink());
        self.client.add_store(node.handle());
        Ok(node)
    }

    /// Starts a new store with no region on `engine`; returns its id.
    pub fn add_store(&mut self, engine: E) -> Result<u64> {
        self.engines.push(Some(engine));
        let store_id = self.engines.len() as u64;
        let node = self.open(store_id)?;
        self.nodes.push(Some(node));
        Ok(store_id)
    }

    /// A client of the cluster (clones share one region cache).
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A client with its own configuration and cache.
    pub fn new_client(&self, cfg: ClientConfig) -> Client {
        Client::new(self.handles(), cfg)
    }

    /// The handles of the running stores.
    pub fn handles(&self) -> Vec<StoreHandle> {
        self.nodes.iter().flatten().map(Node::handle).collect()
    }

    /// The running node of `store_id`.
    pub fn node(&self, store_id: u64) -> Option<&Node<E>> {
        self.nodes.get((store_id - 1) as usize)?.as_ref()
    }

    /// The engine of `store_id`.
    ///
    /// # Panics
    ///
    /// If `store_id` is not a store of the cluster.
    pub fn engine(&self, store_id: u64) -> &E {
        self.engines[(store_id - 1) as usize]
            .as_ref()
            .expect("invariant: an engine is missing only inside reopen_engine")
    }

    /// Replaces the engine of a stopped store (a crashed copy).
    pub fn set_engine(&mut self, store_id: u64, engine: E) {
        self.engines[(store_id - 1) as usize] = Some(engine);
    }

    /// Replaces the engine of a stopped store with what `open` returns, called after the old
    /// handle is dropped (a database that locks its directory can then be opened again).
    pub fn reopen_engine(&mut self, store_id: u64, open: impl FnOnce() -> E) {
        let slot = &mut self.engines[(store_id - 1) as usize];
        drop(slot.take());
        *slot = Some(open());
    }

    /// Stops `store_id`: it leaves the network, then its threads stop.
    pub fn stop(&mut self, store_id: u64) {
        self.transport.unregister(store_id);
        self.client.remove_store(store_id);
        if let Some(node) = self.nodes[(store_id - 1) as usize].take() {
            node.stop();
        }
    }

    /// Starts `store_id` again on its engine.
    pub fn restart(&mut self, store_id: u64) -> Result<()> {
        let node = self.open(store_id)?;
        self.nodes[(store_id - 1) as usize] = Some(node);
        Ok(())
    }

    /// Campaigns region `i` on store `1 + i % stores` so leaders spread evenly, then waits until
    /// every region has a leader known to a client, or `timeout`.
    pub fn elect_spread(&self, timeout: Duration) -> Result<()> {
        self.campaign_spread();
        self.wait_leaders(timeout)
    }

    /// Asks the store that should lead each region (region id modulo the running stores) to
    /// campaign, without waiting for the outcome.
    pub fn campaign_spread(&self) {
        let running: Vec<&Node<E>> = self.nodes.iter().flatten().collect();
        for info in self.client.regions() {
            let node = running[(info.region.id as usize) % running.len()];
            node.campaign(info.region.id);
        }
    }

    /// How many regions have no leader on a running store, as far as the client knows, out of
    /// how many regions.
    ///
    /// This walks every region of every store: with 100,000 regions it costs a good part of
    /// a second of CPU, so callers poll it sparingly.
    pub fn leaderless(&self) -> (usize, usize) {
        let regions = self.client.regions();
        let missing = regions
            .iter()
            .filter(|i| i.leader_store.is_none_or(|s| self.node(s).is_none()))
            .count();
        (missing, regions.len())
    }

    /// Waits until every region has a leader on a running store.
    ///
    /// Polls with pauses ten times as long as a check takes, so that watching a cluster of many
    /// regions does not starve the stores it waits for.
    pub fn wait_leaders(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let checked = Instant::now();
            let (missing, regions) = self.leaderless();
            if missing == 0 && regions > 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Timeout);
            }
            std::thread::sleep(poll_pause(checked.elapsed(), Duration::from_millis(50)));
        }
    }
}
