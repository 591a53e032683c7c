//! The `mem` engine: three `BTreeMap`s that model a disk's durability and failures.
//!
//! The store's tests and simulator run on it. It keeps two copies of every column family:
//!
//! ```text
//! write(batch, sync = false) ──► current ──┐  batch remembered in `unsynced`
//! write(batch, sync = true)  ──► current ──┴─► durable (unsynced batches, then this one)
//! crash()                    ──► current := durable, unsynced forgotten
//! ```
//!
//! so a simulated crash drops every write that was not followed by a synced write, as a real disk
//! with one write-ahead log would (pebble's `vfs.NewCrashableMem().CrashClone()`).
//! [`MemEngine::crash_clone_keeping`] keeps a prefix of the unsynced batches instead, as a write-
//! ahead log that reached the disk in part would.
//!
//! Fault injection ([`MemEngine::fail_next_write`], [`MemEngine::fail_write_after`],
//! [`MemEngine::set_fault`]) makes writes fail before anything of them is visible, so a failed
//! write never leaves a half-written state. [`MemEngine::fail_write_after`] reaches a write in the
//! middle of a sequence (the third write of a snapshot apply, say) without a hook in the code
//! under test.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::mem_file;
use crate::traits::{Cf, KvEngine, KvPair, Peekable, ScanVisitor, WriteBatch};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// An injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The write or fsync fails with [`Error::Io`].
    Io,
    /// The disk is full: [`Error::DiskFull`].
    DiskFull,
    /// The disk is read-only: [`Error::ReadOnly`].
    ReadOnly,
}

/// An in-memory engine with a crash model. Clones share the same state.
#[derive(Clone, Default)]
pub struct MemEngine {
    inner: Arc<Mutex<MemInner>>,
}

#[derive(Default)]
struct MemInner {
    /// What reads see. Snapshots hold clones of the `Arc`s; a write copies a map only while a
    /// snapshot of it is alive.
    current: [Arc<Map>; 3],
    /// What survives a crash: the state as of the last synced write.
    durable: [Map; 3],
    /// Batches written without sync since the last synced write, in order.
    unsynced: Vec<Vec<Op>>,
    /// Fails a write or sync once the given number of further writes and syncs went through.
    next_write_fault: Option<(usize, Fault)>,
    /// Fails the next synced write or sync.
    next_sync_fault: Option<Fault>,
    /// Fails every write until cleared.
    sticky_fault: Option<Fault>,
    /// Counters for tests.
    stats: MemStats,
}

/// What the engine has done, for tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Successful writes.
    pub writes: u64,
    /// Successful synced writes and syncs (the fsyncs a disk would do).
    pub syncs: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

/// The write batch of [`MemEngine`].
#[derive(Clone, Debug, Default)]
pub struct MemWriteBatch {
    ops: Vec<Op>,
    size: usize,
}

/// A point-in-time view of a [`MemEngine`].
#[derive(Clone)]
pub struct MemSnapshot {
    cfs: [Arc<Map>; 3],
}

impl MemEngine {
    /// An empty engine.
    pub fn new() -> MemEngine {
        MemEngine::default()
    }

    /// Simulates a crash and restart in place: every write not followed by a synced write is
    /// lost. Snapshots taken before keep what they saw.
    pub fn crash(&self) {
        let mut inner = self.inner.lock();
        inner.unsynced.clear();
        inner.current = inner.durable.clone().map(Arc::new);
    }

    /// A new engine holding what a crash now would leave; this engine is unchanged.
    #[must_use]
    pub fn crash_clone(&self) -> MemEngine {
        self.crash_clone_keeping(0)
    }

    /// Like [`MemEngine::crash_clone`], but the first `batches` unsynced batches reached the disk
    /// (a prefix of the write-ahead log survived).
    #[must_use]
    pub fn crash_clone_keeping(&self, batches: usize) -> MemEngine {
        let inner = self.inner.lock();
        let mut durable = inner.durable.clone();
        for batch in inner.unsynced.iter().take(batches) {
            for op in batch {
                apply_op(&mut durable, op);
            }
        }
        let current = durable.clone().map(Arc::new);
        MemEngine {
            inner: Arc::new(Mutex::new(MemInner {
                current,
                durable,
                ..MemInner::default()
            })),
        }
    }

