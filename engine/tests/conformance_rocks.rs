//! The conformance suite on the RocksDB engine.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]
#![cfg(feature = "rocksdb")]

mod conformance;

use std::path::Path;

use engine::{RocksConfig, RocksEngine};

struct RocksFactory;

impl conformance::Factory for RocksFactory {
    type E = RocksEngine;

    fn open(&self, dir: &Path) -> RocksEngine {
        std::fs::create_dir_all(dir).expect("create the directory");
        RocksEngine::open(&dir.join("db"), &RocksConfig::small()).expect("open rocksdb")
    }
}

all_conformance_tests!(RocksFactory);
