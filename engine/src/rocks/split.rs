//! Where to cut a large region's range so that its snapshot's SST files are built in parallel.
//!
//! ```text
//! live SST files of `default` overlapping [start, end): (smallest key, size) ─► sorted by key
//!   parts = min(threads, total size / snapshot_sst_bytes_max); fewer than 2: no cut
//!   walk the files, cut at the smallest key of the first file past each 1/parts of the total
//! [start, end) ─► [start, k1) [k1, k2) ... [kn, end) ─► one SstFiles writer each (rayon)
//! ```
//!
//! The cuts are only a balance hint: they come from the files RocksDB holds now (not from the
//! point-in-time view being written, and not from the memtables), and files of different levels
//! overlap. Any keys strictly inside the range, strictly increasing, give the same pairs in the
//! same order, in one or more files per part.

/// Keys cutting `[start, end)` into at most `parts_max` parts of about equal size, each of about
/// `part_bytes_min` bytes or more, from the `(smallest key, size)` of the files overlapping the
/// range; empty when the range is too small to be worth two parts.
///
/// Invariant of the result: every key is in `(start, end)` and the keys strictly increase.
pub fn split_keys(
    mut files: Vec<(Vec<u8>, u64)>,
    start: &[u8],
    end: &[u8],
    parts_max: usize,
    part_bytes_min: u64,
) -> Vec<Vec<u8>> {
    let total: u64 = files.iter().map(|(_, size)| size).sum();
    let parts = (total / part_bytes_min.max(1)).min(parts_max as u64);
    if parts < 2 {
        return Vec::new();
    }
    files.sort();
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut before = 0u64;
    for (key, size) in files {
        let target = total / parts * (keys.len() as u64 + 1);
        let inside = key.as_slice() > start && key.as_slice() < end;
        if before >= target && inside && keys.last().is_none_or(|last| *last < key) {
            keys.push(key);
            if keys.len() as u64 == parts - 1 {
                break;
            }
        }
        before += size;
    }
    debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(specs: &[(&str, u64)]) -> Vec<(Vec<u8>, u64)> {
        specs
            .iter()
            .map(|(key, size)| (key.as_bytes().to_vec(), *size))
            .collect()
    }

    #[test]
    fn small_range_is_not_cut() {
        let f = files(&[("b", 10), ("c", 10)]);
        assert!(split_keys(f, b"a", b"z", 4, 15).is_empty());
        let f = files(&[("b", 100), ("c", 100)]);
        assert!(split_keys(f, b"a", b"z", 1, 10).is_empty(), "one thread");
    }

    #[test]
    fn cuts_balance_sizes_and_stay_inside_the_range() {
        // Goal: four equal files and two parts cut in the middle; cuts never fall on the range's
        // own bounds or outside it, and never repeat.
        let f = files(&[("d", 10), ("b", 10), ("c", 10), ("e", 10)]);
        assert_eq!(split_keys(f, b"a", b"z", 2, 10), vec![b"d".to_vec()]);
        let f = files(&[("a", 10), ("a", 10), ("m", 10), ("m", 10), ("zz", 10)]);
        assert_eq!(split_keys(f, b"a", b"z", 4, 10), vec![b"m".to_vec()]);
        let f = files(&[("b", 10), ("c", 10), ("d", 10), ("e", 10)]);
        assert_eq!(
            split_keys(f, b"a", b"z", 4, 10),
            vec![b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]
        );
    }
}
