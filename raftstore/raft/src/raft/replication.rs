//! Moving the log: appending proposals, sending appends, heartbeats and snapshots, and
//! accepting them on followers.
//!
//! Each follower's [`crate::tracker::Progress`] decides what it gets: in probe state one append
//! per heartbeat interval until a match is found, in replicate state a pipeline of appends
//! bounded by the inflight window (messages and bytes), in snapshot state nothing until the
//! snapshot is reported.

use tracing::{debug, error, info, warn};

use super::{Raft, StateRole};
use crate::confchange;
use crate::errors::{Error, StorageError};
use crate::raftpb::{Entry, Message, MessageType, Snapshot};
use crate::storage::Storage;
use crate::tracker::ProgressTracker;

impl<S: Storage> Raft<S> {
    /// Appends entries at the end of the leader's log in the current term. Returns false,
    /// changing nothing, when the uncommitted size limit refuses them.
    pub(crate) fn append_entries(&mut self, mut entries: Vec<Entry>) -> bool {
        let last_index = self.raft_log.last_index();
        for (i, e) in entries.iter_mut().enumerate() {
            e.term = self.term;
            e.index = last_index + 1 + i as u64;
        }
        if !self.increase_uncommitted_size(&entries) {
            return false;
        }
        let last_index = self.raft_log.append_owned(entries);
        self.ack_own_append(last_index);
        true
    }

    /// Queues the leader's acknowledgement of its own entries, delivered once they are
    /// durable. Consecutive acknowledgements merge: the later one implies the earlier.
    fn ack_own_append(&mut self, index: u64) {
        if let Some(last) = self.msgs_after_append.last_mut()
            && last.to == self.id
            && last.kind() == MessageType::MsgAppResp
            && last.term == self.term
        {
            debug_assert!(last.index < index, "invariant: own appends grow the log");
            last.index = index;
            return;
        }
        self.send(Message {
            to: self.id,
            index,
            ..Message::of_type(MessageType::MsgAppResp)
        });
    }

    /// Counts the payloads against `max_uncommitted_entries_size`. An empty tail accepts any
    /// proposal, and empty payloads are always accepted (the leader's first entry, leaving a
    /// joint configuration).
    fn increase_uncommitted_size(&mut self, entries: &[Entry]) -> bool {
        let size: u64 = entries.iter().map(Entry::payload_size).sum();
        if self.uncommitted_size > 0
            && size > 0
            && self.uncommitted_size + size > self.max_uncommitted_size
        {
            return false;
        }
        self.uncommitted_size += size;
        true
    }

    /// Sends an append (possibly empty, to carry the commit index) to `to`.
    pub(crate) fn send_append(&mut self, to: u64) {
        self.maybe_send_append(to, true);
    }

    /// Sends the next append to `to` if its progress allows. Empty appends are sent only when
    /// `send_if_empty`. Returns whether a message went out.
    pub(crate) fn maybe_send_append(&mut self, to: u64, send_if_empty: bool) -> bool {
        let Some(pr) = self.prs.get(to) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let prev_index = pr.next - 1;
        let replicating = pr.state == crate::tracker::ProgressState::Replicate;
        let matched = pr.matched;
        let Ok(prev_term) = self.raft_log.term(prev_index) else {
            // The log was compacted past what the follower needs.
            return self.maybe_send_snapshot(to);
        };
        // With a full window only empty appends go out, so the commit index still flows and a
        // window full of lost messages cannot stall the follower for good.
        let window_full =
            pr.state == crate::tracker::ProgressState::Replicate && pr.inflights.full();
        let entries = if window_full {
            Vec::new()
        } else {
            match self.raft_log.entries(pr.next, self.max_msg_size) {
                Ok(entries) => entries,
                Err(_) => return self.maybe_send_snapshot(to),
            }
        };
        if entries.is_empty() && !send_if_empty {
            return false;
        }
        let count = entries.len();
        let bytes: u64 = entries.iter().map(Entry::payload_size).sum();
        let commit = self.raft_log.committed;
        // An empty append to a follower known to match here only carries the commit index;
        // its answer would tell nothing, so the follower is told not to send one.
        let commit_only = count == 0 && replicating && matched == prev_index;
        self.send(Message {
            to,
            index: prev_index,
            log_term: prev_term,
            entries,
            commit,
            commit_only,
            ..Message::of_type(MessageType::MsgApp)
        });
        let pr = self
            .prs
            .get_mut(to)
            .expect("invariant: progress checked above");
        pr.sent_entries(count, bytes);
        pr.sent_commit(commit);
        true
    }

