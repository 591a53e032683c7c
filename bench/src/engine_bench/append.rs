//! Synced group commits, raw and through our engine, and unsynced apply batches.
//!
//! Both sides write one entry per region per batch, N regions per batch, one fsync per batch,
//! on one thread. Raw puts a 16-byte key and a payload-sized value per region straight into
//! RocksDB's `raft` column family; ours goes through `PeerStorage::append`, which encodes an
//! `Entry` and feeds the entry cache (no `RaftLocalState`: the hard state does not change here,
//! and recovery reads the log end from the log).

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::synthetic::{append_next_entries, open_empty_regions};
use engine::{ApplyBatch, ApplyState, CacheBudget, KvEngine, RegionId, RocksConfig, RocksEngine};
use hdrhistogram::Histogram;

use super::Options;

/// The figures of one run of synced batches.
pub struct AppendResult {
    /// Entries (one per region per batch) per second.
    pub entries_per_sec: f64,
    /// Batches (one fsync each) per second.
    pub fsyncs_per_sec: f64,
    /// Payload megabytes per second.
    pub mb_per_sec: f64,
    /// The 99th percentile of batch write latency in microseconds.
    pub p99_us: u64,
}

impl AppendResult {
    /// One readable line.
    pub fn summary(&self) -> String {
        format!(
            "{:.0} entries/s, {:.0} fsyncs/s, {:.2} MB/s, p99 {} us",
            self.entries_per_sec, self.fsyncs_per_sec, self.mb_per_sec, self.p99_us
        )
    }
}

/// Times `write_batch(batch_number)` calls for `secs`; each writes `n` entries.
fn measure(
    n: usize,
    entry_size: usize,
    secs: Duration,
    mut write_batch: impl FnMut(u64) -> anyhow::Result<()>,
) -> anyhow::Result<AppendResult> {
    let mut hist = Histogram::<u64>::new(3)?;
    let started = Instant::now();
    let mut batches = 0u64;
    while started.elapsed() < secs {
        let t = Instant::now();
        write_batch(batches)?;
        hist.record(t.elapsed().as_micros() as u64)?;
        batches += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let entries = batches as f64 * n as f64;
    Ok(AppendResult {
        entries_per_sec: entries / elapsed,
        fsyncs_per_sec: batches as f64 / elapsed,
        mb_per_sec: entries * entry_size as f64 / elapsed / 1e6,
        p99_us: hist.value_at_quantile(0.99),
    })
}

/// Raw RocksDB: N puts per synced batch.
pub fn raw(dir: &Path, n: usize, opts: &Options, secs: Duration) -> anyhow::Result<AppendResult> {
    let engine = RocksEngine::open(dir, &RocksConfig::default())?;
    let db = engine.raw();
    let cf = db
        .cf_handle("raft")
        .ok_or_else(|| anyhow::anyhow!("no raft CF"))?;
    let value = vec![0x61u8; opts.entry_size];
    let mut write_opts = rocksdb::WriteOptions::default();
    write_opts.set_sync(true);
    let regions = opts.regions;
    measure(n, opts.entry_size, secs, |batch| {
        let mut wb = rocksdb::WriteBatch::default();
        for i in 0..n as u64 {
            let slot = batch * n as u64 + i;
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&(slot % regions).to_be_bytes());
            key[8..].copy_from_slice(&(slot / regions + 1).to_be_bytes());
            wb.put_cf(cf, key, &value);
        }
        db.write_opt(wb, &write_opts)?;
        Ok(())
    })
}

/// Our engine: `PeerStorage::append` for N regions, one synced write.
pub fn ours(dir: &Path, n: usize, opts: &Options, secs: Duration) -> anyhow::Result<AppendResult> {
    let engine = RocksEngine::open(dir, &RocksConfig::default())?;
    let storages = open_empty_regions(&engine, opts.regions, &CacheBudget::new(256 << 20))?;
    let payload = Bytes::from(vec![0x61u8; opts.entry_size]);
    let mut wb = engine.write_batch();
    let mut next = 0usize;
    measure(n, opts.entry_size, secs, |_| {
        let chosen = (0..n).map(|_| {
            let storage = &storages[next % storages.len()];
            next += 1;
            storage
        });
        append_next_entries(
            chosen,
            6,
            |_, _| payload.clone(),
            // Replication has read the entry by now; keep the cache from growing forever.
            |storage, index| storage.evict_cache_to(index.saturating_sub(64)),
            &mut wb,
        );
        engine.write(&mut wb, true)?;
        Ok(())
    })
}

/// Apply: unsynced batches of 256 regions, each a data put plus its apply state; writes/s.
pub fn apply(dir: &Path, opts: &Options, secs: Duration) -> anyhow::Result<f64> {
    let engine = RocksEngine::open(dir, &RocksConfig::default())?;
    let value = vec![0x61u8; opts.entry_size];
    let mut applied = vec![0u64; opts.regions as usize];
    let mut wb = engine.write_batch();
    let mut next = 0usize;
    let result = measure(256, opts.entry_size, secs, |_| {
        for _ in 0..256 {
            let region = next % applied.len();
            next += 1;
            applied[region] += 1;
            let key = format!("{region:06}/{:010}", applied[region]);
            wb.put_data(key.as_bytes(), &value);
            let state = ApplyState {
                applied_index: applied[region],
                ..ApplyState::default()
            };
            wb.put_apply_state(RegionId(region as u64), &state);
        }
        engine.write(&mut wb, false)?;
        Ok(())
    })?;
    Ok(result.entries_per_sec)
}
