//! The `mem` engine's crash model and fault injection: what the store's simulator relies on.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]

use engine::{ApplyBatch, ApplyState, Error, Fault, KvEngine, KvReader, MemEngine, RegionId};

fn put(engine: &MemEngine, key: &[u8], sync: bool) -> Result<(), Error> {
    let mut wb = engine.write_batch();
    wb.put_data(key, b"v");
    wb.put_apply_state(
        RegionId(1),
        &ApplyState {
            applied_index: key.len() as u64,
            ..ApplyState::default()
        },
    );
    engine.write(&mut wb, sync)
}

fn has(engine: &MemEngine, key: &[u8]) -> bool {
    engine.get_data(key).unwrap().is_some()
}

#[test]
fn crash_drops_writes_not_followed_by_a_sync() {
    let engine = MemEngine::new();
    put(&engine, b"a", false).unwrap();
    put(&engine, b"b", true).unwrap();
    put(&engine, b"c", false).unwrap();
    assert_eq!(engine.unsynced_batches(), 1);
    let after = engine.crash_clone();
    assert!(has(&after, b"a"), "a sync makes earlier writes durable");
    assert!(has(&after, b"b"));
    assert!(!has(&after, b"c"), "unsynced write lost");
    assert!(has(&engine, b"c"), "crash_clone leaves the original alone");
    engine.crash();
    assert!(!has(&engine, b"c"));
    assert_eq!(engine.unsynced_batches(), 0);
}

#[test]
fn crash_keeping_a_prefix_of_the_log() {
    let engine = MemEngine::new();
    for key in [&b"a"[..], b"bb", b"ccc"] {
        put(&engine, key, false).unwrap();
    }
    let after = engine.crash_clone_keeping(2);
    assert!(has(&after, b"a") && has(&after, b"bb") && !has(&after, b"ccc"));
    assert_eq!(
        after
            .apply_state(RegionId(1))
            .unwrap()
            .unwrap()
            .applied_index,
        2
    );
}

#[test]
fn sync_wal_makes_everything_durable() {
    let engine = MemEngine::new();
    put(&engine, b"a", false).unwrap();
    engine.sync_wal().unwrap();
    assert!(has(&engine.crash_clone(), b"a"));
    assert_eq!(engine.stats().syncs, 1);
}

#[test]
fn failed_write_leaves_nothing_behind() {
    // Goal: an injected I/O error on write or fsync makes the whole batch invisible, now and
    // after a crash, and the engine works again afterwards.
    let engine = MemEngine::new();
    put(&engine, b"a", true).unwrap();
    engine.fail_next_write(Fault::Io);
    assert!(matches!(put(&engine, b"bb", false), Err(Error::Io(_))));
    assert!(!has(&engine, b"bb"));
    assert_eq!(
        engine
            .apply_state(RegionId(1))
            .unwrap()
            .unwrap()
            .applied_index,
        1
    );
    engine.fail_next_sync(Fault::Io);
    put(&engine, b"cc", false).unwrap();
    assert!(matches!(put(&engine, b"ddd", true), Err(Error::Io(_))));
    assert!(!has(&engine, b"ddd"));
    assert!(
        !has(&engine.crash_clone(), b"cc"),
        "the failed sync made nothing durable"
    );
    put(&engine, b"eeee", true).unwrap();
    assert!(has(&engine.crash_clone(), b"eeee"));
    assert_eq!(engine.stats().writes, 3, "failed writes are not counted");
}

#[test]
fn full_or_read_only_disk_refuses_every_write_until_cleared() {
    let engine = MemEngine::new();
    engine.set_fault(Some(Fault::DiskFull));
    let err = put(&engine, b"a", true).unwrap_err();
    assert!(matches!(err, Error::DiskFull(_)) && err.is_write_refused());
    assert!(matches!(put(&engine, b"a", false), Err(Error::DiskFull(_))));
    assert!(matches!(engine.sync_wal(), Err(Error::DiskFull(_))));
    engine.set_fault(Some(Fault::ReadOnly));
    assert!(matches!(put(&engine, b"a", false), Err(Error::ReadOnly(_))));
    assert!(!has(&engine, b"a"));
    assert!(
        engine.get_data(b"zzz").unwrap().is_none(),
        "reads still work"
    );
    engine.set_fault(None);
    put(&engine, b"a", true).unwrap();
    assert!(has(&engine, b"a"));
}

#[test]
fn failed_snapshot_ingest_leaves_range_untouched() {
    // Goal: disk full while a snapshot is being ingested: the region's data is as it was.
    let src = MemEngine::new();
    let reg = engine::Region {
        id: 1,
        end_key: bytes::Bytes::from_static(b"z"),
        ..Default::default()
    };
    let mut wb = src.write_batch();
    wb.put_region_state(
        RegionId(1),
        &engine::RegionLocalState::new(engine::PeerState::Normal, reg),
    );
    wb.put_apply_state(
        RegionId(1),
        &ApplyState {
            applied_index: 5,
            truncated_index: 5,
            truncated_term: 5,
        },
    );
    wb.put_data(b"new", b"1");
    src.write(&mut wb, true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    engine::build_region_snapshot(&src, RegionId(1), &dir.path().join("s")).unwrap();
    let dst = MemEngine::new();
    put(&dst, b"old", true).unwrap();
    dst.set_fault(Some(Fault::DiskFull));
    let hs = raft::raftpb::HardState::default();
    let err = engine::apply_region_snapshot(&dst, RegionId(1), &dir.path().join("s"), hs);
    assert!(matches!(err, Err(Error::DiskFull(_))));
    assert!(has(&dst, b"old") && !has(&dst, b"new"));
    assert!(dst.region_state(RegionId(1)).unwrap().is_none());
}

#[test]
fn fail_write_after_lets_the_given_calls_through() {
    // Goal: the armed fault skips exactly the given number of writes and syncs, fires once, and
    // leaves the engine working.
    let engine = MemEngine::new();
    engine.fail_write_after(2, Fault::Io);
    put(&engine, b"a", false).unwrap();
    engine.sync_wal().unwrap();
    assert!(matches!(put(&engine, b"bb", true), Err(Error::Io(_))));
    assert!(!has(&engine, b"bb"));
    put(&engine, b"ccc", true).unwrap();
    assert!(has(&engine.crash_clone(), b"ccc"));
}
