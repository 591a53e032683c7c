//! The raft log of every region, on top of the `raft` column family.
//!
//! Reads ([`RaftLogReader`]) work on any [`Peekable`] (the engine or a snapshot of it); writes
//! ([`RaftLogBatch`]) go into any [`WriteBatch`], so a store writer can gather the appends of many
//! regions into one batch and one fsync:
//!
//! ```text
//! region 7: append [12..=14], prev last 15 ─┐
//! region 9: append [3..=3],   prev last 2  ─┼─► one WriteBatch ─► write(sync = true)
//! region 9: RaftLocalState (term changed)  ─┘
//! ```
//!
//! The log is its own record of where it ends: its last key is the last index (see
//! [`RaftLogReader::last_log_entry`]), so an append writes no raft state unless the hard state's
//! term or vote changed ([`crate::PeerStorage::append`], [`crate::recovery`]).
//!
//! Appending over a longer log deletes the conflicting suffix with point deletes (a suffix is
//! short), and compaction deletes a prefix with one range delete.

use raft::raftpb::Entry;

use crate::error::{Error, Result};
use crate::keys;
use crate::traits::{Cf, Peekable, WriteBatch, decode_msg};
use crate::types::{RaftLocalState, RegionId};

/// A conflicting suffix longer than this is removed with one range delete instead of point
/// deletes (range tombstones cost reads, so they are kept for large cuts).
const SUFFIX_POINT_DELETES_MAX: u64 = 1024;

/// Typed reads of the raft log and raft state.
pub trait RaftLogReader: Peekable {
    /// The region's raft state, `None` if it has none.
    fn raft_state(&self, region: RegionId) -> Result<Option<RaftLocalState>> {
        self.get_msg(Cf::Raft, &keys::raft_state_key(region))
    }

    /// The entry at `index`, `None` if it is not in the log.
    fn log_entry(&self, region: RegionId, index: u64) -> Result<Option<Entry>> {
        let entry: Option<Entry> = self.get_msg(Cf::Raft, &keys::raft_log_key(region, index))?;
        if let Some(entry) = &entry {
            check_entry_index(region, index, entry)?;
        }
        Ok(entry)
    }

    /// The region's last log entry (the greatest index), `None` if its log is empty: one
    /// reverse seek.
    ///
    /// Returns [`Error::Corruption`] if the entry does not decode or says another index than its
    /// key.
    fn last_log_entry(&self, region: RegionId) -> Result<Option<Entry>> {
        let (start, end) = keys::raft_log_range(region, 0, u64::MAX);
        let Some((key, value)) = self.last_in_range_cf(Cf::Raft, &start, &end)? else {
            return Ok(None);
        };
        let (key_region, index) = keys::decode_raft_log_key(&key)
            .ok_or_else(|| Error::Corruption(format!("region {region}: bad log key {key:02x?}")))?;
        assert_eq!(
            key_region, region,
            "invariant: the log range holds one region's keys"
        );
        let entry: Entry = decode_msg(&value, Cf::Raft, &key)?;
        check_entry_index(region, index, &entry)?;
        Ok(Some(entry))
    }

    /// Appends to `out` the entries with indexes in `[lo, hi)`, at most `max_size` bytes by
    /// [`Entry::size`] but at least one; returns how many were appended.
    ///
    /// Returns [`Error::Corruption`] if the log has a gap in the range (fewer entries than asked
    /// without reaching the size limit).
    fn fetch_entries(
        &self,
        region: RegionId,
        lo: u64,
        hi: u64,
        max_size: u64,
        out: &mut Vec<Entry>,
    ) -> Result<usize> {
        if lo >= hi {
            return Ok(0);
        }
        let (start, end) = keys::raft_log_range(region, lo, hi);
        let mut next = lo;
        let mut size = 0u64;
        let mut limited = false;
        let before = out.len();
        let scanned = self.scan_cf(Cf::Raft, &start, &end, &mut |key, value| {
            let entry: Entry = decode_msg(value, Cf::Raft, key)?;
            check_entry_index(region, next, &entry)?;
            size = size.saturating_add(entry.size());
            if next > lo && size > max_size {
                limited = true;
                return Ok(false);
            }
            out.push(entry);
            next += 1;
            Ok(true)
        });
        let complete = next == hi || limited;
        if let Err(err) = scanned {
            out.truncate(before);
            return Err(err);
        }
        if !complete {
            out.truncate(before);
            return Err(Error::Corruption(format!(
                "region {region}: log entry {next} missing (asked for [{lo}, {hi}))"
            )));
        }
        Ok(out.len() - before)
    }
}

