//! The RocksDB engine (feature `rocksdb`): one database per store with column families
//! `default`, `raft` and `meta` sharing one write-ahead log.
//!
//! ```text
//! RocksEngine ── Arc<DB> ── cf default (user data), raft (logs, raft states), meta (states)
//!     │                └── one WAL: write(batch, sync) = one WAL append (+ one fsync)
//!     └── snapshot() ── RocksSnapshot: a RocksDB snapshot (sequence number) + the DB
//! ```
//!
//! Region snapshots are SST files written with `SstFileWriter` from a RocksDB snapshot and added
//! with `ingest_external_file` after a range delete (see [`crate::snapshot`]). A region larger
//! than two SST files is cut into a few parts by key, written in parallel on rayon's pool
//! (`split.rs`).

mod batch;
mod config;
mod split;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use rocksdb::{
    Cache, ColumnFamilyDescriptor, DB, DBCompressionType, DBRawIteratorWithThreadMode, ErrorKind,
    IngestExternalFileOptions, Options, ReadOptions, SstFileWriter, WriteOptions,
};

pub use self::batch::RocksWriteBatch;
use self::batch::cf_handle;
pub use self::config::RocksConfig;
use crate::error::{Error, Result};
use crate::traits::{Cf, KvEngine, KvPair, Peekable, ScanVisitor};

/// A store's RocksDB. Clones share the database.
#[derive(Clone)]
pub struct RocksEngine {
    db: Arc<DB>,
    shared: Arc<Shared>,
}

struct Shared {
    sync_write: WriteOptions,
    async_write: WriteOptions,
    /// The options SST files for snapshots are written with (those of `default`).
    sst_options: Options,
    snapshot_sst_bytes_max: u64,
}

/// A point-in-time view of a [`RocksEngine`].
pub struct RocksSnapshot<'a> {
    db: &'a DB,
    snapshot: rocksdb::Snapshot<'a>,
}

impl RocksEngine {
    /// Opens (creating if needed) the database in `path`.
    pub fn open(path: &Path, cfg: &RocksConfig) -> Result<RocksEngine> {
        Self::open_mode(path, cfg, false)
    }

    /// Opens an existing database in `path` read-only: every write fails with
    /// [`Error::ReadOnly`].
    pub fn open_read_only(path: &Path, cfg: &RocksConfig) -> Result<RocksEngine> {
        Self::open_mode(path, cfg, true)
    }

    fn open_mode(path: &Path, cfg: &RocksConfig, read_only: bool) -> Result<RocksEngine> {
        let cache = Cache::new_lru_cache(cfg.block_cache_bytes);
        let descriptors =
            Cf::ALL.map(|cf| ColumnFamilyDescriptor::new(cf.name(), cfg.cf_options(cf, &cache)));
        let db_opts = cfg.db_options();
        let opened = if read_only {
            DB::open_cf_descriptors_read_only(&db_opts, path, descriptors, false)
        } else {
            DB::open_cf_descriptors(&db_opts, path, descriptors)
        };
        let db = opened.map_err(|err| Error::Open {
            path: path.to_path_buf(),
            reason: err.into_string(),
        })?;
        let mut sync_write = WriteOptions::default();
        sync_write.set_sync(true);
        // Snapshot files are written once and ingested at the bottom of the tree or near it.
        let mut sst_options = cfg.cf_options(Cf::Default, &cache);
        sst_options.set_compression_type(DBCompressionType::Lz4);
        let shared = Shared {
            sync_write,
            async_write: WriteOptions::default(),
            sst_options,
            snapshot_sst_bytes_max: cfg.snapshot_sst_bytes_max,
        };
        Ok(RocksEngine {
            db: Arc::new(db),
            shared: Arc::new(shared),
        })
    }

    /// The underlying database, for benchmarks and tools.
    pub fn raw(&self) -> &DB {
        &self.db
    }

    /// Keys cutting `default`'s `[start, end)` into parts of at least `snapshot_sst_bytes_max`,
    /// at most one per rayon thread, by the live SST files (`split.rs`); empty: one part.
    fn data_split_keys(&self, start: &[u8], end: &[u8]) -> Result<Vec<Vec<u8>>> {
        let files = self
            .db
            .live_files()
            .map_err(|err| map_error("live files", &err))?
            .into_iter()
            .filter(|file| file.column_family_name == Cf::Default.name())
            .filter_map(|file| {
                let (first, last) = (file.start_key?, file.end_key?);
                let overlaps = first.as_slice() < end && last.as_slice() >= start;
                overlaps.then_some((first, file.size as u64))
            })
            .collect();
        Ok(split::split_keys(
            files,
            start,
            end,
            rayon::current_num_threads(),
            self.shared.snapshot_sst_bytes_max,
        ))
    }