    fn maybe_send_snapshot(&mut self, to: u64) -> bool {
        let Some(pr) = self.prs.get(to) else {
            return false;
        };
        if !pr.recent_active {
            debug!(
                raft_id = self.id,
                to, "not sending snapshot to an inactive peer"
            );
            return false;
        }
        let request_index = pr.next.saturating_sub(1);
        let snapshot = match self.raft_log.snapshot(request_index, to) {
            Ok(snapshot) => snapshot,
            Err(Error::Storage(StorageError::SnapshotTemporarilyUnavailable)) => {
                debug!(raft_id = self.id, to, "snapshot temporarily unavailable");
                return false;
            }
            Err(err) => {
                error!(raft_id = self.id, to, error = %err, "cannot get snapshot");
                return false;
            }
        };
        if snapshot.is_empty() {
            error!(raft_id = self.id, to, "storage returned an empty snapshot");
            return false;
        }
        let (index, term) = (snapshot.index(), snapshot.term());
        let pr = self
            .prs
            .get_mut(to)
            .expect("invariant: progress checked above");
        pr.become_snapshot(index);
        debug!(raft_id = self.id, to, index, term, "sent snapshot");
        self.send(Message {
            to,
            snapshot: Some(Box::new(snapshot)),
            ..Message::of_type(MessageType::MsgSnap)
        });
        true
    }

    /// Sends appends to every peer that needs them.
    pub(crate) fn bcast_append(&mut self) {
        let mut i = 0;
        while let Some(id) = self.peer_at(i) {
            i += 1;
            self.send_append(id);
        }
    }

    /// Tells every peer about a new commit index. A replicating follower with appends in
    /// flight is skipped unless there is something new to send: its acknowledgement will bring
    /// it the commit index (see `Progress::can_bump_commit`), one message instead of two.
    pub(crate) fn bcast_commit(&mut self) {
        let mut i = 0;
        while let Some(id) = self.peer_at(i) {
            i += 1;
            let awaiting_ack = self.prs.get(id).is_some_and(|pr| {
                pr.state == crate::tracker::ProgressState::Replicate && !pr.inflights.is_empty()
            });
            self.maybe_send_append(id, !awaiting_ack);
        }
    }

    /// The id of the `i`-th member other than this node, in id order: a way to visit the
    /// peers while sending to them, without allocating a list first. Membership does not change
    /// while messages are sent, so positions are stable during a visit.
    fn peer_at(&self, i: usize) -> Option<u64> {
        let id = self.prs.progress.id_at(i)?;
        if id < self.id {
            return Some(id);
        }
        // Positions at or past this node's own shift by one when it is a member.
        if self.prs.progress.get(self.id).is_some() {
            self.prs.progress.id_at(i + 1)
        } else {
            Some(id)
        }
    }

    /// Sends heartbeats, repeating the newest read round so a lost heartbeat does not strand
    /// reads.
    pub(crate) fn bcast_heartbeat(&mut self) {
        let ctx = self.read_only.last_pending_ctx().unwrap_or_default();
        self.bcast_heartbeat_with_ctx(&ctx);
    }

    pub(crate) fn bcast_heartbeat_with_ctx(&mut self, ctx: &bytes::Bytes) {
        let mut i = 0;
        while let Some(id) = self.peer_at(i) {
            i += 1;
            self.send_heartbeat(id, ctx.clone());
        }
    }

    fn send_heartbeat(&mut self, to: u64, context: bytes::Bytes) {
        let Some(pr) = self.prs.get_mut(to) else {
            return;
        };
        // Never tell a follower to commit past what it is known to hold.
        let commit = pr.matched.min(self.raft_log.committed);
        pr.sent_commit(commit);
        self.send(Message {
            to,
            commit,
            context,
            ..Message::of_type(MessageType::MsgHeartbeat)
        });
    }

