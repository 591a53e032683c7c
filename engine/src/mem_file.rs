//! The data file format of the `mem` engine's region snapshots: the equivalent of an SST file.
//!
//! ```text
//! "FLOTMEM1" | (key_len u32 LE, key, value_len u32 LE, value)* | pair_count u64 LE
//! ```
//!
//! Keys are stored keys (with the data prefix) in strictly increasing order. The snapshot
//! layer checks a crc32c of the whole file before the engine parses it; parsing checks the
//! structure again so that a file that is whole but wrong is refused too.

use std::path::Path;

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"FLOTMEM1";

/// Encodes sorted pairs into a data file's bytes.
pub fn encode(pairs: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let size: usize = pairs.iter().map(|(k, v)| k.len() + v.len() + 8).sum();
    let mut out = Vec::with_capacity(MAGIC.len() + size + 8);
    out.extend_from_slice(MAGIC);
    for (key, value) in pairs {
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
    out
}

/// Decodes a data file, checking that every key is in `[start, end)` and sorted.
pub fn decode(
    bytes: &[u8],
    start: &[u8],
    end: &[u8],
    path: &Path,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let corrupt = |what: &str| Error::SnapshotCorrupt {
        reason: format!("data file {}: {what}", path.display()),
    };
    let body = bytes
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("bad magic"))?;
    let (records, count) = body
        .split_at_checked(body.len().saturating_sub(8))
        .filter(|_| body.len() >= 8)
        .ok_or_else(|| corrupt("truncated"))?;
    let count = u64::from_le_bytes(count.try_into().map_err(|_| corrupt("truncated"))?);
    let mut pairs = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let (key, after) = take_field(rest).ok_or_else(|| corrupt("truncated record"))?;
        let (value, after) = take_field(after).ok_or_else(|| corrupt("truncated record"))?;
        if key < start || key >= end {
            return Err(corrupt("key outside the region"));
        }
        if pairs
            .last()
            .is_some_and(|(prev, _): &(Vec<u8>, Vec<u8>)| prev.as_slice() >= key)
        {
            return Err(corrupt("keys out of order"));
        }
        pairs.push((key.to_vec(), value.to_vec()));
        rest = after;
    }
    if pairs.len() as u64 != count {
        return Err(corrupt("pair count does not match"));
    }
    Ok(pairs)
}

fn take_field(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_at_checked(4)?;
    let len = u32::from_le_bytes(len.try_into().ok()?) as usize;
    rest.split_at_checked(len)
}