    /// Writes the pairs of `[start, end)` of `snapshot` into SST files cut at
    /// `snapshot_sst_bytes_max`, named `{name_prefix}default-NNNN.sst`, in key order.
    fn write_data_files_part(
        &self,
        snapshot: &RocksSnapshot<'_>,
        start: &[u8],
        end: &[u8],
        dir: &Path,
        name_prefix: &str,
    ) -> Result<Vec<PathBuf>> {
        let mut files = SstFiles::new(&self.shared, dir, name_prefix);
        snapshot.scan_cf(Cf::Default, start, end, &mut |key, value| {
            files.put(key, value)?;
            Ok(true)
        })?;
        files.finish()
    }
}

/// Maps a RocksDB error to the engine's, telling a full or read-only disk apart.
pub fn map_error(context: &str, err: &rocksdb::Error) -> Error {
    let text = err.to_string();
    let msg = format!("{context}: {text}");
    let lower = text.to_ascii_lowercase();
    if lower.contains("no space left") {
        Error::DiskFull(msg)
    } else if lower.contains("read-only")
        || lower.contains("read only")
        || lower.contains("permission denied")
    {
        Error::ReadOnly(msg)
    } else if err.kind() == ErrorKind::Corruption {
        Error::Corruption(msg)
    } else {
        Error::Io(msg)
    }
}

impl Peekable for RocksEngine {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db
            .get_cf(cf_handle(&self.db, cf), key)
            .map_err(|err| map_error("get", &err))
    }

    fn scan_cf(&self, cf: Cf, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let iter = self
            .db
            .raw_iterator_cf_opt(cf_handle(&self.db, cf), bounded(start, end));
        drive(iter, start, visit)
    }

    fn last_in_range_cf(&self, cf: Cf, start: &[u8], end: &[u8]) -> Result<Option<KvPair>> {
        if start >= end {
            return Ok(None);
        }
        let iter = self
            .db
            .raw_iterator_cf_opt(cf_handle(&self.db, cf), bounded(start, end));
        last_pair(iter)
    }
}

impl Peekable for RocksSnapshot<'_> {
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.snapshot
            .get_cf(cf_handle(self.db, cf), key)
            .map_err(|err| map_error("snapshot get", &err))
    }

    fn scan_cf(&self, cf: Cf, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()> {
        if start >= end {
            return Ok(());
        }
        let iter = self
            .snapshot
            .raw_iterator_cf_opt(cf_handle(self.db, cf), bounded(start, end));
        drive(iter, start, visit)
    }

    fn last_in_range_cf(&self, cf: Cf, start: &[u8], end: &[u8]) -> Result<Option<KvPair>> {
        if start >= end {
            return Ok(None);
        }
        let iter = self
            .snapshot
            .raw_iterator_cf_opt(cf_handle(self.db, cf), bounded(start, end));
        last_pair(iter)
    }
}

fn bounded(start: &[u8], end: &[u8]) -> ReadOptions {
    let mut opts = ReadOptions::default();
    opts.set_iterate_lower_bound(start.to_vec());
    opts.set_iterate_upper_bound(end.to_vec());
    opts
}

fn drive(
    mut iter: DBRawIteratorWithThreadMode<'_, DB>,
    start: &[u8],
    visit: &mut ScanVisitor<'_>,
) -> Result<()> {
    iter.seek(start);
    while let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        if !visit(key, value)? {
            return Ok(());
        }
        iter.next();
    }
    iter.status().map_err(|err| map_error("scan", &err))
}

/// The last pair the bounded iterator sees: `seek_to_last` honours the upper bound (RocksDB
/// seeks for the last key before it).
fn last_pair(mut iter: DBRawIteratorWithThreadMode<'_, DB>) -> Result<Option<KvPair>> {
    iter.seek_to_last();
    if let (Some(key), Some(value)) = (iter.key(), iter.value()) {
        return Ok(Some((key.to_vec(), value.to_vec())));
    }
    iter.status()
        .map(|()| None)
        .map_err(|err| map_error("seek to last", &err))
}