    /// Follower: accepts or rejects an append from the leader.
    pub(crate) fn handle_append_entries(&mut self, mut m: Message) {
        if m.index < self.raft_log.committed {
            self.send(Message {
                to: m.from,
                index: self.raft_log.committed,
                ..Message::of_type(MessageType::MsgAppResp)
            });
            return;
        }
        let entries = std::mem::take(&mut m.entries);
        let appended_nothing = entries.is_empty();
        if let Some(last) = self
            .raft_log
            .maybe_append_owned(m.index, m.log_term, m.commit, entries)
        {
            if !(m.commit_only && appended_nothing && last == m.index) {
                self.send(Message {
                    to: m.from,
                    index: last,
                    ..Message::of_type(MessageType::MsgAppResp)
                });
            }
            return;
        }
        debug!(
            raft_id = self.id,
            index = m.index,
            log_term = m.log_term,
            from = m.from,
            "rejected append"
        );
        // Hint the largest (index, term) at or below the probe whose term is at most the
        // leader's: everything above it in this log cannot match.
        let hint_index = m.index.min(self.raft_log.last_index());
        let (hint_index, hint_term) = self.raft_log.find_conflict_by_term(hint_index, m.log_term);
        self.send(Message {
            to: m.from,
            index: m.index,
            reject: true,
            reject_hint: hint_index,
            log_term: hint_term,
            ..Message::of_type(MessageType::MsgAppResp)
        });
    }

    pub(crate) fn handle_heartbeat(&mut self, m: &Message) {
        // The leader bounds the commit by our match, but a message may be stale: never commit
        // beyond the local log.
        let commit = m.commit.min(self.raft_log.last_index());
        if commit > self.raft_log.committed {
            self.raft_log.commit_to(commit);
        }
        self.send(Message {
            to: m.from,
            context: m.context.clone(),
            ..Message::of_type(MessageType::MsgHeartbeatResp)
        });
    }

    pub(crate) fn handle_snapshot(&mut self, m: Message) {
        let snapshot = m.snapshot.map(|s| *s).unwrap_or_default();
        let (index, term) = (snapshot.index(), snapshot.term());
        if self.restore(snapshot) {
            info!(raft_id = self.id, index, term, "restored snapshot");
            let last = self.raft_log.last_index();
            self.send(Message {
                to: m.from,
                index: last,
                ..Message::of_type(MessageType::MsgAppResp)
            });
        } else {
            info!(
                raft_id = self.id,
                index,
                term,
                commit = self.raft_log.committed,
                "ignored snapshot"
            );
            let committed = self.raft_log.committed;
            self.send(Message {
                to: m.from,
                index: committed,
                ..Message::of_type(MessageType::MsgAppResp)
            });
        }
    }

    /// Installs a snapshot as the new base of the log. Returns false if it was ignored: not
    /// newer than the commit index (a snapshot never moves the log backwards), not for this
    /// node, or already covered by the log (then only the commit index moves).
    pub(crate) fn restore(&mut self, snapshot: Snapshot) -> bool {
        let meta = snapshot.meta();
        if meta.index <= self.raft_log.committed {
            return false;
        }
        if self.state != StateRole::Follower {
            warn!(
                raft_id = self.id,
                "attempted to restore a snapshot while not a follower"
            );
            self.become_follower(self.term + 1, 0);
            return false;
        }
        let cs = meta.conf_state.clone().unwrap_or_default();
        let member = [&cs.voters, &cs.learners, &cs.voters_outgoing]
            .iter()
            .any(|ids| ids.contains(&self.id));
        if !member {
            warn!(
                raft_id = self.id,
                "ignored a snapshot whose configuration lacks this node"
            );
            return false;
        }
        if self.raft_log.match_term(meta.index, meta.term) {
            // The log already has the snapshot's last entry: keep the log, move the commit.
            self.raft_log.commit_to(meta.index);
            return false;
        }
        if self.raft_log.applying > self.raft_log.applied {
            // Committed entries are out with the apply thread (asynchronous storage writes). A
            // configuration change among them must be applied to the configuration it was
            // committed in, not to the snapshot's, so the snapshot waits: the leader sends it
            // again once this node's answer and the next heartbeat response reach it.
            info!(
                raft_id = self.id,
                applying = self.raft_log.applying,
                applied = self.raft_log.applied,
                "ignored a snapshot while committed entries are being applied"
            );
            return false;
        }
        self.raft_log.restore(snapshot);
        let tracker = ProgressTracker::new(self.prs.max_inflight, self.prs.max_inflight_bytes);
        let changer = confchange::Changer {
            tracker: &tracker,
            last_index: self.raft_log.last_index(),
        };
        match confchange::restore(changer, &cs) {
            Ok((config, progress)) => {
                self.prs = tracker;
                self.switch_to_config(config, progress);
                true
            }
            Err(err) => crate::fatal!(self, "cannot restore configuration {cs:?}: {err}"),
        }
    }
}
