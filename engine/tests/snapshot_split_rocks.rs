//! A region larger than two snapshot SST files: its snapshot is written in parts, in parallel,
//! and applies to exactly the source's data.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]
#![cfg(feature = "rocksdb")]

mod conformance;

use engine::{ApplyBatch, KvEngine, RegionId, RocksConfig, RocksEngine, apply_region_snapshot};

use conformance::region;
use conformance::snapshots::{build, check_applied, data, hs, seed};

#[test]
fn large_region_snapshot_is_built_in_parts_and_applies_whole() {
    // Goal: with several SST files of data and two or more threads, the snapshot's files come
    // from more than one part, in key order, and applying them gives the source's data.
    // Method: 64 KiB files, about 1.2 MB of data flushed in four batches (four SST files).
    let dir = tempfile::tempdir().unwrap();
    let cfg = RocksConfig {
        snapshot_sst_bytes_max: 64 << 10,
        ..RocksConfig::small()
    };
    let src = RocksEngine::open(&dir.path().join("a"), &cfg).unwrap();
    let reg = region(1, b"k", b"l");
    seed(&src, &reg, &[], 10);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..4000u32)
        .map(|i| {
            (
                format!("k{i:06}").into_bytes(),
                vec![b'a' + (i % 26) as u8; 300],
            )
        })
        .collect();
    let cf = src.raw().cf_handle("default").unwrap();
    for chunk in pairs.chunks(1000) {
        let mut wb = src.write_batch();
        for (key, value) in chunk {
            wb.put_data(key, value);
        }
        src.write(&mut wb, true).unwrap();
        src.raw().flush_cf(&cf).unwrap();
    }
    let snap = dir.path().join("snap");
    let meta = build(&src, 1, &snap);
    let names: Vec<&str> = meta.files.iter().map(|f| f.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "files are listed in key order");
    if rayon::current_num_threads() >= 2 {
        assert!(names.iter().any(|n| n.starts_with("00-")), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("01-")), "{names:?}");
    }
    let dst = RocksEngine::open(&dir.path().join("b"), &cfg).unwrap();
    apply_region_snapshot(&dst, RegionId(1), &snap, hs()).unwrap();
    assert_eq!(data(&dst, b"k", b"l"), pairs);
    check_applied(&dst, &reg, 10);
}
