//! The apply side: user data, apply states and region states.
//!
//! The apply threads write the commands of many regions into one batch, each region's
//! [`ApplyState`] next to the data it describes, and write it without fsync:
//!
//! ```text
//! region 7: put a, delete b, ApplyState{applied 14} ─┐
//! region 9: delete_range [c, f), ApplyState{applied 3}├─► one WriteBatch ─► write(sync = false)
//! ```
//!
//! All column families share one write-ahead log, so the next synced raft write makes these
//! durable too, and recovery never sees data without the apply state that covers it.

use crate::error::Result;
use crate::keys;
use crate::traits::{Cf, Peekable, ScanVisitor, WriteBatch};
use crate::types::{ApplyState, RegionId, RegionLocalState};

/// Typed reads of user data and region metadata.
pub trait KvReader: Peekable {
    /// The value of user key `key`.
    fn get_data(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_cf(Cf::Default, &keys::data_key(key))
    }

    /// Calls `visit` with every user pair whose key is in `[start, end)` (`end` empty: +inf), in
    /// order, until it returns `Ok(false)`.
    fn scan_data(&self, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
        let (lo, hi) = keys::data_range(start, end);
        self.scan_cf(Cf::Default, &lo, &hi, &mut |key, value| {
            let user = keys::user_key(key).expect("invariant: the data range holds data keys");
            visit(user, value)
        })
    }

    /// The region's apply state.
    fn apply_state(&self, region: RegionId) -> Result<Option<ApplyState>> {
        self.get_msg(Cf::Meta, &keys::apply_state_key(region))
    }

    /// The region's local state.
    fn region_state(&self, region: RegionId) -> Result<Option<RegionLocalState>> {
        self.get_msg(Cf::Meta, &keys::region_state_key(region))
    }
}

impl<P: Peekable + ?Sized> KvReader for P {}

/// Typed writes of user data and region metadata into a write batch.
pub trait ApplyBatch: WriteBatch {
    /// Sets user key `key` to `value`.
    fn put_data(&mut self, key: &[u8], value: &[u8]) {
        self.put(Cf::Default, &keys::data_key(key), value);
    }

    /// Removes user key `key`.
    fn delete_data(&mut self, key: &[u8]) {
        self.delete(Cf::Default, &keys::data_key(key));
    }

    /// Removes every user key in `[start, end)` (`end` empty: +inf).
    fn delete_data_range(&mut self, start: &[u8], end: &[u8]) {
        let (lo, hi) = keys::data_range(start, end);
        self.delete_range(Cf::Default, &lo, &hi);
    }

    /// Writes the region's apply state.
    ///
    /// # Panics
    ///
    /// If the state breaks `truncated_index <= applied_index`.
    fn put_apply_state(&mut self, region: RegionId, state: &ApplyState) {
        assert!(
            state.truncated_index <= state.applied_index,
            "region {region}: truncated index {} above applied index {}",
            state.truncated_index,
            state.applied_index
        );
        self.put_msg(Cf::Meta, &keys::apply_state_key(region), state);
    }

    /// Writes the region's local state.
    fn put_region_state(&mut self, region: RegionId, state: &RegionLocalState) {
        self.put_msg(Cf::Meta, &keys::region_state_key(region), state);
    }
}

impl<W: WriteBatch + ?Sized> ApplyBatch for W {}
