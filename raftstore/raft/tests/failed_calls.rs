//! "A failed call must not mutate state" (STYLE 4): for every call of `RawNode` (and `step`)
//! that can fail, a test makes it fail and checks that the hard state, soft state, log,
//! progress, pending messages and read states are exactly as before, and that no new `Ready`
//! appeared.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use bytes::Bytes;
use raft::raftpb::{ConfChangeTransition, ConfChangeType, Entry, EntryType, Message, MessageType};
use raft::{Config, DropReason, Error, MemStorage, RawNode, ReadOnlyOption, StateRole};
use support::*;

/// Handles every Ready of a synchronous node (persisting, dropping messages, applying).
fn drain(node: &mut RawNode<MemStorage>, storage: &MemStorage) {
    while node.has_ready() {
        let rd = node.ready();
        if let Some(snap) = &rd.snapshot {
            storage.wl().apply_snapshot(snap.clone()).unwrap();
        }
        storage.wl().append(&rd.entries).unwrap();
        if let Some(hs) = rd.hard_state {
            storage.wl().set_hard_state(hs);
        }
        for e in &rd.committed_entries {
            if raft::raft::is_conf_change_entry(e) {
                node.apply_conf_change(&raft::decode_conf_change(e).unwrap())
                    .unwrap();
            }
        }
        node.advance();
    }
}

/// Node 1 of {1, 2, 3}, configured by `customize`, as leader of term 1 with its empty entry
/// committed and applied, every Ready handled.
fn leader(customize: impl Fn(&mut Config)) -> RawNode<MemStorage> {
    let storage = storage_with_voters(&[1, 2, 3]);
    let mut cfg = config(1, ELECTION, HEARTBEAT);
    customize(&mut cfg);
    let mut node = RawNode::new(&cfg, storage.clone()).unwrap();
    node.campaign().unwrap();
    drain(&mut node, &storage);
    node.step(msg_term(2, 1, MessageType::MsgVoteResp, 1))
        .unwrap();
    drain(&mut node, &storage);
    node.step(Message {
        index: 1,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    })
    .unwrap();
    drain(&mut node, &storage);
    assert!(node.is_leader());
    assert_eq!(node.raft.raft_log.applied, 1);
    node
}

/// Node 1 of {1, 2, 3}, configured by `customize`, as a follower that knows no leader.
fn follower(customize: impl Fn(&mut Config)) -> RawNode<MemStorage> {
    let mut cfg = config(1, ELECTION, HEARTBEAT);
    customize(&mut cfg);
    RawNode::new(&cfg, storage_with_voters(&[1, 2, 3])).unwrap()
}

/// Makes `call` fail with `want` and checks that the node did not change.
fn fails_without_change<T: std::fmt::Debug>(
    node: &mut RawNode<MemStorage>,
    want: &Error,
    call: impl FnOnce(&mut RawNode<MemStorage>) -> raft::Result<T>,
) {
    let before = fingerprint(&node.raft);
    let had_ready = node.has_ready();
    let got = call(node).unwrap_err();
    assert_eq!(&got, want);
    assert_eq!(
        fingerprint(&node.raft),
        before,
        "state changed by a failed call ({want})"
    );
    assert_eq!(node.has_ready(), had_ready);
}

/// Like [`fails_without_change`] for `ConfChangeInvalid`, whose reason text is not checked.
fn conf_change_fails_without_change<T: std::fmt::Debug>(
    node: &mut RawNode<MemStorage>,
    call: impl FnOnce(&mut RawNode<MemStorage>) -> raft::Result<T>,
) {
    let before = fingerprint(&node.raft);
    let had_ready = node.has_ready();
    let got = call(node).unwrap_err();
    assert!(
        matches!(got, Error::ConfChangeInvalid { ref reason } if !reason.is_empty()),
        "{got:?}"
    );
    assert_eq!(
        fingerprint(&node.raft),
        before,
        "state changed by a refused change"
    );
    assert_eq!(node.has_ready(), had_ready);
}

fn dropped(reason: DropReason) -> Error {
    Error::ProposalDropped { reason }
}

#[test]
fn the_fingerprint_sees_a_successful_call() {
    // Goal: the checks below could fail: a call that succeeds changes the fingerprint.
    let mut node = leader(|_| {});
    let before = fingerprint(&node.raft);
    node.read_index(Bytes::from_static(b"r")).unwrap();
    assert_ne!(
        fingerprint(&node.raft),
        before,
        "an open read round is deferred work"
    );
    let before = fingerprint(&node.raft);
    node.propose(Bytes::from_static(b"x")).unwrap();
    assert_ne!(fingerprint(&node.raft), before);
}