impl KvEngine for RocksEngine {
    type WriteBatch = RocksWriteBatch;
    type Snapshot<'a> = RocksSnapshot<'a>;

    const DATA_FILE_FORMAT: &'static str = "sst";

    fn write_batch(&self) -> RocksWriteBatch {
        RocksWriteBatch::new(Arc::clone(&self.db))
    }

    fn write(&self, batch: &mut RocksWriteBatch, sync: bool) -> Result<()> {
        let inner = std::mem::take(&mut batch.inner);
        let opts = if sync {
            &self.shared.sync_write
        } else {
            &self.shared.async_write
        };
        self.db
            .write_opt(inner, opts)
            .map_err(|err| map_error("write", &err))
    }

    fn snapshot(&self) -> RocksSnapshot<'_> {
        RocksSnapshot {
            db: &self.db,
            snapshot: self.db.snapshot(),
        }
    }

    fn sync_wal(&self) -> Result<()> {
        self.db
            .flush_wal(true)
            .map_err(|err| map_error("sync wal", &err))
    }

    fn write_data_files(
        &self,
        snapshot: &RocksSnapshot<'_>,
        start: &[u8],
        end: &[u8],
        dir: &Path,
        name_prefix: &str,
    ) -> Result<Vec<PathBuf>> {
        let cuts = self.data_split_keys(start, end)?;
        if cuts.is_empty() {
            return self.write_data_files_part(snapshot, start, end, dir, name_prefix);
        }
        let bounds: Vec<&[u8]> = std::iter::once(start)
            .chain(cuts.iter().map(Vec::as_slice))
            .chain(std::iter::once(end))
            .collect();
        // Part names sort in key order: `{prefix}00-default-0000.sst`, `{prefix}01-...`.
        let parts: Vec<Vec<PathBuf>> = bounds
            .par_windows(2)
            .enumerate()
            .map(|(i, part)| {
                let prefix = format!("{name_prefix}{i:02}-");
                self.write_data_files_part(snapshot, part[0], part[1], dir, &prefix)
            })
            .collect::<Result<_>>()?;
        Ok(parts.concat())
    }

    fn ingest_data_files(&self, start: &[u8], end: &[u8], files: &[PathBuf]) -> Result<()> {
        let mut batch = self.write_batch();
        crate::traits::WriteBatch::delete_range(&mut batch, Cf::Default, start, end);
        self.write(&mut batch, true)?;
        if files.is_empty() {
            return Ok(());
        }
        let mut opts = IngestExternalFileOptions::default();
        opts.set_move_files(false);
        // Not `SnapshotCorrupt`: the range is already cleared and the region is marked
        // `Applying`, so the caller must stop, not carry on with the old state.
        self.db
            .ingest_external_file_cf_opts(cf_handle(&self.db, Cf::Default), &opts, files.to_vec())
            .map_err(|err| map_error("ingest", &err))
    }
}

/// SST files written in key order, cut at a size bound.
struct SstFiles<'a> {
    shared: &'a Shared,
    dir: &'a Path,
    name_prefix: &'a str,
    writer: Option<SstFileWriter<'a>>,
    paths: Vec<PathBuf>,
}

impl<'a> SstFiles<'a> {
    fn new(shared: &'a Shared, dir: &'a Path, name_prefix: &'a str) -> SstFiles<'a> {
        SstFiles {
            shared,
            dir,
            name_prefix,
            writer: None,
            paths: Vec::new(),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if self
            .writer
            .as_ref()
            .is_some_and(|w| w.file_size() >= self.shared.snapshot_sst_bytes_max)
        {
            self.finish_current()?;
        }
        if self.writer.is_none() {
            let path = self.dir.join(format!(
                "{}default-{:04}.sst",
                self.name_prefix,
                self.paths.len()
            ));
            let writer = SstFileWriter::create(&self.shared.sst_options);
            writer
                .open(&path)
                .map_err(|err| map_error("sst open", &err))?;
            self.paths.push(path);
            self.writer = Some(writer);
        }
        let writer = self
            .writer
            .as_mut()
            .expect("invariant: a writer was just opened");
        writer
            .put(key, value)
            .map_err(|err| map_error("sst put", &err))
    }

    fn finish_current(&mut self) -> Result<()> {
        if let Some(mut writer) = self.writer.take() {
            writer
                .finish()
                .map_err(|err| map_error("sst finish", &err))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<PathBuf>> {
        self.finish_current()?;
        Ok(std::mem::take(&mut self.paths))
    }
}
