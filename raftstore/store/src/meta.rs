//! [`StoreMeta`]: what a store knows about its regions, readable from any thread.
//!
//! Peers update it when their region or their leader changes; the client API reads it to route
//! a key to its region and the region to its leader without a round through the pollers.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;
use engine::Region;
use parking_lot::RwLock;

use crate::peer::lease::ReadDelegate;

/// A region as one store sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionInfo {
    /// The region (range, epoch, peers).
    pub region: Arc<Region>,
    /// The store of the leader this store's peer knows of.
    pub leader_store: Option<u64>,
}

/// The regions of one store, by start key.
///
/// Invariant: ranges of the map's regions do not overlap (a store holds one peer per region and
/// regions never overlap).
#[derive(Debug, Default)]
pub struct StoreMeta {
    regions: RwLock<Regions>,
    delegates: RwLock<HashMap<u64, Arc<ReadDelegate>>>,
    /// Other stores holding peers of this store's regions, with how many regions each shares:
    /// the store heartbeats go to these, without walking every region each tick.
    peer_stores: RwLock<HashMap<u64, usize>>,
}

/// Regions by id, and their ids by start key (every update is O(log n), with 100,000s of
/// regions changing leaders at once after a restart).
#[derive(Debug, Default)]
struct Regions {
    by_id: HashMap<u64, RegionInfo>,
    by_start: BTreeMap<Bytes, u64>,
}

impl StoreMeta {
    /// Records `region` (replacing the entry with its start key or id) and its leader.
    pub fn update(&self, region: &Arc<Region>, leader_store: Option<u64>) {
        let mut regions = self.regions.write();
        let Regions { by_id, by_start } = &mut *regions;
        if let Some(old) = by_id.remove(&region.id) {
            if by_start.get(&old.region.start_key) == Some(&region.id) {
                by_start.remove(&old.region.start_key);
            }
            self.count_stores(&old.region, false);
        }
        self.count_stores(region, true);
        if let Some(replaced) = by_start.insert(region.start_key.clone(), region.id)
            && replaced != region.id
            && let Some(old) = by_id.remove(&replaced)
        {
            // Another region started at the same key (it was merged or split away).
            self.count_stores(&old.region, false);
        }
        by_id.insert(
            region.id,
            RegionInfo {
                region: Arc::clone(region),
                leader_store,
            },
        );
    }

    /// Forgets region `region_id` (its peer was destroyed).
    pub fn remove(&self, region_id: u64) {
        let mut regions = self.regions.write();
        if let Some(old) = regions.by_id.remove(&region_id) {
            if regions.by_start.get(&old.region.start_key) == Some(&region_id) {
                regions.by_start.remove(&old.region.start_key);
            }
            self.count_stores(&old.region, false);
        }
        self.delegates.write().remove(&region_id);
    }

    /// The stores holding peers of this store's regions (this store among them).
    pub fn peer_stores(&self) -> Vec<u64> {
        let mut stores: Vec<u64> = self.peer_stores.read().keys().copied().collect();
        stores.sort_unstable();
        stores
    }

