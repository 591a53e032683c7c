//! A real read-only data directory under RocksDB.
//!
//! Goal: a store whose disk refuses writes gets a typed error, never a panic or a half-written
//! state, and what was written before is still readable. Method: write and close a database,
//! then make its directory read-only with chmod. Tests usually run as root, where chmod does not
//! stop writes (root bypasses permission bits); the test detects that by trying to create a file
//! and then falls back on opening the database read-only, which RocksDB enforces itself.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]
#![cfg(feature = "rocksdb")]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use engine::{ApplyBatch, Error, KvEngine, KvReader, RocksConfig, RocksEngine};

fn set_mode(dir: &Path, mode: u32) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file_mode = if mode == 0o755 { 0o644 } else { 0o444 };
        fs::set_permissions(&path, fs::Permissions::from_mode(file_mode)).unwrap();
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(mode)).unwrap();
}

fn chmod_stops_writes(dir: &Path) -> bool {
    let probe = dir.join("probe");
    let created = fs::write(&probe, b"x").is_ok();
    let _ = fs::remove_file(&probe);
    !created
}

#[test]
fn read_only_directory_refuses_writes_with_a_typed_error() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let engine = RocksEngine::open(&db, &RocksConfig::small()).unwrap();
    let mut wb = engine.write_batch();
    wb.put_data(b"before", b"1");
    engine.write(&mut wb, true).unwrap();
    // A write batch keeps its database open.
    drop(wb);
    drop(engine);

    set_mode(&db, 0o555);
    let engine = if chmod_stops_writes(&db) {
        // Not root: opening for writing fails on the lock file or the new log, with a typed error.
        let err = RocksEngine::open(&db, &RocksConfig::small())
            .err()
            .expect("open must fail");
        assert!(
            matches!(err, Error::Open { .. } | Error::ReadOnly(_)),
            "{err}"
        );
        RocksEngine::open_read_only(&db, &RocksConfig::small()).unwrap()
    } else {
        println!("running as root: chmod does not stop writes; opening the database read-only");
        RocksEngine::open_read_only(&db, &RocksConfig::small()).unwrap()
    };
    assert_eq!(
        engine.get_data(b"before").unwrap().as_deref(),
        Some(&b"1"[..])
    );
    let mut wb = engine.write_batch();
    wb.put_data(b"after", b"2");
    let err = engine.write(&mut wb, true).unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err}");
    assert!(err.is_write_refused());
    assert_eq!(engine.get_data(b"after").unwrap(), None);
    drop(wb);
    drop(engine);

    set_mode(&db, 0o755);
    let engine = RocksEngine::open(&db, &RocksConfig::small()).unwrap();
    assert_eq!(
        engine.get_data(b"after").unwrap(),
        None,
        "the refused write left nothing"
    );
    assert_eq!(
        engine.get_data(b"before").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}
