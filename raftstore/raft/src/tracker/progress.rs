//! What a leader knows about one follower's log, and the flow control of appends to it.
//!
//! The leader's `raft` code drives each [`Progress`] through its [`ProgressState`]s: every
//! append sent is recorded with [`Progress::sent_entries`] and every commit index sent with
//! [`Progress::sent_commit`]; acknowledgements arrive through [`Progress::maybe_update`] and
//! rejections through [`Progress::maybe_decr_to`]. [`Progress::is_paused`] says when the
//! leader should hold back.

use std::fmt;

use super::{Inflights, ProgressState};

/// The leader's view of one follower (or learner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The highest index known to be in the follower's log and to match the leader's.
    ///
    /// Invariant: never decreases ([`Progress::maybe_update`] only raises it).
    pub matched: u64,
    /// The index of the next entry to send. Entries in `(matched, next)` are in flight.
    ///
    /// Invariant: `matched < next` (so `next >= 1`); rejections never lower it to `matched`
    /// or below (etcd-io/raft#149).
    ///
    /// [`Progress::become_snapshot`] sets it to `pending_snapshot + 1`. A response received
    /// while in [`ProgressState::Snapshot`] may still move it before the leader changes state.
    pub next: u64,
    /// The highest commit index sent to the follower (in an append or a heartbeat).
    ///
    /// It may exceed `next - 1` (an append can carry a commit index beyond its entries); it is
    /// lowered to `next - 1` when `next` moves back, since such a commit index was probably not
    /// applied. Sending a snapshot sets it to the snapshot's index.
    pub sent_commit: u64,
    /// How the leader currently replicates to the follower.
    pub state: ProgressState,
    /// In [`ProgressState::Snapshot`], the index of the snapshot that was sent; 0 otherwise.
    ///
    /// The follower leaves the snapshot state when an append response shows that its log
    /// connects to the leader's again, whatever snapshot achieved that (the application may
    /// have sent one of its own), or when the snapshot is reported finished or failed.
    pub pending_snapshot: u64,
    /// Whether the follower has been heard from recently (reset every election timeout by a
    /// leader with check-quorum). Always true for the leader itself.
    pub recent_active: bool,
    /// Whether the append flow is throttled: in [`ProgressState::Probe`] after an append was
    /// sent, in [`ProgressState::Replicate`] while the inflight window is full. The leader
    /// still sends an append now and then to guarantee progress, but only when this is false
    /// (a heartbeat response clears it).
    pub msg_app_flow_paused: bool,
    /// The append messages in flight, bounded by count and by bytes.
    pub inflights: Inflights,
    /// Whether the progress belongs to a learner.
    pub is_learner: bool,
}

impl Progress {
    /// Returns the progress of a follower about which nothing is known yet: `matched` 0, in
    /// [`ProgressState::Probe`], not recently active, with an empty inflight window of
    /// `max_inflight` messages and `max_inflight_bytes` bytes (0: no byte limit).
    ///
    /// # Panics
    ///
    /// In debug builds, if `next` is 0 (it must exceed `matched`).
    pub fn new(next: u64, max_inflight: usize, max_inflight_bytes: u64) -> Self {
        let pr = Progress {
            matched: 0,
            next,
            sent_commit: 0,
            state: ProgressState::Probe,
            pending_snapshot: 0,
            recent_active: false,
            msg_app_flow_paused: false,
            inflights: Inflights::new(max_inflight, max_inflight_bytes),
            is_learner: false,
        };
        pr.debug_check();
        pr
    }

    /// Moves to `state`, unpausing the flow and clearing the pending snapshot and the inflight
    /// window.
    pub fn reset_state(&mut self, state: ProgressState) {
        self.msg_app_flow_paused = false;
        self.pending_snapshot = 0;
        self.state = state;
        self.inflights.reset();
    }

    /// Moves to [`ProgressState::Probe`] and probes from `matched + 1`, or from just past the
    /// pending snapshot when coming out of [`ProgressState::Snapshot`] (the snapshot was
    /// delivered, so the follower should now have everything up to it).
    pub fn become_probe(&mut self) {
        let after_snapshot = if self.state == ProgressState::Snapshot {
            self.pending_snapshot + 1
        } else {
            0
        };
        self.reset_state(ProgressState::Probe);
        self.next = (self.matched + 1).max(after_snapshot);
        self.sent_commit = self.sent_commit.min(self.next - 1);
        self.debug_check();
    }

