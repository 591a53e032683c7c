//! Region snapshots: build on one engine, apply on another, refuse bad ones.

use std::fs;
use std::path::Path;

use engine::snapshot::{META_FILE, load_snapshot_meta};
use engine::{
    ApplyBatch, ApplyState, Error, KvEngine, KvReader, PeerState, RaftLocalState, RaftLogBatch,
    RaftLogReader, Region, RegionId, RegionLocalState, SnapshotMeta, apply_region_snapshot,
    build_region_snapshot, recover_regions,
};
use prost::Message;
use raft::raftpb::HardState;

use super::{Factory, entries, region};

/// Writes `region` with `pairs` of data in range, some data outside it, an apply state at
/// `applied` and the log up to `applied` in term 3.
pub fn seed<E: KvEngine>(engine: &E, region: &Region, pairs: &[(Vec<u8>, Vec<u8>)], applied: u64) {
    let id = region.region_id();
    let mut wb = engine.write_batch();
    wb.put_region_state(
        id,
        &RegionLocalState::new(PeerState::Normal, region.clone()),
    );
    wb.append_entries(id, &entries(1, applied + 1, 3), 0);
    wb.put_raft_state(
        id,
        &RaftLocalState {
            hard_state: Some(HardState {
                term: 3,
                vote: 0,
                commit: applied,
            }),
            last_index: applied,
            last_term: 3,
        },
    );
    wb.put_apply_state(
        id,
        &ApplyState {
            applied_index: applied,
            truncated_index: 0,
            truncated_term: 0,
        },
    );
    for (k, v) in pairs {
        wb.put_data(k, v);
    }
    engine.write(&mut wb, true).unwrap();
}

pub fn data<E: KvEngine>(engine: &E, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    engine
        .scan_data(start, end, &mut |k, v| {
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })
        .unwrap();
    out
}

pub fn pairs(prefix: &str, n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}{i:05}").into_bytes(),
                format!("value-{i}").into_bytes(),
            )
        })
        .collect()
}

pub fn hs() -> HardState {
    HardState {
        term: 2,
        vote: 0,
        commit: 0,
    }
}

pub fn build<E: KvEngine>(engine: &E, id: u64, dir: &Path) -> SnapshotMeta {
    build_region_snapshot(engine, RegionId(id), dir).unwrap()
}

pub fn check_applied<E: KvEngine>(engine: &E, region: &Region, index: u64) {
    let id = region.region_id();
    let apply = engine.apply_state(id).unwrap().unwrap();
    assert_eq!(
        (
            apply.applied_index,
            apply.truncated_index,
            apply.truncated_term
        ),
        (index, index, 3)
    );
    let raft = engine.raft_state(id).unwrap().unwrap();
    assert_eq!(
        (raft.last_index, raft.last_term, raft.hard_state().commit),
        (index, 3, index)
    );
    let local = engine.region_state(id).unwrap().unwrap();
    assert_eq!(local.state(), PeerState::Normal);
    assert_eq!(local.region.as_ref(), Some(region));
    assert_eq!(
        engine.log_entry(id, index).unwrap(),
        None,
        "the old log is gone"
    );
}

pub fn snapshot_round_trip_between_engines<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    let reg = region(1, b"k", b"l");
    let inside = pairs("k", 300);
    seed(&src, &reg, &inside, 10);
    let mut wb = src.write_batch();
    wb.put_data(b"j-outside", b"x");
    wb.put_data(b"l-outside", b"x");
    src.write(&mut wb, true).unwrap();
    let meta = build(&src, 1, &dir.join("snap"));
    assert_eq!((meta.index, meta.term), (10, 3));
    assert_eq!(meta.conf_state.as_ref().unwrap().voters, vec![11, 12, 13]);
    assert!(!meta.files.is_empty());
    apply_region_snapshot(&dst, RegionId(1), &dir.join("snap"), hs()).unwrap();
    assert_eq!(data(&dst, b"", b""), inside);
    check_applied(&dst, &reg, 10);
    let recovered = recover_regions(&dst).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].last_index(), 10);
}

pub fn snapshot_of_edge_region_and_empty_region<F: Factory>(f: &F, dir: &Path) {
    // Goal: a region reaching +inf (empty end key) carries its highest keys; a region with no
    // data makes a snapshot with no file that still clears the receiver's range.
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    let edge = region(1, b"t", b"");
    let mut top = pairs("t", 10);
    top.push((vec![0xff; 8], b"highest".to_vec()));
    seed(&src, &edge, &top, 7);
    let empty = region(2, b"a", b"b");
    seed(&src, &empty, &[], 4);
    build(&src, 1, &dir.join("s1"));
    let meta = build(&src, 2, &dir.join("s2"));
    assert!(meta.files.is_empty());
    let mut wb = dst.write_batch();
    wb.put_data(b"a-stale", b"x");
    dst.write(&mut wb, true).unwrap();
    apply_region_snapshot(&dst, RegionId(1), &dir.join("s1"), hs()).unwrap();
    apply_region_snapshot(&dst, RegionId(2), &dir.join("s2"), hs()).unwrap();
    assert_eq!(data(&dst, b"t", b""), top);
    assert_eq!(data(&dst, b"a", b"b"), vec![]);
    check_applied(&dst, &edge, 7);
    check_applied(&dst, &empty, 4);
}

