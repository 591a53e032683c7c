//! The RocksDB options of a store, chosen per column family (documented in `docs/engine.md`).
//!
//! ```text
//!          write buffer  compression (L0 L1 | L2.. | bottom)  bloom   why
//! default  64 MiB x 4    none none | lz4  | zstd              10 bit  user data: read, kept
//! raft     128 MiB x 4   none none | lz4  | lz4               10 bit  written once, deleted soon
//! meta     16 MiB x 4    none none | none | lz4               10 bit  tiny, overwritten often
//! ```
//!
//! One LRU block cache is shared by the three column families; one write-ahead log serves all
//! of them (RocksDB's default), so a synced raft write makes earlier apply writes durable too.
//! `max_total_wal_size` forces the rarely written column families to flush so that they do not
//! pin old log files.

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options};

use crate::traits::Cf;

/// The tunable sizes of a store's RocksDB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocksConfig {
    /// The LRU block cache shared by every column family.
    pub block_cache_bytes: usize,
    /// The memtable size of `default`.
    pub default_write_buffer_bytes: usize,
    /// The memtable size of `raft`.
    pub raft_write_buffer_bytes: usize,
    /// The memtable size of `meta`.
    pub meta_write_buffer_bytes: usize,
    /// The bound on the write-ahead log's total size before column families are flushed.
    pub max_total_wal_bytes: u64,
    /// Background flush and compaction threads.
    pub background_jobs: i32,
    /// The size at which a snapshot's SST file is cut and a new one started.
    pub snapshot_sst_bytes_max: u64,
}

impl Default for RocksConfig {
    fn default() -> RocksConfig {
        RocksConfig {
            block_cache_bytes: 256 << 20,
            default_write_buffer_bytes: 64 << 20,
            raft_write_buffer_bytes: 128 << 20,
            meta_write_buffer_bytes: 16 << 20,
            max_total_wal_bytes: 1 << 30,
            background_jobs: 4,
            snapshot_sst_bytes_max: 64 << 20,
        }
    }
}

impl RocksConfig {
    /// Small buffers and cache for tests, so that many engines fit in memory at once.
    pub fn small() -> RocksConfig {
        RocksConfig {
            block_cache_bytes: 8 << 20,
            default_write_buffer_bytes: 4 << 20,
            raft_write_buffer_bytes: 4 << 20,
            meta_write_buffer_bytes: 1 << 20,
            max_total_wal_bytes: 64 << 20,
            background_jobs: 2,
            snapshot_sst_bytes_max: 4 << 20,
        }
    }

    /// The database-wide options.
    pub fn db_options(&self) -> Options {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_max_background_jobs(self.background_jobs);
        opts.set_max_total_wal_size(self.max_total_wal_bytes);
        // Spread the write-back of flushes and compactions instead of one burst at the end.
        opts.set_bytes_per_sync(1 << 20);
        // Concurrent writers (store writers, apply threads) overlap WAL and memtable work.
        opts.set_enable_pipelined_write(true);
        opts
    }

    /// The options of column family `cf`, with the shared `cache`.
    pub fn cf_options(&self, cf: Cf, cache: &Cache) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        table.set_format_version(5);
        let mut opts = Options::default();
        opts.set_block_based_table_factory(&table);
        opts.set_max_write_buffer_number(4);
        opts.set_level_compaction_dynamic_level_bytes(true);
        let (buffer, levels, bottom) = match cf {
            Cf::Default => (
                self.default_write_buffer_bytes,
                compression(2),
                DBCompressionType::Zstd,
            ),
            Cf::Raft => (
                self.raft_write_buffer_bytes,
                compression(2),
                DBCompressionType::Lz4,
            ),
            Cf::Meta => (
                self.meta_write_buffer_bytes,
                compression(7),
                DBCompressionType::Lz4,
            ),
        };
        opts.set_write_buffer_size(buffer);
        opts.set_compression_per_level(&levels);
        opts.set_bottommost_compression_type(bottom);
        opts
    }
}

/// Seven levels: the first `uncompressed` without compression, lz4 below.
fn compression(uncompressed: usize) -> [DBCompressionType; 7] {
    let mut levels = [DBCompressionType::Lz4; 7];
    for level in levels.iter_mut().take(uncompressed) {
        *level = DBCompressionType::None;
    }
    levels
}