    /// Moves to [`ProgressState::Replicate`], streaming from `matched + 1`.
    pub fn become_replicate(&mut self) {
        self.reset_state(ProgressState::Replicate);
        self.next = self.matched + 1;
        self.debug_check();
    }

    /// Moves to [`ProgressState::Snapshot`] after a snapshot at `snapshot_index` was sent, and
    /// points `next` just past it.
    ///
    /// The leader sends a snapshot because the entries after `next - 1` (so after `matched`) are
    /// compacted away, so normally `snapshot_index >= matched`. Should a storage hand out an
    /// older snapshot, `next` stays at `matched + 1` to keep `matched < next`.
    pub fn become_snapshot(&mut self, snapshot_index: u64) {
        self.reset_state(ProgressState::Snapshot);
        self.pending_snapshot = snapshot_index;
        self.next = snapshot_index.max(self.matched) + 1;
        self.sent_commit = snapshot_index;
        self.debug_check();
    }

    /// Records that an append with `entries` entries totalling `bytes` bytes was sent, starting
    /// at `next`.
    ///
    /// In [`ProgressState::Replicate`] the entries become inflight and the flow pauses when the
    /// window fills. In [`ProgressState::Probe`] a non-empty append pauses the flow until the
    /// follower answers. Appends are never sent in [`ProgressState::Snapshot`].
    pub fn sent_entries(&mut self, entries: usize, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                if entries > 0 {
                    self.next += entries as u64;
                    self.inflights.add(self.next - 1, bytes);
                }
                // A message that filled the window (or was sent while it was full) counts as a
                // probe: wait for an answer before sending more.
                self.msg_app_flow_paused = self.inflights.full();
            }
            ProgressState::Probe => {
                if entries > 0 {
                    self.msg_app_flow_paused = true;
                }
            }
            ProgressState::Snapshot => {
                debug_assert!(false, "invariant: no appends are sent in StateSnapshot");
            }
        }
        self.debug_check();
    }

    /// Returns whether sending commit index `index` could move the follower's commit index
    /// forward.
    ///
    /// A follower can commit at most up to `next - 1` (what it has or is about to have), so
    /// once a commit index that reaches that far was sent there is nothing more to tell.
    pub fn can_bump_commit(&self, index: u64) -> bool {
        index > self.sent_commit && self.sent_commit < self.next - 1
    }

    /// Records that commit index `commit` was sent to the follower.
    pub fn sent_commit(&mut self, commit: u64) {
        self.sent_commit = commit;
    }

    /// Handles an acknowledgement of the follower's log up to `n`. Returns false, changing
    /// nothing, when `n` is not news (an old or duplicated response); otherwise raises
    /// `matched` (and `next` if needed) and unpauses the flow.
    pub fn maybe_update(&mut self, n: u64) -> bool {
        if n <= self.matched {
            return false;
        }
        self.matched = n;
        self.next = self.next.max(n + 1);
        self.msg_app_flow_paused = false;
        self.debug_check();
        true
    }

    /// Handles the follower's rejection of the append whose previous index was `rejected`;
    /// `match_hint` is the follower's guess of where the logs may match.
    ///
    /// Returns false, changing nothing, when the rejection is stale (it concerns an index
    /// already known to match, or not the append now outstanding). Otherwise lowers `next`
    /// (never below `matched + 1`), regresses `sent_commit` accordingly and, in probing,
    /// unpauses the flow so the next probe goes out.
    pub fn maybe_decr_to(&mut self, rejected: u64, match_hint: u64) -> bool {
        if self.state == ProgressState::Replicate {
            // Streaming is optimistic: any rejection above `matched` means the follower's log
            // diverges after `matched`, so restart from there.
            if rejected <= self.matched {
                return false;
            }
            self.next = self.matched + 1;
        } else {
            // Outside replication, appends go one at a time: only a rejection of the latest
            // probe (whose previous index is `next - 1`) is current. Message reordering can
            // make this check wrong, which only costs another probe.
            if self.next - 1 != rejected {
                return false;
            }
            self.next = rejected
                .min(match_hint.saturating_add(1))
                .max(self.matched + 1);
            self.msg_app_flow_paused = false;
        }
        // A commit index sent beyond what the follower has was probably not applied.
        self.sent_commit = self.sent_commit.min(self.next - 1);
        self.debug_check();
        true
    }

    /// Returns whether sending appends is throttled: always in [`ProgressState::Snapshot`],
    /// otherwise while the flow is paused.
    pub fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe | ProgressState::Replicate => self.msg_app_flow_paused,
            ProgressState::Snapshot => true,
        }
    }

    /// Returns the heap memory this progress holds, in bytes.
    pub fn heap_bytes(&self) -> usize {
        self.inflights.heap_bytes()
    }

    /// Checks the progress invariant in debug builds.
    fn debug_check(&self) {
        debug_assert!(
            self.matched < self.next,
            "invariant: matched {} < next {}",
            self.matched,
            self.next
        );
    }
}