pub fn target_with_old_state<E: KvEngine>(dst: &E) -> Vec<(Vec<u8>, Vec<u8>)> {
    let old = pairs("k-old", 5);
    seed(dst, &region(1, b"k", b"l"), &old, 2);
    old
}

fn assert_untouched<E: KvEngine>(dst: &E, old: &[(Vec<u8>, Vec<u8>)]) {
    assert_eq!(data(dst, b"", b""), old);
    assert_eq!(
        dst.apply_state(RegionId(1)).unwrap().unwrap().applied_index,
        2
    );
    assert_eq!(
        dst.region_state(RegionId(1)).unwrap().unwrap().state(),
        PeerState::Normal
    );
    assert_eq!(dst.raft_state(RegionId(1)).unwrap().unwrap().last_index, 2);
}

pub fn first_data_file(snap: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = fs::read_dir(snap)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "meta")
        .collect();
    files.sort();
    files.remove(0)
}

pub fn corrupt_snapshot_is_refused_and_region_unchanged<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    seed(&src, &region(1, b"k", b"l"), &pairs("k", 100), 10);
    let snap = dir.join("snap");
    build(&src, 1, &snap);
    let old = target_with_old_state(&dst);
    let file = first_data_file(&snap);
    let mut bytes = fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    fs::write(&file, &bytes).unwrap();
    let err = apply_region_snapshot(&dst, RegionId(1), &snap, hs()).unwrap_err();
    assert!(
        matches!(err, Error::SnapshotCorrupt { ref reason } if reason.contains("checksum")),
        "{err}"
    );
    assert_untouched(&dst, &old);
    // A damaged meta file is refused too.
    bytes[mid] ^= 0x5a;
    fs::write(&file, &bytes).unwrap();
    let meta_path = snap.join("meta");
    let mut meta = fs::read(&meta_path).unwrap();
    meta[3] ^= 1;
    fs::write(&meta_path, &meta).unwrap();
    let err = apply_region_snapshot(&dst, RegionId(1), &snap, hs()).unwrap_err();
    assert!(matches!(err, Error::SnapshotCorrupt { .. }), "{err}");
    assert_untouched(&dst, &old);
}

pub fn truncated_snapshot_is_refused<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    seed(&src, &region(1, b"k", b"l"), &pairs("k", 100), 10);
    let snap = dir.join("snap");
    build(&src, 1, &snap);
    let old = target_with_old_state(&dst);
    let file = first_data_file(&snap);
    let bytes = fs::read(&file).unwrap();
    fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    let err = apply_region_snapshot(&dst, RegionId(1), &snap, hs()).unwrap_err();
    assert!(matches!(err, Error::SnapshotCorrupt { .. }), "{err}");
    assert_untouched(&dst, &old);
    // A missing file, and a missing meta.
    fs::remove_file(&file).unwrap();
    assert!(matches!(
        apply_region_snapshot(&dst, RegionId(1), &snap, hs()),
        Err(Error::SnapshotCorrupt { .. })
    ));
    fs::remove_file(snap.join("meta")).unwrap();
    assert!(matches!(
        apply_region_snapshot(&dst, RegionId(1), &snap, hs()),
        Err(Error::SnapshotCorrupt { .. })
    ));
    assert_untouched(&dst, &old);
}

pub fn snapshot_for_another_region_is_refused<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    seed(&src, &region(1, b"k", b"l"), &pairs("k", 10), 10);
    build(&src, 1, &dir.join("snap"));
    let err = apply_region_snapshot(&dst, RegionId(2), &dir.join("snap"), hs()).unwrap_err();
    assert!(matches!(err, Error::SnapshotCorrupt { .. }), "{err}");
    assert!(data(&dst, b"", b"").is_empty());
}

pub fn stale_snapshot_is_refused<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    seed(&src, &region(1, b"k", b"l"), &pairs("k", 10), 1);
    build(&src, 1, &dir.join("snap"));
    let old = target_with_old_state(&dst);
    let err = apply_region_snapshot(&dst, RegionId(1), &dir.join("snap"), hs()).unwrap_err();
    assert!(
        matches!(err, Error::SnapshotCorrupt { ref reason } if reason.contains("older")),
        "{err}"
    );
    assert_untouched(&dst, &old);
}

