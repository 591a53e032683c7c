//! The write batch of the RocksDB engine: a `rocksdb::WriteBatch` with the column family
//! handles it needs.

use std::sync::Arc;

use rocksdb::{ColumnFamily, DB};

use crate::traits::{Cf, WriteBatch};

/// The write batch of [`super::RocksEngine`].
pub struct RocksWriteBatch {
    pub(super) inner: rocksdb::WriteBatch,
    db: Arc<DB>,
    /// Reused encoding buffer for [`WriteBatch::put_msg`].
    scratch: Vec<u8>,
}

impl RocksWriteBatch {
    pub(super) fn new(db: Arc<DB>) -> RocksWriteBatch {
        RocksWriteBatch {
            inner: rocksdb::WriteBatch::default(),
            db,
            scratch: Vec::new(),
        }
    }
}

pub(super) fn cf_handle(db: &DB, cf: Cf) -> &ColumnFamily {
    db.cf_handle(cf.name())
        .expect("invariant: the engine opens every column family")
}

impl WriteBatch for RocksWriteBatch {
    fn put(&mut self, cf: Cf, key: &[u8], value: &[u8]) {
        self.inner.put_cf(cf_handle(&self.db, cf), key, value);
    }

    fn delete(&mut self, cf: Cf, key: &[u8]) {
        self.inner.delete_cf(cf_handle(&self.db, cf), key);
    }

    fn delete_range(&mut self, cf: Cf, start: &[u8], end: &[u8]) {
        if start < end {
            self.inner
                .delete_range_cf(cf_handle(&self.db, cf), start, end);
        }
    }

    fn count(&self) -> usize {
        self.inner.len()
    }

    fn data_size(&self) -> usize {
        self.inner.size_in_bytes()
    }

    fn clear(&mut self) {
        self.inner.clear();
    }

    fn put_msg<M: prost::Message>(&mut self, cf: Cf, key: &[u8], msg: &M) {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        msg.encode(&mut scratch)
            .expect("invariant: encoding into a Vec cannot run out of space");
        self.put(cf, key, &scratch);
        self.scratch = scratch;
    }
}