    /// The number of batches written without sync since the last synced write.
    pub fn unsynced_batches(&self) -> usize {
        self.inner.lock().unsynced.len()
    }

    /// Makes the next write (or [`KvEngine::sync_wal`]) fail with `fault`.
    pub fn fail_next_write(&self, fault: Fault) {
        self.fail_write_after(0, fault);
    }

    /// Lets `calls` further writes and syncs through, then makes the next one fail with `fault`
    /// (`0`: the next one, as [`MemEngine::fail_next_write`]).
    pub fn fail_write_after(&self, calls: usize, fault: Fault) {
        self.inner.lock().next_write_fault = Some((calls, fault));
    }

    /// Makes the next synced write (or [`KvEngine::sync_wal`]) fail with `fault`.
    pub fn fail_next_sync(&self, fault: Fault) {
        self.inner.lock().next_sync_fault = Some(fault);
    }

    /// Makes every write fail with `fault` until called with `None` (a full or read-only disk).
    pub fn set_fault(&self, fault: Option<Fault>) {
        self.inner.lock().sticky_fault = fault;
    }

    /// What the engine has done so far.
    pub fn stats(&self) -> MemStats {
        self.inner.lock().stats
    }
}

impl MemInner {
    fn check_faults(&mut self, sync: bool) -> Result<()> {
        let fault = self.sticky_fault.or_else(|| self.take_write_fault());
        let fault = fault.or_else(|| {
            if sync {
                self.next_sync_fault.take()
            } else {
                None
            }
        });
        match fault {
            None => Ok(()),
            Some(Fault::Io) => Err(Error::Io("injected i/o error".to_owned())),
            Some(Fault::DiskFull) => Err(Error::DiskFull("injected: no space left".to_owned())),
            Some(Fault::ReadOnly) => Err(Error::ReadOnly("injected: read-only disk".to_owned())),
        }
    }

    /// Counts one call down on the armed write fault and returns it when it is due.
    fn take_write_fault(&mut self) -> Option<Fault> {
        match &mut self.next_write_fault {
            Some((0, fault)) => {
                let fault = *fault;
                self.next_write_fault = None;
                Some(fault)
            }
            Some((calls, _)) => {
                *calls -= 1;
                None
            }
            None => None,
        }
    }

    fn sync(&mut self) {
        for batch in std::mem::take(&mut self.unsynced) {
            for op in &batch {
                apply_op(&mut self.durable, op);
            }
        }
        self.stats.syncs += 1;
    }
}

impl Peekable for MemEngine {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.lock().current[cf.idx()].get(key).cloned())
    }

    fn scan_cf(&self, cf: Cf, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
        // Scan a shared copy without the lock, so `visit` may call back into the engine.
        let map = Arc::clone(&self.inner.lock().current[cf.idx()]);
        scan_map(&map, start, end, visit)
    }

    fn last_in_range_cf(&self, cf: Cf, start: &[u8], end: &[u8]) -> Result<Option<KvPair>> {
        Ok(last_in_map(
            &self.inner.lock().current[cf.idx()],
            start,
            end,
        ))
    }
}

impl Peekable for MemSnapshot {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.cfs[cf.idx()].get(key).cloned())
    }

    fn scan_cf(&self, cf: Cf, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
        scan_map(&self.cfs[cf.idx()], start, end, visit)
    }

    fn last_in_range_cf(&self, cf: Cf, start: &[u8], end: &[u8]) -> Result<Option<KvPair>> {
        Ok(last_in_map(&self.cfs[cf.idx()], start, end))
    }
}

impl WriteBatch for MemWriteBatch {
    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.size += key.len() + value.len();
        self.ops.push(Op::Put(cf, key.to_vec(), value.to_vec()));
    }

    fn delete(&mut self, cf: Cf, key: &[u8]) {
        self.size += key.len();
        self.ops.push(Op::Delete(cf, key.to_vec()));
    }

    fn delete_range(&mut self, cf: Cf, start: &[u8], end: &[u8]) {
        self.size += start.len() + end.len();
        self.ops
            .push(Op::DeleteRange(cf, start.to_vec(), end.to_vec()));
    }

    fn count(&self) -> usize {
        self.ops.len()
    }

    fn data_size(&self) -> usize {
        self.size
    }

    fn clear(&mut self) {
        self.ops.clear();
        self.size = 0;
    }
}

