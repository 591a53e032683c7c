//! Region snapshot applies interrupted by an injected write failure and a crash, on the `mem`
//! engine: whichever step after the `Applying` marker fails, the caller gets a typed error,
//! recovery reports the region `Applying`, and applying the same snapshot again completes it.
//!
//! On `mem` an apply is three writes: the synced marker, the ingestion (one synced write) and
//! the synced last batch; [`MemEngine::fail_write_after`] picks the one that fails.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]

mod conformance;

use std::path::Path;

use engine::{Error, Fault, MemEngine, Region, RegionId, apply_region_snapshot};

use conformance::region;
use conformance::snapshots::{
    build, check_applied, check_interrupted_apply_then_retry, data, hs, pairs, seed,
    target_with_old_state,
};

/// The write calls an apply makes before its ingestion (the marker).
const CALLS_BEFORE_INGEST: usize = 1;
/// The write calls an apply makes before its last batch (the marker and the ingestion).
const CALLS_BEFORE_LAST_BATCH: usize = 2;

/// The pairs of the source region.
fn source_pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
    pairs("k-new", 50)
}

/// Seeds region 1 `[k, l)` at index 10 with [`source_pairs`] on a new engine and builds its
/// snapshot in `snap`; returns the region.
fn source(snap: &Path) -> Region {
    let src = MemEngine::new();
    let reg = region(1, b"k", b"l");
    seed(&src, &reg, &source_pairs(), 10);
    build(&src, 1, snap);
    reg
}

/// Applies a snapshot of the source to `dst` with the write after `calls_before` calls failing
/// with `fault` and checks the error's type; crashes `dst` and checks that its data is
/// `data_after_crash`; then checks recovery and a retry (`applied_before` as in
/// [`check_interrupted_apply_then_retry`]), and that the retried apply survives another crash.
fn interrupt_crash_and_retry(
    dst: &MemEngine,
    calls_before: usize,
    fault: Fault,
    data_after_crash: &[(Vec<u8>, Vec<u8>)],
    applied_before: Option<u64>,
) {
    let dir = tempfile::tempdir().unwrap();
    let snap = dir.path().join("snap");
    let reg = source(&snap);
    dst.fail_write_after(calls_before, fault);
    let err = apply_region_snapshot(dst, RegionId(1), &snap, hs()).unwrap_err();
    match fault {
        Fault::Io => assert!(matches!(err, Error::Io(_)), "{err}"),
        Fault::DiskFull => assert!(matches!(err, Error::DiskFull(_)), "{err}"),
        Fault::ReadOnly => assert!(matches!(err, Error::ReadOnly(_)), "{err}"),
    }
    dst.crash();
    assert_eq!(data(dst, b"k", b"l"), data_after_crash);
    check_interrupted_apply_then_retry(dst, &reg, &snap, &source_pairs(), applied_before);
    dst.crash();
    assert_eq!(data(dst, b"k", b"l"), source_pairs());
    check_applied(dst, &reg, 10);
}

#[test]
fn apply_failing_at_ingest_leaves_region_applying_until_retried() {
    // Goal: an I/O error while the snapshot's data is ingested is returned as such; after a
    // crash the region is `Applying` with its old data and states, and a retry completes it.
    let dst = MemEngine::new();
    let old = target_with_old_state(&dst);
    interrupt_crash_and_retry(&dst, CALLS_BEFORE_INGEST, Fault::Io, &old, Some(2));
}

#[test]
fn apply_failing_at_last_batch_leaves_region_applying_until_retried() {
    // Goal: a full disk at the last batch is returned as such; after a crash the region holds
    // the snapshot's data but its old log and states, is `Applying`, and a retry completes it.
    let dst = MemEngine::new();
    target_with_old_state(&dst);
    let new = source_pairs();
    interrupt_crash_and_retry(
        &dst,
        CALLS_BEFORE_LAST_BATCH,
        Fault::DiskFull,
        &new,
        Some(2),
    );
}

#[test]
fn first_snapshot_of_a_new_peer_interrupted_then_retried() {
    // Goal: a peer with no state at all (created by a message) whose first snapshot is
    // interrupted at either step comes back from recovery `Applying` with no apply or raft
    // state, instead of failing recovery, and a retry completes it.
    let dst = MemEngine::new();
    interrupt_crash_and_retry(&dst, CALLS_BEFORE_INGEST, Fault::Io, &[], None);
    let dst = MemEngine::new();
    let new = source_pairs();
    interrupt_crash_and_retry(&dst, CALLS_BEFORE_LAST_BATCH, Fault::Io, &new, None);
}
