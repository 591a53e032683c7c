//! Opening the stores' RocksDB engines of a benchmark cluster.

use std::path::Path;

use engine::{RocksConfig, RocksEngine};

/// `count` engines in `root/store-1`, `root/store-2`, ... with the default options.
pub fn open(root: &Path, count: usize) -> anyhow::Result<Vec<RocksEngine>> {
    (1..=count)
        .map(|i| {
            let dir = root.join(format!("store-{i}"));
            Ok(RocksEngine::open(&dir, &RocksConfig::default())?)
        })
        .collect()
}