impl KvEngine for MemEngine {
    type WriteBatch = MemWriteBatch;
    type Snapshot<'a> = MemSnapshot;

    const DATA_FILE_FORMAT: &'static str = "mem";

    fn write_batch(&self) -> MemWriteBatch {
        MemWriteBatch::default()
    }

    fn write(&self, batch: &mut MemWriteBatch, sync: bool) -> Result<()> {
        let ops = std::mem::take(&mut batch.ops);
        batch.clear();
        let mut inner = self.inner.lock();
        inner.check_faults(sync)?;
        let mut current = std::mem::take(&mut inner.current);
        for op in &ops {
            apply_op_shared(&mut current, op);
        }
        inner.current = current;
        inner.unsynced.push(ops);
        inner.stats.writes += 1;
        if sync {
            inner.sync();
        }
        Ok(())
    }

    fn snapshot(&self) -> MemSnapshot {
        MemSnapshot {
            cfs: self.inner.lock().current.clone(),
        }
    }

    fn sync_wal(&self) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.check_faults(true)?;
        inner.sync();
        Ok(())
    }

    fn write_data_files(
        &self,
        snapshot: &MemSnapshot,
        start: &[u8],
        end: &[u8],
        dir: &Path,
        name_prefix: &str,
    ) -> Result<Vec<PathBuf>> {
        let mut pairs = Vec::new();
        snapshot.scan_cf(Cf::Default, start, end, &mut |key, value| {
            pairs.push((key.to_vec(), value.to_vec()));
            Ok(true)
        })?;
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let path = dir.join(format!("{name_prefix}default.mem"));
        fs::write(&path, mem_file::encode(&pairs))
            .map_err(|err| Error::from_io("writing a snapshot data file", &err))?;
        Ok(vec![path])
    }

    fn ingest_data_files(&self, start: &[u8], end: &[u8], files: &[PathBuf]) -> Result<()> {
        let mut pairs = Vec::new();
        for path in files {
            let bytes = fs::read(path)
                .map_err(|err| Error::from_io("reading a snapshot data file", &err))?;
            pairs.extend(mem_file::decode(&bytes, start, end, path)?);
        }
        let mut batch = MemWriteBatch::default();
        batch.delete_range(Cf::Default, start, end);
        for (key, value) in &pairs {
            batch.put(Cf::Default, key, value);
        }
        // Ingestion is durable when it returns, as RocksDB's is.
        self.write(&mut batch, true)
    }
}

fn scan_map(map: &Map, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
    if start >= end {
        return Ok(());
    }
    for (key, value) in map.range::<[u8], _>((
        std::ops::Bound::Included(start),
        std::ops::Bound::Excluded(end),
    )) {
        if !visit(key, value)? {
            break;
        }
    }
    Ok(())
}

fn last_in_map(map: &Map, start: &[u8], end: &[u8]) -> Option<KvPair> {
    if start >= end {
        return None;
    }
    map.range::<[u8], _>((
        std::ops::Bound::Included(start),
        std::ops::Bound::Excluded(end),
    ))
    .next_back()
    .map(|(key, value)| (key.clone(), value.clone()))
}

fn apply_op_shared(cfs: &mut [Arc<Map>; 3], op: &Op) {
    let cf = match op {
        Op::Put(cf, ..) | Op::Delete(cf, _) | Op::DeleteRange(cf, ..) => *cf,
    };
    apply_to_map(Arc::make_mut(&mut cfs[cf.idx()]), op);
}

fn apply_op(cfs: &mut [Map; 3], op: &Op) {
    let cf = match op {
        Op::Put(cf, ..) | Op::Delete(cf, _) | Op::DeleteRange(cf, ..) => *cf,
    };
    apply_to_map(&mut cfs[cf.idx()], op);
}

fn apply_to_map(map: &mut Map, op: &Op) {
    match op {
        Op::Put(_, key, value) => {
            map.insert(key.clone(), value.clone());
        }
        Op::Delete(_, key) => {
            map.remove(key);
        }
        Op::DeleteRange(_, start, end) => {
            if start < end {
                let mut tail = map.split_off(start);
                let mut kept = tail.split_off(end);
                map.append(&mut kept);
            }
        }
    }
}