#[test]
fn propose_without_a_leader() {
    // Goal: A follower that knows no leader refuses proposals of every kind with `NoLeader`.
    let mut node = follower(|_| {});
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.propose_batch([Bytes::from_static(b"x"), Bytes::from_static(b"y")])
    });
    let cc = conf_change(ConfChangeType::AddNode, 4);
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.propose_conf_change(&cc)
    });
}

#[test]
fn propose_at_a_candidate_or_pre_candidate() {
    // Goal: A campaigning node has no leader to forward to and refuses proposals.
    let mut node = follower(|_| {});
    node.campaign().unwrap();
    assert_eq!(node.raft.state, StateRole::Candidate);
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
    let mut node = follower(|c| c.pre_vote = true);
    node.campaign().unwrap();
    assert_eq!(node.raft.state, StateRole::PreCandidate);
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
}

#[test]
fn propose_during_a_leadership_transfer() {
    // Goal: A leader handing over refuses proposals and changes with `TransferInProgress`.
    let mut node = leader(|_| {});
    node.transfer_leader(2).unwrap();
    assert_eq!(node.raft.lead_transferee, 2);
    fails_without_change(&mut node, &dropped(DropReason::TransferInProgress), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
    let cc = conf_change(ConfChangeType::AddNode, 4);
    fails_without_change(&mut node, &dropped(DropReason::TransferInProgress), |n| {
        n.propose_conf_change(&cc)
    });
}

#[test]
fn propose_beyond_the_uncommitted_size_limit() {
    // Goal: Proposals that would exceed `max_uncommitted_entries_size` are refused whole.
    let mut node = leader(|c| c.max_uncommitted_entries_size = 10);
    node.propose(Bytes::from_static(b"12345678")).unwrap();
    let exceeded = dropped(DropReason::UncommittedSizeExceeded);
    fails_without_change(&mut node, &exceeded, |n| {
        n.propose(Bytes::from_static(b"abc"))
    });
    // A batch is refused as a whole even though its first entry would fit.
    fails_without_change(&mut node, &exceeded, |n| {
        n.propose_batch([Bytes::from_static(b"a"), Bytes::from_static(b"bcd")])
    });
}

#[test]
fn propose_at_a_follower_that_does_not_forward() {
    // Goal: With forwarding disabled a follower refuses instead of forwarding.
    let mut node = follower(|c| c.disable_proposal_forwarding = true);
    node.step(msg_term(2, 1, MessageType::MsgHeartbeat, 1))
        .unwrap();
    assert_eq!(node.raft.leader_id, 2);
    fails_without_change(&mut node, &dropped(DropReason::ForwardingDisabled), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
}

#[test]
fn propose_at_a_leader_removed_from_the_configuration() {
    // Goal: A leader left outside the configuration refuses proposals with `LeaderRemoved`.
    let mut node = leader(|c| c.step_down_on_removal = false);
    node.apply_conf_change(&conf_change(ConfChangeType::RemoveNode, 1))
        .unwrap();
    assert!(node.is_leader());
    fails_without_change(&mut node, &dropped(DropReason::LeaderRemoved), |n| {
        n.propose(Bytes::from_static(b"x"))
    });
}

#[test]
fn empty_proposal() {
    // Goal: A proposal without entries is refused; an empty batch is a no-op.
    let mut node = leader(|_| {});
    let refused = |e: &Error| matches!(e, Error::RequestRefused { .. });
    let before = fingerprint(&node.raft);
    let err = node.raft.step(msg(1, 1, MessageType::MsgProp)).unwrap_err();
    assert!(refused(&err), "{err:?}");
    assert_eq!(fingerprint(&node.raft), before);
    // An empty batch is no proposal at all: accepted, and nothing happens.
    node.propose_batch(Vec::<Bytes>::new()).unwrap();
    assert_eq!(fingerprint(&node.raft), before);
}

#[test]
fn conf_change_while_another_is_pending() {
    // Goal: A second change, v1 or v2, is refused while one is pending.
    let mut node = leader(|_| {});
    node.propose_conf_change(&conf_change(ConfChangeType::AddLearnerNode, 4))
        .unwrap();
    let cc = conf_change(ConfChangeType::AddLearnerNode, 5);
    conf_change_fails_without_change(&mut node, |n| n.propose_conf_change(&cc));
    let v2 = conf_change_v2(ConfChangeTransition::Auto, &[(ConfChangeType::AddNode, 5)]);
    conf_change_fails_without_change(&mut node, |n| n.propose_conf_change(&v2));
}

#[test]
fn conf_change_that_breaks_the_joint_rules() {
    // Goal: Leaving a joint configuration that was never entered is refused.
    let mut node = leader(|_| {});
    conf_change_fails_without_change(&mut node, |n| n.propose_conf_change(&leave_joint()));
}

#[test]
fn undecodable_conf_change() {
    // Goal: A change that does not decode is refused even with validation disabled.
    let mut node = leader(|c| c.disable_conf_change_validation = true);
    let garbage = Entry {
        entry_type: EntryType::EntryConfChange as i32,
        data: Bytes::from_static(&[0xff; 4]),
        ..Entry::default()
    };
    let m = Message {
        entries: vec![garbage],
        ..msg(1, 1, MessageType::MsgProp)
    };
    conf_change_fails_without_change(&mut node, |n| n.raft.step(m));
}

#[test]
fn invalid_conf_change_applied() {
    // Applying a change the configuration cannot take (a simple change inside a joint
    // configuration) is refused and leaves the configuration as it was.
    let mut node = leader(|_| {});
    let enter = conf_change_v2(
        ConfChangeTransition::Explicit,
        &[(ConfChangeType::AddLearnerNode, 3)],
    );
    node.apply_conf_change(&enter).unwrap();
    let cc = conf_change(ConfChangeType::AddNode, 4);
    conf_change_fails_without_change(&mut node, |n| n.apply_conf_change(&cc));
    let mut node = leader(|_| {});
    conf_change_fails_without_change(&mut node, |n| n.apply_conf_change(&leave_joint()));
}

#[test]
fn step_of_a_local_message_from_the_network() {
    // Goal: Local message types coming from a peer are refused with `StepLocalMsg`.
    let mut node = leader(|_| {});
    for kind in [
        MessageType::MsgHup,
        MessageType::MsgBeat,
        MessageType::MsgCheckQuorum,
        MessageType::MsgStorageAppend,
    ] {
        fails_without_change(&mut node, &Error::StepLocalMsg, |n| {
            n.step(msg_term(2, 1, kind, 1))
        });
    }
    let mut node = follower(|_| {});
    fails_without_change(&mut node, &Error::StepLocalMsg, |n| {
        n.step(msg_term(2, 1, MessageType::MsgHup, 0))
    });
}

#[test]
fn step_of_a_response_from_a_stranger() {
    // Goal: Responses from non-members are refused with `StepPeerNotFound`, their term ignored.
    let mut node = leader(|_| {});
    for kind in [
        MessageType::MsgAppResp,
        MessageType::MsgHeartbeatResp,
        MessageType::MsgVoteResp,
    ] {
        // A higher term must not be taken from a message that is refused.
        fails_without_change(&mut node, &Error::StepPeerNotFound, |n| {
            n.step(msg_term(7, 1, kind, 9))
        });
    }
}

#[test]
fn forget_leader_with_lease_based_reads() {
    // Goal: With lease reads a follower refuses to forget its leader and keeps it.
    let lease = |c: &mut Config| {
        c.check_quorum = true;
        c.read_only_option = ReadOnlyOption::LeaseBased;
    };
    let mut node = follower(lease);
    node.step(msg_term(2, 1, MessageType::MsgHeartbeat, 1))
        .unwrap();
    assert_eq!(node.raft.leader_id, 2);
    let refused = Error::RequestRefused {
        reason: "cannot forget the leader with lease-based reads".into(),
    };
    fails_without_change(&mut node, &refused, RawNode::forget_leader);
    assert_eq!(node.raft.leader_id, 2);
}

#[test]
fn read_index_without_a_leader() {
    // Goal: Reads without a known leader fail, whether asked locally or forwarded.
    let mut node = follower(|_| {});
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.read_index(Bytes::from_static(b"r"))
    });
    node.campaign().unwrap();
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.read_index(Bytes::from_static(b"r"))
    });
    // The same request arriving from another node (forwarded) fails the same way.
    let mut node = follower(|_| {});
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.raft.step(Message {
            to: 1,
            ..read_index(3, b"r")
        })
    });
}

#[test]
fn transfer_leader_without_a_leader() {
    // Goal: A transfer request at a follower without a leader cannot be forwarded.
    let mut node = follower(|_| {});
    fails_without_change(&mut node, &dropped(DropReason::NoLeader), |n| {
        n.transfer_leader(2)
    });
}
