//! What the process costs: CPU time and resident memory.

use std::time::Duration;

/// CPU time (user + system) the whole process has used so far.
pub fn process_cpu_time() -> Duration {
    cpu_time::ProcessTime::now().as_duration()
}

/// The process's resident set size in bytes, from `/proc/self/statm` (0 where unavailable).
pub fn resident_bytes() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // The kernel reports statm in pages; every Linux platform we run on uses 4 KiB pages.
    4096
}
