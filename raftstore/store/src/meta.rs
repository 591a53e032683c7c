//! [`StoreMeta`]: what a store knows about its regions, readable from any thread.
//!
//! Peers update it when their region or their leader changes; the client API reads it to route
//! a key to its region and the region to its leader without a round through the pollers.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use engine::Region;
use parking_lot::RwLock;

use crate::peer::lease::ReadDelegate;

/// A region as one store sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionInfo {
    /// The region (range, epoch, peers).
    pub region: Region,
    /// The store of the leader this store's peer knows of.
    pub leader_store: Option<u64>,
}

/// The regions of one store, by start key.
///
/// Invariant: ranges of the map's regions do not overlap (a store holds one peer per region and
/// regions never overlap).
#[derive(Debug, Default)]
pub struct StoreMeta {
    regions: RwLock<BTreeMap<Bytes, RegionInfo>>,
    delegates: RwLock<HashMap<u64, Arc<ReadDelegate>>>,
}

impl StoreMeta {
    /// Records `region` (replacing the entry with its start key or id) and its leader.
    pub fn update(&self, region: &Region, leader_store: Option<u64>) {
        let mut regions = self.regions.write();
        regions.retain(|_, info| info.region.id != region.id);
        regions.insert(
            region.start_key.clone(),
            RegionInfo {
                region: region.clone(),
                leader_store,
            },
        );
    }

    /// Forgets region `region_id` (its peer was destroyed).
    pub fn remove(&self, region_id: u64) {
        self.regions
            .write()
            .retain(|_, info| info.region.id != region_id);
        self.delegates.write().remove(&region_id);
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
        let (_, info) = regions
            .range::<[u8], _>((std::ops::Bound::Unbounded, std::ops::Bound::Included(key)))
            .next_back()?;
        info.region.contains(key).then(|| info.clone())
    }

    /// The region with id `region_id`.
    pub fn region(&self, region_id: u64) -> Option<RegionInfo> {
        self.regions
            .read()
            .values()
            .find(|info| info.region.id == region_id)
            .cloned()
    }

    /// Every region, by start key.
    pub fn regions(&self) -> Vec<RegionInfo> {
        self.regions.read().values().cloned().collect()
    }

    /// How many regions the store holds.
    pub fn len(&self) -> usize {
        self.regions.read().len()
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
        meta.update(&region(1, b"", b"m"), Some(1));
        meta.update(&region(2, b"m", b""), None);
        assert_eq!(meta.region_for_key(b"a").unwrap().region.id, 1);
        assert_eq!(meta.region_for_key(b"m").unwrap().region.id, 2);
        assert_eq!(meta.region_for_key(b"zz").unwrap().region.id, 2);
        assert_eq!(meta.region_for_key(b"a").unwrap().leader_store, Some(1));
    }

    #[test]
    fn a_gap_is_not_covered_and_updates_replace() {
        let meta = StoreMeta::default();
        meta.update(&region(1, b"a", b"c"), None);
        assert!(meta.region_for_key(b"d").is_none());
        assert!(meta.region_for_key(b"0").is_none());
        meta.update(&region(1, b"a", b"e"), Some(3));
        assert_eq!(meta.len(), 1);
        assert_eq!(meta.region_for_key(b"d").unwrap().leader_store, Some(3));
        meta.remove(1);
        assert!(meta.is_empty());
    }
}
