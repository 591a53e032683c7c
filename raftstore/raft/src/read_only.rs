//! Read-index rounds: how a leader proves it is still the leader before answering reads.
//!
//! In [`ReadOnlyOption::Safe`] mode every read request waits for one heartbeat round that a
//! quorum acknowledges after the request arrived. Requests that arrive before the next `Ready` is
//! built share one round (the round is *opened* by the first request and *sent* when the
//! application asks for a `Ready`), so a burst of reads costs one heartbeat per follower.
//!
//! Rounds are named by a leader-chosen counter, never by the application's request context: a
//! request retried with the same context can only be answered by a round that started after it
//! (the bug behind etcd#20418).
//!
//! ```text
//!  read_index(ctx) ──► open round ──(ready)──► sent: heartbeats carry round id ──► quorum acks
//!                        ▲ later requests join                                        │
//!                        └──────────────────────── ReadState{index, ctx} per request ◄─┘
//! ```

use std::collections::VecDeque;

use bytes::Bytes;

use crate::raftpb::Message;

/// How a leader answers read-index requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadOnlyOption {
    /// A quorum acknowledges a heartbeat round sent after the request: always linearizable.
    #[default]
    Safe,
    /// The leader answers at once, trusting that it is still leader because `CheckQuorum`
    /// would have made it step down otherwise (as in etcd). This is weaker than it sounds: a
    /// leader checks its quorum once per election timeout, so it may trust itself for up to two
    /// election timeouts after it last heard from a quorum, while followers may elect a new
    /// leader after one (etcd-io/raft#166). The randomized simulator reports such stale lease
    /// reads separately (`SIM_STRICT_LEASE=1` makes them fail). Use it only with a lease kept
    /// by the application on real clocks, as the store does; otherwise use `Safe`.
    LeaseBased,
}

/// The answer to a read-index request: the read may be served once the state machine has
/// applied `index`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadState {
    /// The commit index at the time the read was confirmed.
    pub index: u64,
    /// The context the application gave the request.
    pub request_ctx: Bytes,
}

/// A heartbeat round and the requests waiting on it.
#[derive(Debug)]
struct ReadRound {
    /// The round's name, carried by heartbeats as 8 big-endian bytes.
    id: u64,
    /// The commit index captured when the round was sent; meaningless before.
    index: u64,
    /// The `MsgReadIndex` requests answered by this round.
    requests: Vec<Message>,
    /// The voters that acknowledged the round (the leader included).
    acks: Vec<u64>,
    /// Whether heartbeats for the round have gone out.
    sent: bool,
}

/// The read-index rounds of a leader, oldest first.
///
/// Invariant: at most one round is unsent and it is the newest; rounds are ordered by id.
#[derive(Debug)]
pub struct ReadOnly {
    /// How reads are answered.
    pub option: ReadOnlyOption,
    rounds: VecDeque<ReadRound>,
    next_round_id: u64,
}

/// One request confirmed by a round, with the index it may read at.
pub(crate) struct ConfirmedRead {
    pub(crate) request: Message,
    pub(crate) index: u64,
}

impl ReadOnly {
    /// No rounds, reads answered per `option`.
    pub fn new(option: ReadOnlyOption) -> ReadOnly {
        ReadOnly {
            option,
            rounds: VecDeque::new(),
            next_round_id: 1,
        }
    }

    /// Adds a request to the open round, opening one if every round was already sent.
    pub(crate) fn add_request(&mut self, request: Message) {
        if let Some(round) = self.rounds.back_mut().filter(|r| !r.sent) {
            round.requests.push(request);
            return;
        }
        let id = self.next_round_id;
        self.next_round_id += 1;
        self.rounds.push_back(ReadRound {
            id,
            index: 0,
            requests: vec![request],
            acks: Vec::new(),
            sent: false,
        });
    }

    /// Whether a round waits to be sent.
    pub fn has_unsent_round(&self) -> bool {
        self.rounds.back().is_some_and(|r| !r.sent)
    }

    /// Marks the open round sent at `commit`, acknowledged by `self_id`, and returns the
    /// context its heartbeats carry.
    pub(crate) fn send_round(&mut self, commit: u64, self_id: u64) -> Option<Bytes> {
        let round = self.rounds.back_mut().filter(|r| !r.sent)?;
        round.sent = true;
        round.index = commit;
        round.acks.push(self_id);
        Some(round_ctx(round.id))
    }

    /// The context of the newest sent round, which periodic heartbeats repeat so that a lost
    /// heartbeat does not strand the reads.
    pub fn last_pending_ctx(&self) -> Option<Bytes> {
        self.rounds
            .iter()
            .rev()
            .find(|r| r.sent)
            .map(|r| round_ctx(r.id))
    }

