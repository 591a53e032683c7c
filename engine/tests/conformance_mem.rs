//! The conformance suite on the `mem` engine.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]

mod conformance;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use engine::MemEngine;

/// Keeps one `MemEngine` per directory, so that "reopening" a directory returns what a crash
/// would leave (only synced writes), as a real restart of the process would.
#[derive(Default)]
struct MemFactory {
    engines: Mutex<HashMap<PathBuf, MemEngine>>,
}

impl conformance::Factory for MemFactory {
    type E = MemEngine;

    fn open(&self, dir: &Path) -> MemEngine {
        let mut engines = self.engines.lock().unwrap();
        let engine = engines
            .get(dir)
            .map_or_else(MemEngine::new, MemEngine::crash_clone);
        engines.insert(dir.to_path_buf(), engine.clone());
        engine
    }
}

all_conformance_tests!(MemFactory::default());