    fn count_stores(&self, region: &Region, add: bool) {
        let mut counts = self.peer_stores.write();
        for peer in &region.peers {
            let count = counts.entry(peer.store_id).or_insert(0);
            if add {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&peer.store_id);
                }
            }
        }
    }

    /// Publishes the read delegate of a region's peer.
    pub fn set_delegate(&self, region_id: u64, delegate: Arc<ReadDelegate>) {
        self.delegates.write().insert(region_id, delegate);
    }

    /// The read delegate of a region's peer.
    pub fn delegate(&self, region_id: u64) -> Option<Arc<ReadDelegate>> {
        self.delegates.read().get(&region_id).cloned()
    }

    /// The region holding `key`, if this store has it.
    pub fn region_for_key(&self, key: &[u8]) -> Option<RegionInfo> {
        let regions = self.regions.read();
        let (_, id) = regions
            .by_start
            .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
            .next_back()?;
        let info = regions.by_id.get(id)?;
        info.region.contains(key).then(|| info.clone())
    }

    /// The region with id `region_id`.
    pub fn region(&self, region_id: u64) -> Option<RegionInfo> {
        self.regions.read().by_id.get(&region_id).cloned()
    }

    /// Every region, by start key.
    pub fn regions(&self) -> Vec<RegionInfo> {
        let regions = self.regions.read();
        regions
            .by_start
            .values()
            .filter_map(|id| regions.by_id.get(id).cloned())
            .collect()
    }

    /// Up to `limit` region ids in key order from `from` (a start key), and the start key to
    /// continue from (empty once the end is reached, so a caller cycles through every region).
    pub fn region_ids_from(&self, from: &[u8], limit: usize) -> (Vec<u64>, Bytes) {
        let regions = self.regions.read();
        let mut range = regions
            .by_start
            .range::<[u8], _>((Bound::Included(from), Bound::Unbounded));
        let ids = range.by_ref().take(limit).map(|(_, id)| *id).collect();
        let next = range.next().map(|(key, _)| key.clone()).unwrap_or_default();
        (ids, next)
    }

    /// How many regions the store holds.
    pub fn len(&self) -> usize {
        self.regions.read().by_id.len()
    }

    /// Whether the store holds no region.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(id: u64, start: &'static [u8], end: &'static [u8]) -> Region {
        Region {
            id,
            start_key: Bytes::from_static(start),
            end_key: Bytes::from_static(end),
            ..Region::default()
        }
    }

    #[test]
    fn finds_the_region_of_a_key() {
        let meta = StoreMeta::default();
        meta.update(&Arc::new(region(1, b"", b"m")), Some(1));
        meta.update(&Arc::new(region(2, b"m", b"")), None);
        assert_eq!(meta.region_for_key(b"a").unwrap().region.id, 1);
        assert_eq!(meta.region_for_key(b"m").unwrap().region.id, 2);
        assert_eq!(meta.region_for_key(b"zz").unwrap().region.id, 2);
        assert_eq!(meta.region_for_key(b"a").unwrap().leader_store, Some(1));
    }

    #[test]
    fn a_gap_is_not_covered_and_updates_replace() {
        let meta = StoreMeta::default();
        meta.update(&Arc::new(region(1, b"a", b"c")), None);
        assert!(meta.region_for_key(b"d").is_none());
        assert!(meta.region_for_key(b"0").is_none());
        meta.update(&Arc::new(region(1, b"a", b"e")), Some(3));
        assert_eq!(meta.len(), 1);
        assert_eq!(meta.region_for_key(b"d").unwrap().leader_store, Some(3));
        assert_eq!(
            meta.peer_stores(),
            Vec::<u64>::new(),
            "these regions list no peers"
        );
        meta.remove(1);
        assert!(meta.is_empty());
    }

    #[test]
    fn peer_stores_follow_region_updates() {
        let meta = StoreMeta::default();
        let with_peers = |id, stores: &[u64]| Region {
            peers: stores
                .iter()
                .map(|&store_id| engine::Peer {
                    id: id * 10 + store_id,
                    store_id,
                    role: 0,
                })
                .collect(),
            ..region(id, b"", b"")
        };
        meta.update(&Arc::new(with_peers(1, &[1, 2, 3])), None);
        meta.update(
            &Arc::new(Region {
                start_key: Bytes::from_static(b"m"),
                ..with_peers(2, &[1, 4])
            }),
            None,
        );
        assert_eq!(meta.peer_stores(), vec![1, 2, 3, 4]);
        meta.update(&Arc::new(with_peers(1, &[1, 2, 5])), None);
        assert_eq!(
            meta.peer_stores(),
            vec![1, 2, 4, 5],
            "a moved replica leaves its store"
        );
        meta.remove(2);
        assert_eq!(meta.peer_stores(), vec![1, 2, 5]);
    }
}