/// Prints etcd's form, e.g. `StateReplicate match=5 next=6 paused inflight=2[full]`.
impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} match={} next={}",
            self.state, self.matched, self.next
        )?;
        if self.is_learner {
            f.write_str(" learner")?;
        }
        if self.is_paused() {
            f.write_str(" paused")?;
        }
        if self.pending_snapshot > 0 {
            write!(f, " pendingSnap={}", self.pending_snapshot)?;
        }
        if !self.recent_active {
            f.write_str(" inactive")?;
        }
        let inflight = self.inflights.count();
        if inflight > 0 {
            write!(f, " inflight={inflight}")?;
            if self.inflights.full() {
                f.write_str("[full]")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(state: ProgressState, matched: u64, next: u64) -> Progress {
        let mut pr = Progress::new(next, 256, 0);
        pr.state = state;
        pr.matched = matched;
        pr
    }

    #[test]
    fn new_starts_probing_with_nothing_matched() {
        let pr = Progress::new(5, 16, 1024);
        assert_eq!((pr.matched, pr.next, pr.sent_commit), (0, 5, 0));
        assert_eq!(pr.state, ProgressState::Probe);
        assert!(!pr.recent_active && !pr.is_learner && !pr.is_paused());
        assert_eq!((pr.inflights.cap(), pr.inflights.max_bytes()), (16, 1024));
        assert_eq!(pr.heap_bytes(), 0);
    }

    #[test]
    fn display_lists_every_flag() {
        let mut pr = Progress::new(3, 1, 0);
        pr.matched = 2;
        pr.inflights.add(123, 1);
        pr.state = ProgressState::Snapshot;
        pr.pending_snapshot = 123;
        pr.is_learner = true;
        let want = "StateSnapshot match=2 next=3 learner paused pendingSnap=123 inactive \
                    inflight=1[full]";
        assert_eq!(pr.to_string(), want);
        let mut pr = Progress::new(6, 4, 0);
        pr.matched = 5;
        pr.state = ProgressState::Replicate;
        pr.recent_active = true;
        assert_eq!(pr.to_string(), "StateReplicate match=5 next=6");
    }

    #[test]
    fn is_paused_depends_on_state_and_flag() {
        let cases = [
            (ProgressState::Probe, false, false),
            (ProgressState::Probe, true, true),
            (ProgressState::Replicate, false, false),
            (ProgressState::Replicate, true, true),
            (ProgressState::Snapshot, false, true),
            (ProgressState::Snapshot, true, true),
        ];
        for (state, paused, want) in cases {
            let mut pr = progress(state, 0, 1);
            pr.msg_app_flow_paused = paused;
            assert_eq!(pr.is_paused(), want, "{state} paused={paused}");
        }
    }

    #[test]
    fn update_and_decr_unpause_the_flow() {
        let mut pr = progress(ProgressState::Probe, 0, 2);
        pr.msg_app_flow_paused = true;
        assert!(pr.maybe_decr_to(1, 1));
        assert!(!pr.msg_app_flow_paused);
        pr.msg_app_flow_paused = true;
        assert!(pr.maybe_update(2));
        assert!(!pr.msg_app_flow_paused);
    }

    #[test]
    fn become_probe_restarts_after_match_or_snapshot() {
        let mut pr = progress(ProgressState::Replicate, 1, 5);
        pr.become_probe();
        assert_eq!(
            (pr.state, pr.matched, pr.next),
            (ProgressState::Probe, 1, 2)
        );

        // The snapshot was delivered: probe right after it.
        let mut pr = progress(ProgressState::Probe, 1, 5);
        pr.become_snapshot(10);
        pr.become_probe();
        assert_eq!(
            (pr.state, pr.next, pr.pending_snapshot),
            (ProgressState::Probe, 11, 0)
        );

        // A snapshot at the matched index adds nothing: probe from matched + 1.
        let mut pr = progress(ProgressState::Probe, 1, 5);
        pr.become_snapshot(1);
        pr.become_probe();
        assert_eq!(pr.next, 2);
    }

    #[test]
    fn become_probe_regresses_sent_commit() {
        let mut pr = progress(ProgressState::Replicate, 3, 10);
        pr.sent_commit(8);
        pr.become_probe();
        assert_eq!((pr.next, pr.sent_commit), (4, 3));
    }

    #[test]
    fn become_replicate_streams_from_match() {
        let mut pr = progress(ProgressState::Probe, 1, 5);
        pr.msg_app_flow_paused = true;
        pr.become_replicate();
        assert_eq!(
            (pr.state, pr.matched, pr.next),
            (ProgressState::Replicate, 1, 2)
        );
        assert!(!pr.msg_app_flow_paused);
    }

    #[test]
    fn become_snapshot_points_next_past_snapshot() {
        let mut pr = progress(ProgressState::Replicate, 1, 5);
        pr.inflights.add(3, 10);
        pr.become_snapshot(10);
        assert_eq!(pr.state, ProgressState::Snapshot);
        assert_eq!(
            (pr.matched, pr.pending_snapshot, pr.next, pr.sent_commit),
            (1, 10, 11, 10)
        );
        assert!(pr.inflights.is_empty());
        assert!(pr.is_paused());
        assert!(
            !pr.can_bump_commit(12),
            "nothing to tell while the snapshot is pending"
        );
    }

    #[test]
    fn become_snapshot_older_than_match_keeps_next_ahead() {
        let mut pr = progress(ProgressState::Replicate, 8, 9);
        pr.become_snapshot(5);
        assert_eq!((pr.pending_snapshot, pr.next), (5, 9));
    }

    #[test]
    fn responses_in_snapshot_state_keep_next_above_match() {
        // Goal: the application may install a newer snapshot than the one the leader sent, and
        // the follower then acknowledges past it. Method: acknowledge beyond the pending
        // snapshot and check that next follows matched.
        let mut pr = progress(ProgressState::Probe, 1, 5);
        pr.become_snapshot(10);
        assert!(pr.maybe_update(15));
        assert_eq!(
            (pr.matched, pr.next, pr.state),
            (15, 16, ProgressState::Snapshot)
        );
        pr.become_probe();
        assert_eq!(pr.next, 16);
    }

    #[test]
    fn reset_state_clears_flow_control() {
        let mut pr = progress(ProgressState::Replicate, 1, 5);
        pr.inflights.add(4, 1);
        pr.msg_app_flow_paused = true;
        pr.pending_snapshot = 9;
        pr.reset_state(ProgressState::Probe);
        assert_eq!(pr.state, ProgressState::Probe);
        assert!(!pr.msg_app_flow_paused);
        assert_eq!((pr.pending_snapshot, pr.inflights.count()), (0, 0));
    }

    #[test]
    fn sent_entries_in_replicate_tracks_inflights() {
        let mut pr = Progress::new(1, 2, 0);
        pr.become_replicate();
        pr.sent_entries(3, 30);
        assert_eq!(
            (pr.next, pr.inflights.count(), pr.inflights.bytes()),
            (4, 1, 30)
        );
        assert!(!pr.msg_app_flow_paused);
        // An empty append (a probe of the commit index) changes nothing.
        pr.sent_entries(0, 0);
        assert_eq!((pr.next, pr.inflights.count()), (4, 1));
        pr.sent_entries(2, 5);
        assert_eq!(pr.next, 6);
        assert!(pr.inflights.full());
        assert!(pr.msg_app_flow_paused && pr.is_paused());
        // An acknowledgement frees the window; the next send unpauses the flow.
        assert!(pr.maybe_update(5));
        pr.inflights.free_le(5);
        pr.sent_entries(0, 0);
        assert!(!pr.msg_app_flow_paused);
    }

    #[test]
    fn sent_entries_respects_byte_budget() {
        let mut pr = Progress::new(1, 100, 64);
        pr.become_replicate();
        pr.sent_entries(1, 40);
        assert!(!pr.is_paused());
        pr.sent_entries(1, 40);
        assert!(
            pr.is_paused(),
            "80 bytes in flight exceed the 64-byte budget"
        );
    }

    #[test]
    fn sent_entries_in_probe_pauses_only_when_non_empty() {
        let mut pr = Progress::new(5, 8, 0);
        pr.sent_entries(0, 0);
        assert!(!pr.msg_app_flow_paused);
        pr.sent_entries(2, 20);
        assert!(pr.msg_app_flow_paused);
        assert_eq!(pr.next, 5, "probing does not move next optimistically");
        assert!(pr.inflights.is_empty());
    }

    #[test]
    fn can_bump_commit_until_follower_is_told_everything() {
        let mut pr = progress(ProgressState::Replicate, 5, 10);
        assert!(!pr.can_bump_commit(0));
        assert!(pr.can_bump_commit(3));
        pr.sent_commit(3);
        assert!(!pr.can_bump_commit(3));
        assert!(pr.can_bump_commit(4));
        // The follower can commit at most up to next - 1 = 9.
        pr.sent_commit(9);
        assert!(!pr.can_bump_commit(20));
        pr.next = 15;
        assert!(pr.can_bump_commit(20));
        // A commit index beyond next - 1 also covers everything.
        pr.sent_commit(20);
        assert!(!pr.can_bump_commit(25));
    }

    #[test]
    fn maybe_update_only_moves_forward() {
        // (acked, want matched, want next, want updated), starting from matched 3, next 5.
        let cases = [
            (2, 3, 5, false),
            (3, 3, 5, false),
            (4, 4, 5, true),
            (5, 5, 6, true),
        ];
        for (acked, matched, next, updated) in cases {
            let mut pr = progress(ProgressState::Probe, 3, 5);
            assert_eq!(pr.maybe_update(acked), updated, "acked {acked}");
            assert_eq!((pr.matched, pr.next), (matched, next), "acked {acked}");
        }
    }

    #[test]
    fn maybe_decr_to_in_replicate_falls_back_to_match() {
        // (matched, next, rejected, hint, want decreased, want next)
        let cases = [
            (5, 10, 5, 5, false, 10),
            (5, 10, 4, 4, false, 10),
            (5, 10, 9, 9, true, 6),
        ];
        for (matched, next, rejected, hint, decreased, want_next) in cases {
            let mut pr = progress(ProgressState::Replicate, matched, next);
            assert_eq!(
                pr.maybe_decr_to(rejected, hint),
                decreased,
                "rejected {rejected}"
            );
            assert_eq!(
                (pr.matched, pr.next),
                (matched, want_next),
                "rejected {rejected}"
            );
        }
    }

    #[test]
    fn maybe_decr_to_in_probe_follows_the_hint() {
        // (matched, next, rejected, hint, want decreased, want next)
        let cases = [
            (0, 10, 5, 5, false, 10), // Not the outstanding probe: stale.
            (0, 10, 9, 9, true, 9),   // Step back by one.
            (0, 2, 1, 1, true, 1),
            (0, 1, 0, 0, true, 1),  // Never below 1.
            (0, 10, 9, 2, true, 3), // Jump to hint + 1.
            (0, 10, 9, 0, true, 1),
            (5, 10, 9, 2, true, 6), // Never below matched + 1, whatever the hint.
            (0, 10, 9, u64::MAX, true, 9),
        ];
        for (matched, next, rejected, hint, decreased, want_next) in cases {
            let mut pr = progress(ProgressState::Probe, matched, next);
            assert_eq!(
                pr.maybe_decr_to(rejected, hint),
                decreased,
                "{rejected}/{hint}"
            );
            assert_eq!(
                (pr.matched, pr.next),
                (matched, want_next),
                "{rejected}/{hint}"
            );
        }
    }

    #[test]
    fn maybe_decr_to_regresses_sent_commit() {
        let mut pr = progress(ProgressState::Replicate, 2, 10);
        pr.sent_commit(8);
        assert!(pr.maybe_decr_to(9, 3));
        assert_eq!((pr.next, pr.sent_commit), (3, 2));
        let mut pr = progress(ProgressState::Probe, 0, 10);
        pr.sent_commit(9);
        assert!(pr.maybe_decr_to(9, 4));
        assert_eq!((pr.next, pr.sent_commit), (5, 4));
    }

    #[test]
    fn rejected_stale_decrement_changes_nothing() {
        let mut pr = progress(ProgressState::Probe, 3, 10);
        pr.msg_app_flow_paused = true;
        pr.sent_commit(7);
        let before = pr.clone();
        assert!(!pr.maybe_decr_to(4, 3));
        assert_eq!(pr, before);
    }
}
