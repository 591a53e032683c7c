//! The disk's physical bound: 4 KiB appends, each followed by `fdatasync`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// Appends 4 KiB and syncs, repeatedly, for `secs`; returns syncs per second.
pub fn fsyncs_per_sec(path: &Path, secs: Duration) -> anyhow::Result<f64> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)?;
    let block = [0x5au8; 4096];
    let started = Instant::now();
    let mut syncs = 0u64;
    while started.elapsed() < secs {
        file.write_all(&block)?;
        file.sync_data()?;
        syncs += 1;
    }
    let rate = syncs as f64 / started.elapsed().as_secs_f64();
    drop(file);
    std::fs::remove_file(path)?;
    Ok(rate)
}