pub fn snapshot_replaces_old_data_and_log<F: Factory>(f: &F, dir: &Path) {
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    let reg = region(1, b"k", b"l");
    let new = pairs("k-new", 50);
    seed(&src, &reg, &new, 10);
    build(&src, 1, &dir.join("snap"));
    target_with_old_state(&dst);
    let mut wb = dst.write_batch();
    wb.put_data(b"m-other-region", b"kept");
    dst.write(&mut wb, true).unwrap();
    apply_region_snapshot(&dst, RegionId(1), &dir.join("snap"), hs()).unwrap();
    assert_eq!(data(&dst, b"k", b"l"), new);
    assert_eq!(
        dst.get_data(b"m-other-region").unwrap().as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(dst.log_entry(RegionId(1), 1).unwrap(), None);
    check_applied(&dst, &reg, 10);
    // It survives a restart (a write batch keeps the database open).
    drop(wb);
    drop(dst);
    let dst = f.open(&dir.join("b"));
    assert_eq!(data(&dst, b"k", b"l"), new);
    check_applied(&dst, &reg, 10);
}

pub fn snapshot_apply_interrupted_at_ingest_is_retried<F: Factory>(f: &F, dir: &Path) {
    // Goal: a data file that passes its checksum but does not ingest stops the apply after the
    // `Applying` marker with a typed error (not a refusal); after a restart recovery reports the
    // region `Applying`, and applying the intact snapshot again makes the region whole.
    // Method: truncate the first data file and rewrite the meta's size and crc32c to match it.
    let (src, dst) = (f.open(&dir.join("a")), f.open(&dir.join("b")));
    let reg = region(1, b"k", b"l");
    let new = pairs("k-new", 200);
    seed(&src, &reg, &new, 10);
    let snap = dir.join("snap");
    build(&src, 1, &snap);
    target_with_old_state(&dst);
    let (file, meta_path) = (first_data_file(&snap), snap.join(META_FILE));
    let (good_file, good_meta) = (fs::read(&file).unwrap(), fs::read(&meta_path).unwrap());
    let mut meta = load_snapshot_meta(&snap).unwrap();
    let bad = &good_file[..good_file.len() - 10];
    let name = file.file_name().unwrap().to_str().unwrap();
    let entry = meta.files.iter_mut().find(|m| m.name == name).unwrap();
    (entry.size, entry.crc32c) = (bad.len() as u64, crc32c::crc32c(bad));
    let mut meta_bytes = meta.encode_to_vec();
    meta_bytes.extend_from_slice(&crc32c::crc32c(&meta_bytes).to_le_bytes());
    fs::write(&file, bad).unwrap();
    fs::write(&meta_path, meta_bytes).unwrap();
    let err = apply_region_snapshot(&dst, RegionId(1), &snap, hs()).unwrap_err();
    assert!(matches!(err, Error::Corruption(_)), "{err}");
    drop(dst);
    let dst = f.open(&dir.join("b"));
    fs::write(&file, good_file).unwrap();
    fs::write(&meta_path, good_meta).unwrap();
    check_interrupted_apply_then_retry(&dst, &reg, &snap, &new, Some(2));
}

/// Checks a reopened `dst` whose apply of the snapshot in `snap` (of `reg` at index 10, term 3,
/// holding `expected`) was interrupted: recovery reports the region `Applying` with the applied
/// index it had before (`applied_before`, `None` for a peer with no state), and applying the
/// same snapshot again succeeds and leaves the region whole.
pub fn check_interrupted_apply_then_retry<E: KvEngine>(
    dst: &E,
    reg: &Region,
    snap: &Path,
    expected: &[(Vec<u8>, Vec<u8>)],
    applied_before: Option<u64>,
) {
    let id = reg.region_id();
    let recovered = recover_regions(dst).unwrap();
    let found = recovered.iter().find(|r| r.region_id == id).unwrap();
    assert_eq!(found.peer_state(), PeerState::Applying);
    assert_eq!(found.local_state.region.as_ref(), Some(reg));
    assert_eq!(found.apply_state.map(|s| s.applied_index), applied_before);
    apply_region_snapshot(dst, id, snap, hs()).unwrap();
    assert_eq!(data(dst, &reg.start_key, &reg.end_key), expected);
    check_applied(dst, reg, 10);
    let recovered = recover_regions(dst).unwrap();
    let found = recovered.iter().find(|r| r.region_id == id).unwrap();
    assert_eq!(found.peer_state(), PeerState::Normal);
    assert_eq!((found.first_index(), found.last_index()), (11, 10));
}
