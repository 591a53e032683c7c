//! Requests a peer holds until the log answers them: proposals waiting to be applied and reads
//! waiting for their read index to be confirmed and applied.
//!
//! Reads are named by a per-peer counter that never repeats, so a confirmation can only answer
//! the read it was asked for (pitfall 3: a reused request id lets an old confirmation answer a
//! new read).

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::{Callback, Proposal, Request};

/// A read waiting for its read index.
#[derive(Debug)]
pub struct PendingRead {
    /// The id sent to the core as the read's context.
    pub id: u64,
    /// What to read.
    pub request: Request,
    /// When to give up.
    pub deadline: Instant,
    /// When the read was asked of the core: a confirmation proves leadership at this time.
    pub asked_at: Instant,
    /// Where the answer goes.
    pub callback: Callback,
    /// The confirmed read index, once the leader heard a quorum for it.
    pub read_index: Option<u64>,
}

/// Reads in the order they were asked.
#[derive(Debug, Default)]
pub struct PendingReads {
    reads: VecDeque<PendingRead>,
    next_id: u64,
}

impl PendingReads {
    /// Frees the spare room of the queue (the region went quiet).
    pub fn shrink_to_fit(&mut self) {
        self.reads.shrink_to_fit();
    }

    /// A fresh id for a new read.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// Queues a read.
    pub fn push(&mut self, read: PendingRead) {
        self.reads.push_back(read);
    }

    /// Records the confirmation of read `id` at `index`; returns when the read was asked, or
    /// `None` for an unknown id (answered or timed out already).
    pub fn confirm(&mut self, id: u64, index: u64) -> Option<Instant> {
        let read = self.reads.iter_mut().find(|r| r.id == id)?;
        read.read_index = Some(index);
        Some(read.asked_at)
    }

    /// Takes the reads whose confirmed index is at or below `applied`: they can be served now.
    pub fn take_ready(&mut self, applied: u64) -> Vec<PendingRead> {
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .reads
            .drain(..)
            .partition(|r| r.read_index.is_some_and(|i| i <= applied));
        self.reads = waiting.into();
        ready
    }

    /// Takes the reads not yet confirmed (their leader stepped down: they will never be).
    pub fn take_unconfirmed(&mut self) -> Vec<PendingRead> {
        let (unconfirmed, confirmed): (Vec<_>, Vec<_>) =
            self.reads.drain(..).partition(|r| r.read_index.is_none());
        self.reads = confirmed.into();
        unconfirmed
    }

    /// Takes the reads past their deadline.
    pub fn take_expired(&mut self, now: Instant) -> Vec<PendingRead> {
        let (expired, live): (Vec<_>, Vec<_>) =
            self.reads.drain(..).partition(|r| r.deadline <= now);
        self.reads = live.into();
        expired
    }

    /// Takes every read.
    pub fn take_all(&mut self) -> Vec<PendingRead> {
        self.reads.drain(..).collect()
    }

    /// Reads waiting.
    pub fn len(&self) -> usize {
        self.reads.len()
    }

    /// Whether no read waits.
    pub fn is_empty(&self) -> bool {
        self.reads.is_empty()
    }
}

/// Proposals in index order, with their deadlines.
#[derive(Debug, Default)]
pub struct PendingProposals {
    proposals: VecDeque<(Proposal, Instant)>,
}

impl PendingProposals {
    /// Frees the spare room of the queue (the region went quiet).
    pub fn shrink_to_fit(&mut self) {
        self.proposals.shrink_to_fit();
    }

    /// Queues a proposal made at a higher index than every queued one.
    pub fn push(&mut self, proposal: Proposal, deadline: Instant) {
        debug_assert!(
            self.proposals
                .back()
                .is_none_or(|(p, _)| p.index < proposal.index || p.term < proposal.term),
            "proposals are queued in log order"
        );
        self.proposals.push_back((proposal, deadline));
    }

    /// Takes the proposals with index at or below `index` (the apply side answers them).
    ///
    /// A proposal at a lower index than an earlier one (a new term's leader reused the index)
    /// comes out too: the apply side compares terms.
    pub fn take_up_to(&mut self, index: u64) -> Vec<Proposal> {
        let (taken, kept): (Vec<_>, Vec<_>) = self
            .proposals
            .drain(..)
            .partition(|(p, _)| p.index <= index);
        self.proposals = kept.into();
        taken.into_iter().map(|(p, _)| p).collect()
    }

    /// Takes the proposals past their deadline.
    pub fn take_expired(&mut self, now: Instant) -> Vec<Proposal> {
        let (expired, live): (Vec<_>, Vec<_>) =
            self.proposals.drain(..).partition(|(_, d)| *d <= now);
        self.proposals = live.into();
        expired.into_iter().map(|(p, _)| p).collect()
    }

    /// Takes every proposal.
    pub fn take_all(&mut self) -> Vec<Proposal> {
        self.proposals.drain(..).map(|(p, _)| p).collect()
    }

    /// Proposals waiting.
    pub fn len(&self) -> usize {
        self.proposals.len()
    }

    /// Whether no proposal waits.
    pub fn is_empty(&self) -> bool {
        self.proposals.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;

    fn read(reads: &mut PendingReads, deadline: Instant) -> u64 {
        let id = reads.next_id();
        reads.push(PendingRead {
            id,
            request: Request::Get(Bytes::from_static(b"k")),
            deadline,
            asked_at: deadline,
            callback: Callback::new().0,
            read_index: None,
        });
        id
    }

    #[test]
    fn reads_are_served_once_confirmed_and_applied() {
        let later = Instant::now() + Duration::from_mins(1);
        let mut reads = PendingReads::default();
        let a = read(&mut reads, later);
        let b = read(&mut reads, later);
        assert_ne!(a, b, "ids never repeat");
        assert!(reads.confirm(b, 10).is_some());
        assert!(reads.take_ready(9).is_empty());
        let ready = reads.take_ready(10);
        assert_eq!(ready.iter().map(|r| r.id).collect::<Vec<_>>(), vec![b]);
        reads.confirm(b, 11);
        assert_eq!(
            reads.len(),
            1,
            "a late confirmation of an answered read is ignored"
        );
        assert_eq!(reads.take_unconfirmed().len(), 1);
        assert!(reads.is_empty());
    }

    #[test]
    fn expired_reads_and_proposals_come_out() {
        let now = Instant::now();
        let mut reads = PendingReads::default();
        read(&mut reads, now);
        read(&mut reads, now + Duration::from_mins(1));
        assert_eq!(reads.take_expired(now).len(), 1);
        assert_eq!(reads.len(), 1);

        let mut proposals = PendingProposals::default();
        for index in 1..=3 {
            let proposal = Proposal {
                index,
                term: 1,
                callback: Callback::new().0,
            };
            let deadline = if index == 2 {
                now
            } else {
                now + Duration::from_mins(1)
            };
            proposals.push(proposal, deadline);
        }
        assert_eq!(proposals.take_expired(now).len(), 1);
        let taken: Vec<u64> = proposals.take_up_to(3).iter().map(|p| p.index).collect();
        assert_eq!(taken, vec![1, 3]);
        assert!(proposals.is_empty());
    }
}
