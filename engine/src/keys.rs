//! The on-disk key layout (DESIGN.md section 2; diagrams in `docs/engine.md`).
//!
//! ```text
//! CF       key                                   value
//! raft     region_id (8B BE) . index (8B BE)     Entry
//! raft     region_id (8B BE) . 0x01              RaftLocalState (hard state, last index/term)
//! meta     region_id (8B BE)                     RegionLocalState
//! meta     region_id (8B BE) . 0x02              ApplyState
//! default  'z' . user key                        user value
//! ```
//!
//! Big-endian ids and indexes sort numerically, so one region's log is one contiguous range and
//! a range delete removes a prefix of it. A log key's ninth byte is the index's top byte, which is
//! 0 for every index below 2^56 - 1, so the state key `region_id . 0x01` sorts after the whole log.
//! User keys carry a one-byte prefix so that the data range of the whole key space is bounded on
//! both sides and leaves room for other kinds of keys in `default`.

use crate::types::RegionId;

/// The prefix of every user key in the `default` column family.
pub const DATA_PREFIX: u8 = b'z';
/// The suffix of the raft state key in the `raft` column family.
pub const RAFT_STATE_SUFFIX: u8 = 0x01;
/// The suffix of the apply state key in the `meta` column family.
pub const APPLY_STATE_SUFFIX: u8 = 0x02;
/// Log indexes stay below this bound so that log keys sort before the raft state key; the key
/// of the bound itself (`region . 00 ff .. ff`) ends every log range.
pub const LOG_INDEX_LIMIT: u64 = (1 << 56) - 1;

/// The key of the entry at `index` of `region`'s log.
pub fn raft_log_key(region: RegionId, index: u64) -> [u8; 16] {
    debug_assert!(index < LOG_INDEX_LIMIT, "log index {index} too large");
    log_key_unchecked(region, index)
}

fn log_key_unchecked(region: RegionId, index: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&region.0.to_be_bytes());
    key[8..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The key of `region`'s [`crate::RaftLocalState`].
pub fn raft_state_key(region: RegionId) -> [u8; 9] {
    suffixed(region, RAFT_STATE_SUFFIX)
}

/// The key of `region`'s [`crate::RegionLocalState`].
pub fn region_state_key(region: RegionId) -> [u8; 8] {
    region.0.to_be_bytes()
}

/// The key of `region`'s [`crate::ApplyState`].
pub fn apply_state_key(region: RegionId) -> [u8; 9] {
    suffixed(region, APPLY_STATE_SUFFIX)
}

/// Splits a `raft` CF key into its region and log index; `None` for a state key.
pub fn decode_raft_log_key(key: &[u8]) -> Option<(RegionId, u64)> {
    let region = u64::from_be_bytes(key.get(..8)?.try_into().ok()?);
    let index = u64::from_be_bytes(key.get(8..16)?.try_into().ok()?);
    (key.len() == 16).then_some((RegionId(region), index))
}

/// The region of a `meta` CF region state key (eight bytes); `None` for any other key.
pub fn decode_region_state_key(key: &[u8]) -> Option<RegionId> {
    let bytes: [u8; 8] = key.try_into().ok()?;
    Some(RegionId(u64::from_be_bytes(bytes)))
}

/// The stored form of a user key.
pub fn data_key(user_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(user_key.len() + 1);
    key.push(DATA_PREFIX);
    key.extend_from_slice(user_key);
    key
}

/// The user key of a stored data key, or `None` if `key` is not a data key.
pub fn user_key(key: &[u8]) -> Option<&[u8]> {
    match key.split_first() {
        Some((&DATA_PREFIX, rest)) => Some(rest),
        _ => None,
    }
}

/// The stored range `[start, end)` of user keys `[start_key, end_key)`; an empty `end_key` is
/// +inf and maps to the end of the data prefix.
pub fn data_range(start_key: &[u8], end_key: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let end = if end_key.is_empty() {
        vec![DATA_PREFIX + 1]
    } else {
        data_key(end_key)
    };
    (data_key(start_key), end)
}

/// The `raft` CF range holding every log entry of `region` with index in `[lo, hi)`.
pub fn raft_log_range(region: RegionId, lo: u64, hi: u64) -> ([u8; 16], [u8; 16]) {
    let clamp = |index: u64| index.min(LOG_INDEX_LIMIT);
    (
        log_key_unchecked(region, clamp(lo)),
        log_key_unchecked(region, clamp(hi)),
    )
}

fn suffixed(region: RegionId, suffix: u8) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[..8].copy_from_slice(&region.0.to_be_bytes());
    key[8] = suffix;
    key
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn data_keys_preserve_order(a in prop::collection::vec(any::<u8>(), 0..8),
                                    b in prop::collection::vec(any::<u8>(), 0..8)) {
            prop_assert_eq!(a.cmp(&b), data_key(&a).cmp(&data_key(&b)));
            let stored = data_key(&a);
            prop_assert_eq!(user_key(&stored), Some(&a[..]));
        }

        #[test]
        fn log_keys_sort_by_region_then_index(r1 in 0u64..1000, i1 in 0u64..LOG_INDEX_LIMIT,
                                              r2 in 0u64..1000, i2 in 0u64..LOG_INDEX_LIMIT) {
            let (k1, k2) = (raft_log_key(RegionId(r1), i1), raft_log_key(RegionId(r2), i2));
            prop_assert_eq!((r1, i1).cmp(&(r2, i2)), k1.cmp(&k2));
            prop_assert_eq!(decode_raft_log_key(&k1), Some((RegionId(r1), i1)));
            // The state key sorts after every log key of its region and before the next region.
            let state = raft_state_key(RegionId(r1));
            prop_assert!(k1[..] < state[..]);
            prop_assert!(state[..] < raft_log_key(RegionId(r1 + 1), 0)[..]);
        }

        #[test]
        fn adjacent_region_ranges_never_overlap(
            mut splits in prop::collection::btree_set(
                prop::collection::vec(any::<u8>(), 1..6), 1..8),
            probe in prop::collection::vec(any::<u8>(), 0..6),
        ) {
            // Cut the key space at `splits`; every user key falls in exactly one stored range.
            let mut bounds: Vec<Vec<u8>> = vec![Vec::new()];
            bounds.extend(std::mem::take(&mut splits));
            bounds.push(Vec::new());
            let ranges: Vec<_> = bounds.windows(2).map(|w| data_range(&w[0], &w[1])).collect();
            let key = data_key(&probe);
            let hits = ranges.iter().filter(|(s, e)| key >= *s && key < *e).count();
            prop_assert_eq!(hits, 1);
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].1 <= pair[1].0);
            }
        }
    }

    #[test]
    fn log_range_excludes_state_key_and_neighbours() {
        let (start, end) = raft_log_range(RegionId(7), 0, u64::MAX);
        let state = raft_state_key(RegionId(7));
        assert!(state[..] >= end[..]);
        assert!(raft_log_key(RegionId(6), u64::from(u32::MAX))[..] < start[..]);
        assert!(raft_log_key(RegionId(7), LOG_INDEX_LIMIT - 1)[..] < end[..]);
    }
}
