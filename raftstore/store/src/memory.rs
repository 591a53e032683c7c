//! Giving freed memory back to the operating system after a burst.
//!
//! A store's memory peaks while many regions are busy at once (a cold start elects every
//! region; a dead store wakes thousands): messages queue, entry caches fill, nodes are rebuilt.
//! When those regions go quiet the memory is freed, but glibc's allocator keeps what its
//! per-thread arenas grew to (measured: 190 MB at 30,000 regions, more than the store's live
//! heap). The store therefore asks the allocator to return free pages once enough regions went
//! quiet since the last time (`StoreConfig::release_memory_after_quiet`), at most every
//! [`RELEASE_INTERVAL`]; a steadily idle store never asks.
//!
//! Only glibc needs this: jemalloc and mimalloc return memory on their own. Elsewhere the call
//! does nothing.

use std::time::Duration;

/// The shortest time between two releases (each walks every arena: tens of milliseconds).
pub const RELEASE_INTERVAL: Duration = Duration::from_secs(10);

/// Returns the allocator's free pages to the operating system, where the allocator keeps them
/// (glibc); returns whether anything was given back.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(
    unsafe_code,
    reason = "malloc_trim is a plain C call with no pointer argument; glibc documents it as \
              safe to call from any thread at any time"
)]
pub fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes a size and touches only the allocator's own state, under its
    // own locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Returns the allocator's free pages to the operating system, where the allocator keeps them
/// (glibc); returns whether anything was given back.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn freed_memory_goes_back_after_a_burst() {
        // Every other block of a burst freed while its neighbours live on: the allocator keeps
        // the holes (whole pages each) until asked.
        let mut blocks: Vec<Vec<u8>> = (0..4_000).map(|i| vec![i as u8; 16 << 10]).collect();
        let mut kept = Vec::new();
        for (i, block) in blocks.drain(..).enumerate() {
            if i % 2 == 0 {
                kept.push(block);
            }
        }
        assert!(release_free_memory(), "the holes were given back");
        assert_eq!(kept.len(), 2_000);
    }
}
