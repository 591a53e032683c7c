//! Lease reads: a leader that heard a quorum recently serves reads from its own engine, on the
//! caller's thread, without a round of messages.
//!
//! The lease rests on time: when a quorum acknowledges something the leader sent at time `t`
//! (a read-index round, or an entry proposed at `t` and now committed), no other peer can become
//! leader before `t + election timeout`, because those followers heard from this leader at or
//! after `t` and do not campaign for an election timeout after that. The leader trusts itself
//! until `t + lease` where `lease = election timeout - margin`, the margin covering clock drift
//! between stores. `CheckQuorum` is on, so a cut-off leader also steps down by itself.
//!
//! A lease read also needs the leader to have applied everything acknowledged before it: any
//! write acknowledged by this leader was applied here first, and writes acknowledged by earlier
//! leaders are below the first entry of this leader's term, so the leader must have applied
//! that entry.
//!
//! The lease is dropped when the peer stops leading, and for the rest of the term once a
//! leadership transfer starts (pitfall 4): a `MsgTimeoutNow` of this term may arrive late and
//! let the transferee win at any time, without waiting an election timeout, so no later round
//! of the same term can vouch for the lease. Reads then go through read-index, which is always
//! safe.

use std::sync::Arc;
use std::time::Instant;

use engine::Region;
use parking_lot::Mutex;

/// What a caller's thread needs to decide on a local read of one region.
#[derive(Debug, Default)]
pub struct ReadDelegate {
    state: Mutex<DelegateState>,
}

#[derive(Debug, Default)]
struct DelegateState {
    region: Arc<Region>,
    /// The lease end, while this peer leads and no transfer is in progress.
    lease_until: Option<Instant>,
    /// Applied index of the peer.
    applied_index: u64,
    /// The index of the first entry of the leader's term; reads wait until it is applied.
    term_start_index: u64,
    /// A transfer started in this term: no lease until the next term.
    suspended: bool,
}

impl ReadDelegate {
    /// The delegate of `region`, with no lease.
    pub fn new(region: Arc<Region>) -> ReadDelegate {
        ReadDelegate {
            state: Mutex::new(DelegateState {
                region,
                ..DelegateState::default()
            }),
        }
    }

    /// The region as its peer last set it, if a local read may be served now; `None` sends the
    /// read through the peer.
    pub fn region_for_local_read(&self, now: Instant) -> Option<Arc<Region>> {
        let state = self.state.lock();
        let valid = state.lease_until.is_some_and(|until| now < until)
            && state.term_start_index > 0
            && state.applied_index >= state.term_start_index;
        valid.then(|| state.region.clone())
    }

    /// The peer became leader of a term that starts at `term_start_index`; no lease yet.
    pub fn on_leader(&self, term_start_index: u64) {
        let mut state = self.state.lock();
        state.term_start_index = term_start_index;
        state.lease_until = None;
        state.suspended = false;
    }

    /// A leadership transfer started: no lease for the rest of the term.
    pub fn suspend_for_term(&self) {
        let mut state = self.state.lock();
        state.lease_until = None;
        state.suspended = true;
    }

    /// The peer stopped leading.
    pub fn on_not_leader(&self) {
        let mut state = self.state.lock();
        state.lease_until = None;
        state.term_start_index = 0;
    }

    /// A quorum acknowledged what the leader sent at `sent_at`: extend the lease to
    /// `sent_at + lease`, never shortening it.
    pub fn renew(&self, until: Instant) {
        let mut state = self.state.lock();
        if state.term_start_index == 0 || state.suspended {
            return;
        }
        if state.lease_until.is_none_or(|current| current < until) {
            state.lease_until = Some(until);
        }
    }

    /// The peer applied up to `index`.
    pub fn set_applied(&self, index: u64) {
        self.state.lock().applied_index = index;
    }

    /// The peer's region changed.
    pub fn set_region(&self, region: Arc<Region>) {
        self.state.lock().region = region;
    }

    /// Whether a lease is held (for tests and status).
    pub fn has_lease(&self, now: Instant) -> bool {
        self.state
            .lock()
            .lease_until
            .is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_lease_needs_leadership_renewal_and_the_term_start_applied() {
        let now = Instant::now();
        let lease = ReadDelegate::new(Arc::default());
        lease.renew(now + Duration::from_secs(1));
        assert!(lease.region_for_local_read(now).is_none(), "not a leader");
        lease.on_leader(7);
        assert!(lease.region_for_local_read(now).is_none(), "no renewal yet");
        lease.renew(now + Duration::from_secs(1));
        assert!(
            lease.region_for_local_read(now).is_none(),
            "the term's first entry is not applied"
        );
        lease.set_applied(7);
        assert!(lease.region_for_local_read(now).is_some());
        assert!(
            lease
                .region_for_local_read(now + Duration::from_secs(1))
                .is_none(),
            "the lease ends"
        );
    }

    #[test]
    fn renewals_never_shorten_and_a_transfer_suspends_the_term() {
        let now = Instant::now();
        let lease = ReadDelegate::new(Arc::default());
        lease.on_leader(1);
        lease.set_applied(1);
        lease.renew(now + Duration::from_secs(2));
        lease.renew(now + Duration::from_secs(1));
        assert!(lease.has_lease(now + Duration::from_millis(1500)));
        lease.suspend_for_term();
        assert!(lease.region_for_local_read(now).is_none());
        lease.renew(now + Duration::from_secs(3));
        assert!(
            !lease.has_lease(now),
            "no renewal in the term of a transfer"
        );
        lease.on_leader(9);
        lease.renew(now + Duration::from_secs(1));
        assert!(lease.has_lease(now), "a new term renews again");
        lease.on_not_leader();
        lease.renew(now + Duration::from_secs(1));
        assert!(!lease.has_lease(now), "a follower never holds a lease");
    }
}
