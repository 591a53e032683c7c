//! The engine conformance suite: generic checks that every [`KvEngine`] must pass, instantiated
//! for `mem` in `conformance_mem.rs` and for `rocks` in `conformance_rocks.rs` through
//! [`conformance_suite!`] (compare tikv `engine_traits_tests`).
//!
//! Each test takes a factory that opens the engine in a given directory, so that tests can close
//! and reopen it (the `mem` factory ignores the directory and keeps state in a registry).

#![allow(dead_code, reason = "each test binary uses a subset of the helpers")]

pub mod kv;
pub mod log;
pub mod recovery;
pub mod snapshots;
pub mod storage;

use std::path::Path;

use bytes::Bytes;
use engine::{KvEngine, Peer, PeerRole, Region, RegionEpoch};
use raft::raftpb::Entry;

/// Opens an engine in a directory; opening the same directory again after dropping every handle
/// gives the same data back (everything written, at least everything synced).
pub trait Factory {
    /// The engine type.
    type E: KvEngine;
    /// Opens the engine stored in `dir`.
    fn open(&self, dir: &Path) -> Self::E;
}

/// A region `[start, end)` with three voters.
pub fn region(id: u64, start: &[u8], end: &[u8]) -> Region {
    Region {
        id,
        start_key: Bytes::copy_from_slice(start),
        end_key: Bytes::copy_from_slice(end),
        epoch: Some(RegionEpoch {
            conf_ver: 1,
            version: 1,
        }),
        peers: (1..=3)
            .map(|i| Peer {
                id: id * 10 + i,
                store_id: i,
                role: PeerRole::Voter as i32,
            })
            .collect(),
    }
}

/// Entries `[lo, hi)` of `term` with payloads that name their index.
pub fn entries(lo: u64, hi: u64, term: u64) -> Vec<Entry> {
    (lo..hi)
        .map(|i| Entry::new(i, term, Bytes::from(format!("entry-{i}-term-{term}"))))
        .collect()
}

/// Declares one `#[test]` per conformance check, each with a fresh directory and `$factory`.
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr; $($module:ident :: $name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                let dir = tempfile::tempdir().expect("temporary directory");
                conformance::$module::$name(&$factory, dir.path());
            }
        )*
    };
}

/// Every check of the suite, for [`conformance_suite!`].
#[macro_export]
macro_rules! all_conformance_tests {
    ($factory:expr) => {
        $crate::conformance_suite!($factory;
            kv::put_get_delete_in_each_cf,
            kv::scan_is_ordered_bounded_and_stoppable,
            kv::last_in_range_is_bounded_and_sees_deletes,
            kv::delete_range_removes_only_the_range,
            kv::write_batch_is_atomic_and_left_empty,
            kv::snapshot_is_point_in_time,
            kv::data_keys_are_separate_from_other_cfs,
            kv::undecodable_state_is_corruption,
            kv::synced_writes_survive_reopen,
            log::append_and_fetch_with_size_limit,
            log::append_truncates_conflicting_suffix,
            log::long_conflicting_suffix_uses_range_delete,
            log::compaction_deletes_prefix_only,
            log::group_commit_keeps_regions_apart,
            log::gap_in_log_is_corruption,
            log::apply_state_goes_with_its_data,
            storage::storage_serves_entries_terms_and_bounds,
            storage::storage_reads_disk_below_cache,
            storage::storage_compaction_moves_first_index,
            storage::storage_reopens_after_restart,
            storage::storage_cache_stays_within_budget,
            storage::storage_snapshot_is_requested_then_served,
            recovery::recovery_lists_every_region_with_states,
            recovery::recovery_refuses_missing_states,
            recovery::recovery_refuses_log_missing_its_first_entry,
            recovery::recovery_refuses_commit_past_log_end,
            recovery::recovery_rebuilds_log_end_after_appends_without_raft_state,
            recovery::recovery_rebuilds_log_end_after_conflicting_truncation,
            recovery::recovery_rebuilds_log_end_after_whole_log_compaction,
            recovery::recovery_raises_commit_to_applied_index,
            recovery::append_writes_raft_state_only_on_term_or_vote_change,
            snapshots::snapshot_round_trip_between_engines,
            snapshots::snapshot_of_edge_region_and_empty_region,
            snapshots::corrupt_snapshot_is_refused_and_region_unchanged,
            snapshots::truncated_snapshot_is_refused,
            snapshots::snapshot_for_another_region_is_refused,
            snapshots::stale_snapshot_is_refused,
            snapshots::snapshot_replaces_old_data_and_log,
            snapshots::snapshot_apply_interrupted_at_ingest_is_retried,
        );
    };
}