    /// Records that `from` acknowledged the round named by `ctx` and returns every voter that
    /// acknowledged it so far, or `None` if no such round is pending.
    pub(crate) fn recv_ack(&mut self, from: u64, ctx: &[u8]) -> Option<&[u64]> {
        let id = parse_round_ctx(ctx)?;
        let round = self.rounds.iter_mut().find(|r| r.id == id && r.sent)?;
        if !round.acks.contains(&from) {
            round.acks.push(from);
        }
        Some(&round.acks)
    }

    /// Removes the round named by `ctx` and every older one (a quorum for a later round proves
    /// leadership for the earlier ones too) and returns their requests.
    pub(crate) fn advance(&mut self, ctx: &[u8]) -> Vec<ConfirmedRead> {
        let Some(id) = parse_round_ctx(ctx) else {
            return Vec::new();
        };
        let mut confirmed = Vec::new();
        while self.rounds.front().is_some_and(|r| r.id <= id && r.sent) {
            let Some(round) = self.rounds.pop_front() else {
                break;
            };
            let index = round.index;
            confirmed.extend(
                round
                    .requests
                    .into_iter()
                    .map(|request| ConfirmedRead { request, index }),
            );
        }
        confirmed
    }

    /// The number of requests waiting on a round.
    pub fn pending_read_count(&self) -> usize {
        self.rounds.iter().map(|r| r.requests.len()).sum()
    }

    /// Drops every round (on a change of term or role); callers retry their reads.
    pub(crate) fn reset(&mut self) {
        self.rounds.clear();
    }
}

fn round_ctx(id: u64) -> Bytes {
    Bytes::copy_from_slice(&id.to_be_bytes())
}

fn parse_round_ctx(ctx: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = ctx.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raftpb::{Entry, MessageType};

    fn request(ctx: &'static [u8]) -> Message {
        let mut m = Message::of_type(MessageType::MsgReadIndex);
        m.entries.push(Entry::new(0, 0, Bytes::from_static(ctx)));
        m
    }

    #[test]
    fn requests_before_a_send_share_one_round() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        ro.add_request(request(b"b"));
        assert!(ro.has_unsent_round());
        let ctx = ro.send_round(7, 1).unwrap();
        assert!(!ro.has_unsent_round());
        assert_eq!(ro.recv_ack(2, &ctx).unwrap(), &[1, 2]);
        let confirmed = ro.advance(&ctx);
        assert_eq!(confirmed.len(), 2);
        assert!(confirmed.iter().all(|c| c.index == 7));
        assert_eq!(ro.pending_read_count(), 0);
    }

    #[test]
    fn a_request_after_a_send_opens_a_new_round() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        let first = ro.send_round(5, 1).unwrap();
        ro.add_request(request(b"a"));
        let second = ro.send_round(9, 1).unwrap();
        assert_ne!(first, second);
        // A quorum for the first round must not answer the request of the second, even though
        // both carry the same application context.
        let confirmed = ro.advance(&first);
        assert_eq!(confirmed.len(), 1);
        assert_eq!(confirmed[0].index, 5);
        assert_eq!(ro.pending_read_count(), 1);
        let confirmed = ro.advance(&second);
        assert_eq!(confirmed[0].index, 9);
    }

    #[test]
    fn a_later_round_confirms_earlier_ones() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        ro.send_round(3, 1).unwrap();
        ro.add_request(request(b"b"));
        let second = ro.send_round(4, 1).unwrap();
        let confirmed = ro.advance(&second);
        let indexes: Vec<u64> = confirmed.iter().map(|c| c.index).collect();
        assert_eq!(indexes, vec![3, 4]);
    }

    #[test]
    fn unknown_or_malformed_contexts_are_ignored() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        assert!(ro.recv_ack(2, b"short").is_none());
        // An unsent round cannot be acknowledged.
        assert!(ro.recv_ack(2, &round_ctx(1)).is_none());
        assert!(ro.advance(&round_ctx(1)).is_empty());
        let ctx = ro.send_round(1, 1).unwrap();
        assert!(ro.recv_ack(2, &round_ctx(99)).is_none());
        assert_eq!(ro.last_pending_ctx(), Some(ctx));
    }

    #[test]
    fn duplicate_acks_count_once() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        let ctx = ro.send_round(1, 1).unwrap();
        ro.recv_ack(2, &ctx);
        assert_eq!(ro.recv_ack(2, &ctx).unwrap().len(), 2);
    }

    #[test]
    fn reset_drops_every_round() {
        let mut ro = ReadOnly::new(ReadOnlyOption::Safe);
        ro.add_request(request(b"a"));
        ro.send_round(1, 1);
        ro.add_request(request(b"b"));
        ro.reset();
        assert_eq!(ro.pending_read_count(), 0);
        assert!(!ro.has_unsent_round());
        assert!(ro.last_pending_ctx().is_none());
    }
}