impl<P: Peekable + ?Sized> RaftLogReader for P {}

/// Typed writes of the raft log and raft state into a write batch.
pub trait RaftLogBatch: WriteBatch {
    /// Appends `entries` (contiguous, non-empty) to the region's log, whose last index before
    /// this append is `prev_last_index`: entries after the new last one are deleted.
    ///
    /// # Panics
    ///
    /// If `entries` are not contiguous or start past `prev_last_index + 1` (a gap): a caller bug
    /// that would corrupt the log.
    fn append_entries(&mut self, region: RegionId, entries: &[Entry], prev_last_index: u64) {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            return;
        };
        assert!(
            first.index <= prev_last_index + 1,
            "region {region}: append at {} leaves a gap after {prev_last_index}",
            first.index
        );
        assert_eq!(
            last.index - first.index + 1,
            entries.len() as u64,
            "region {region}: appended entries are not contiguous"
        );
        for (i, entry) in entries.iter().enumerate() {
            debug_assert_eq!(entry.index, first.index + i as u64);
            // `put_msg` encodes into the batch's reused buffer where it has one (RocksDB).
            self.put_msg(Cf::Raft, &keys::raft_log_key(region, entry.index), entry);
        }
        self.delete_log_entries(region, last.index + 1, prev_last_index + 1);
    }

    /// Deletes the region's entries with indexes in `[lo, hi)` (a conflicting suffix).
    fn delete_log_entries(&mut self, region: RegionId, lo: u64, hi: u64) {
        if lo >= hi {
            return;
        }
        if hi - lo > SUFFIX_POINT_DELETES_MAX {
            let (start, end) = keys::raft_log_range(region, lo, hi);
            self.delete_range(Cf::Raft, &start, &end);
            return;
        }
        for index in lo..hi {
            self.delete(Cf::Raft, &keys::raft_log_key(region, index));
        }
    }

    /// Writes the region's raft state (hard state and log end as of this write).
    fn put_raft_state(&mut self, region: RegionId, state: &RaftLocalState) {
        self.put_msg(Cf::Raft, &keys::raft_state_key(region), state);
    }

    /// Deletes the region's log entries in `[first_index, compact_to]` with one range delete.
    /// The caller records the new truncated state in the region's apply state.
    fn compact_log(&mut self, region: RegionId, first_index: u64, compact_to: u64) {
        if first_index > compact_to {
            return;
        }
        let (start, end) = keys::raft_log_range(region, first_index, compact_to + 1);
        self.delete_range(Cf::Raft, &start, &end);
    }

    /// Deletes the whole log and the raft state of the region (peer destroyed).
    fn clear_raft(&mut self, region: RegionId) {
        let (start, end) = keys::raft_log_range(region, 0, u64::MAX);
        self.delete_range(Cf::Raft, &start, &end);
        self.delete(Cf::Raft, &keys::raft_state_key(region));
    }
}

impl<W: WriteBatch + ?Sized> RaftLogBatch for W {}

fn check_entry_index(region: RegionId, index: u64, entry: &Entry) -> Result<()> {
    if entry.index == index {
        return Ok(());
    }
    Err(Error::Corruption(format!(
        "region {region}: entry stored at index {index} says index {}",
        entry.index
    )))
}
