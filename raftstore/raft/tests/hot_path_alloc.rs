//! Checks that the leader's per-message quorum math does not allocate.
//!
//! Goal: `committed`, `quorum_active` and `tally_votes` run on every append response and
//! heartbeat of 100,000 groups, so they must not touch the allocator for groups of up to seven
//! voters. Method: a global allocator that counts allocations per thread, read before and
//! after each call. This lives in its own test binary so that the counting allocator affects
//! nothing else.

// A global allocator can only be written with `unsafe`; it forwards to the system allocator
// unchanged and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use raft::confchange::Changer;
use raft::quorum::{JointConfig, MajorityConfig};
use raft::raftpb::{ConfChangeSingle, ConfChangeType};
use raft::tracker::ProgressTracker;

/// The system allocator, counting allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the `GlobalAlloc`
// contract; the counter is a const-initialised thread local, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Returns `f`'s result and how many allocations it made.
fn count_allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// A tracker whose incoming voters are `voters`, all matched at their id times ten.
fn tracker(voters: &[u64]) -> ProgressTracker {
    let mut trk = ProgressTracker::new(16, 0);
    for &id in voters {
        let cc = ConfChangeSingle::new(ConfChangeType::AddNode, id);
        let changer = Changer {
            tracker: &trk,
            last_index: 1,
        };
        let (cfg, progress) = changer.simple(&[cc]).expect("adding one voter is valid");
        trk.apply_conf(cfg, progress);
    }
    for &id in voters {
        trk.get_mut(id)
            .expect("voter has progress")
            .maybe_update(id * 10);
    }
    trk
}

#[test]
fn committed_on_small_groups_does_not_allocate() {
    for voters in [&[1u64, 2, 3][..], &[1, 2, 3, 4, 5], &[1, 2, 3, 4, 5, 6, 7]] {
        let trk = tracker(voters);
        let (committed, allocations) = count_allocations(|| trk.committed());
        assert_eq!(committed, voters[voters.len() / 2] * 10);
        assert_eq!(allocations, 0, "{} voters", voters.len());
    }
}

#[test]
fn joint_committed_does_not_allocate() {
    let trk = tracker(&[1, 2, 3, 4, 5]);
    let joint = JointConfig {
        incoming: MajorityConfig::new([1, 2, 3]),
        outgoing: MajorityConfig::new([3, 4, 5]),
    };
    let (committed, allocations) = count_allocations(|| joint.committed_index(&trk.progress));
    assert_eq!(committed, 20);
    assert_eq!(allocations, 0);
}

#[test]
fn votes_and_activity_checks_do_not_allocate() {
    let mut trk = tracker(&[1, 2, 3]);
    trk.record_vote(1, true);
    trk.record_vote(2, true);
    let ((granted, _, _), allocations) = count_allocations(|| trk.tally_votes());
    assert_eq!(granted, 2);
    assert_eq!(allocations, 0);
    let (active, allocations) = count_allocations(|| trk.quorum_active());
    assert!(active, "new members count as recently active");
    assert_eq!(allocations, 0);
}

#[test]
fn counting_allocator_sees_allocations() {
    // Guards the guard: the counter must notice an allocation when there is one.
    let (v, allocations) = count_allocations(|| vec![1u64; 9]);
    assert_eq!(v.len(), 9);
    assert!(allocations >= 1);
}
