//! The traits the store programs against, so that it runs on the `mem` engine in tests and the
//! simulator and on the `rocks` engine in production (compare tikv `engine_traits`, far smaller).
//!
//! ```text
//!  KvEngine ── write(WriteBatch, sync) ──► durable state (3 column families)
//!     │  └─ snapshot() ──► point-in-time view (Peekable)
//!     └─ Peekable: get_cf / scan_cf / last_in_range_cf
//! ```
//!
//! The traits here speak raw column families and bytes. The typed layers on top of them, the raft
//! log ([`crate::raft_log`]) and the apply side ([`crate::apply`]), are extension traits with
//! blanket implementations, so both engines share one encoding and one set of checks.

use std::path::{Path, PathBuf};

use prost::Message;

use crate::error::{Error, Result};

/// A column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cf {
    /// User data, keys with the data prefix.
    Default,
    /// Raft logs and raft states of every region.
    Raft,
    /// Region local states and apply states.
    Meta,
}

impl Cf {
    /// Every column family, in a fixed order.
    pub const ALL: [Cf; 3] = [Cf::Default, Cf::Raft, Cf::Meta];

    /// The RocksDB name of the column family.
    pub fn name(self) -> &'static str {
        match self {
            Cf::Default => "default",
            Cf::Raft => "raft",
            Cf::Meta => "meta",
        }
    }

    /// The position of the column family in [`Cf::ALL`].
    pub fn idx(self) -> usize {
        self as usize
    }
}

/// What a scan calls with each key and value; `Ok(false)` stops the scan.
pub type ScanVisitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// A key and its value, owned.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// Read access: the engine itself (latest state) or a point-in-time snapshot of it.
pub trait Peekable {
    /// The value stored under `key` in `cf`.
    fn get_cf(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Calls `visit` with every pair of `cf` whose key is in `[start, end)`, in key order, until
    /// `visit` returns `Ok(false)` or an error (which is returned).
    fn scan_cf(&self, cf: Cf, start: &[u8], end: &[u8], visit: &mut ScanVisitor<'_>) -> Result<()>;

    /// The pair of `cf` with the greatest key in `[start, end)`, `None` if the range is empty:
    /// one reverse seek, whatever the size of the range.
    fn last_in_range_cf(&self, cf: Cf, start: &[u8], end: &[u8]) -> Result<Option<KvPair>>;

    /// The message stored under `key` in `cf`, decoded.
    ///
    /// Returns [`Error::Corruption`] if the stored bytes do not decode.
    fn get_msg<M: Message + Default>(&self, cf: Cf, key: &[u8]) -> Result<Option<M>> {
        self.get_cf(cf, key)?
            .map(|bytes| decode_msg(&bytes, cf, key))
            .transpose()
    }
}

/// Decodes a stored message, naming where it came from when it does not decode.
pub fn decode_msg<M: Message + Default>(bytes: &[u8], cf: Cf, key: &[u8]) -> Result<M> {
    M::decode(bytes).map_err(|err| {
        Error::Corruption(format!(
            "cf {} key {key:02x?}: undecodable value: {err}",
            cf.name()
        ))
    })
}

/// A set of writes applied atomically by [`KvEngine::write`]: all of them or none.
///
/// One batch may hold writes of many regions to every column family (group commit).
pub trait WriteBatch: Send {
    /// Sets `key` to `value` in `cf`.
    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]);
    /// Removes `key` from `cf`.
    fn delete(&mut self, cf: Cf, key: &[u8]);
    /// Removes every key of `cf` in `[start, end)`.
    fn delete_range(&mut self, cf: Cf, start: &[u8], end: &[u8]);
    /// The number of operations in the batch.
    fn count(&self) -> usize;
    /// The approximate size of the batch in bytes.
    fn data_size(&self) -> usize;
    /// Empties the batch, keeping its buffers for reuse.
    fn clear(&mut self);

    /// Whether the batch holds no operation.
    fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Sets `key` to the encoding of `msg`.
    fn put_msg<M: Message>(&mut self, cf: Cf, key: &[u8], msg: &M) {
        self.put(cf, key, &msg.encode_to_vec());
    }
}

/// A store's engine: three column families behind one write-ahead log.
///
/// Handles are cheap to clone and share one database.
pub trait KvEngine: Peekable + Clone + Send + Sync + 'static {
    /// The engine's write batch.
    type WriteBatch: WriteBatch;
    /// A point-in-time view; it sees no write made after it was taken.
    type Snapshot<'a>: Peekable
    where
        Self: 'a;

    /// The name of the data file format of [`KvEngine::write_data_files`], recorded in snapshot
    /// metas so that a snapshot is never ingested by the wrong kind of engine.
    const DATA_FILE_FORMAT: &'static str;

    /// An empty write batch.
    fn write_batch(&self) -> Self::WriteBatch;

    /// Applies `batch` atomically and leaves it empty for reuse (RocksDB consumes a batch even
    /// when the write fails). With `sync`, the batch and every earlier write are durable when
    /// this returns (one fsync of the shared write-ahead log).
    ///
    /// # Errors
    ///
    /// [`Error::Io`], [`Error::DiskFull`] or [`Error::ReadOnly`]: no part of the batch is visible,
    /// and the caller must not assume anything about durability of earlier unsynced writes.
    fn write(&self, batch: &mut Self::WriteBatch, sync: bool) -> Result<()>;

    /// A point-in-time view of every column family.
    fn snapshot(&self) -> Self::Snapshot<'_>;

    /// Makes every earlier write durable.
    fn sync_wal(&self) -> Result<()>;

    /// Writes the `default` CF pairs of `snapshot` with keys in `[start, end)` into data files
    /// under `dir` whose names start with `name_prefix`, in the engine's file format.
    ///
    /// Returns the paths written, in key order; no file for an empty range.
    fn write_data_files(
        &self,
        snapshot: &Self::Snapshot<'_>,
        start: &[u8],
        end: &[u8],
        dir: &Path,
        name_prefix: &str,
    ) -> Result<Vec<PathBuf>>;

    /// Replaces the `default` CF pairs in `[start, end)` by the pairs of `files` (written by
    /// [`KvEngine::write_data_files`] of the same engine kind), durably.
    ///
    /// The files must hold keys in `[start, end)` only. The `mem` engine parses every file
    /// first and returns [`Error::SnapshotCorrupt`] without touching the range if one does not
    /// parse; RocksDB checks SST files while ingesting, after the range delete, and its error
    /// then leaves the range cleared (the snapshot layer checksums every file beforehand).
    fn ingest_data_files(&self, start: &[u8], end: &[u8], files: &[PathBuf]) -> Result<()>;
}
