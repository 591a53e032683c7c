//! Flow control of appends to a follower in replicate state: the inflight window, bounded by
//! message count (`max_inflight_msgs`) and bytes (`max_inflight_bytes`), and what still gets
//! through when it is full.

// Helpers unwrap like the tests they serve; clippy exempts only `#[test]` functions.
#![allow(clippy::unwrap_used)]

mod support;

use raft::raftpb::{Message, MessageType};
use raft::{MemStorage, Raft};
use support::*;

/// A leader of {1, 2} whose follower 2 is in replicate state, with the given window.
fn leader_with_window(customize: impl Fn(&mut raft::Config)) -> Raft<MemStorage> {
    let mut r = new_node_with(1, &[1, 2], customize);
    make_leader(&mut r);
    commit_noop_entry(&mut r);
    r
}

fn propose_and_read(r: &mut Raft<MemStorage>, data: &'static [u8]) -> Vec<Message> {
    r.step(propose(1, data)).unwrap();
    read_messages_of(r, MessageType::MsgApp)
}

#[test]
fn full_window_stops_appends() {
    // Goal: a follower in replicate state has at most `max_inflight_msgs` appends in flight;
    // after that, new proposals are not sent to it.
    let mut r = leader_with_window(|c| c.max_inflight_msgs = 3);
    for i in 0..3 {
        let apps = propose_and_read(&mut r, b"somedata");
        assert_eq!(apps.len(), 1, "append {i} fits in the window");
        assert_eq!(apps[0].entries.len(), 1);
    }
    let pr = r.prs.get(2).unwrap();
    assert!(pr.inflights.full());
    assert!(pr.msg_app_flow_paused);
    for _ in 0..10 {
        assert!(propose_and_read(&mut r, b"somedata").is_empty());
    }
}

#[test]
fn acknowledgements_open_the_window_one_slot_at_a_time() {
    // Goal: acknowledging the oldest append in flight frees exactly its slot, so one more
    // append goes out, and then the window is full again.
    let mut r = leader_with_window(|c| c.max_inflight_msgs = 3);
    let mut sent: Vec<u64> = Vec::new();
    for _ in 0..3 {
        let apps = propose_and_read(&mut r, b"somedata");
        sent.push(apps[0].entries[0].index);
    }
    for round in 0..5 {
        let oldest = sent.remove(0);
        let ack = Message {
            index: oldest,
            ..msg_term(2, 1, MessageType::MsgAppResp, 1)
        };
        r.step(ack).unwrap();
        // The commit index travels in an empty append, which takes no slot.
        let carriers = read_messages_of(&mut r, MessageType::MsgApp);
        assert!(
            carriers.iter().all(|m| m.entries.is_empty()),
            "round {round}"
        );
        assert_eq!(r.prs.get(2).unwrap().inflights.count(), 2);
        let apps = propose_and_read(&mut r, b"somedata");
        assert_eq!(apps.len(), 1, "round {round}: the freed slot is used");
        sent.push(apps[0].entries[0].index);
        assert!(
            propose_and_read(&mut r, b"somedata").is_empty(),
            "round {round}: full again"
        );
        // Both proposals now wait behind the window; the next ack sends them together.
        let ack = Message {
            index: sent.remove(0),
            ..msg_term(2, 1, MessageType::MsgAppResp, 1)
        };
        r.step(ack).unwrap();
        let apps = read_messages_of(&mut r, MessageType::MsgApp);
        let with_entries: Vec<&Message> = apps.iter().filter(|m| !m.entries.is_empty()).collect();
        assert_eq!(with_entries.len(), 1, "round {round}");
        sent.push(with_entries[0].entries.last().unwrap().index);
    }
}

#[test]
fn heartbeat_response_to_a_full_window_sends_one_empty_append() {
    // Goal: a heartbeat response unpauses a full window just long enough for one empty append
    // (which carries the commit index and lets a follower whose appends were all lost recover),
    // then the window is paused again; proposals still wait.
    let mut r = leader_with_window(|c| c.max_inflight_msgs = 3);
    for _ in 0..3 {
        let _ = propose_and_read(&mut r, b"somedata");
    }
    for round in 1..5 {
        for _ in 0..round {
            assert!(r.prs.get(2).unwrap().is_paused());
            r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 1))
                .unwrap();
            let apps = read_messages_of(&mut r, MessageType::MsgApp);
            assert_eq!(apps.len(), 1);
            assert!(apps[0].entries.is_empty());
        }
        for _ in 0..10 {
            assert!(r.prs.get(2).unwrap().is_paused());
            assert!(propose_and_read(&mut r, b"somedata").is_empty());
        }
    }
}

#[test]
fn byte_window_pauses_when_inflight_bytes_reach_the_limit() {
    // Goal: `max_inflight_bytes` bounds the payload bytes in flight: once they reach the limit
    // the window is full whatever the message count, and acknowledgements release bytes.
    // Method: 100-byte messages (84-byte payloads) under a 200-byte limit.
    let mut r = leader_with_window(|c| {
        c.max_size_per_msg = 100;
        c.max_inflight_bytes = 200;
    });
    let mut last = 0;
    for i in 0..3 {
        let apps = propose_and_read(&mut r, &[3; 84]);
        assert_eq!(apps.len(), 1, "append {i}");
        last = apps[0].entries[0].index;
    }
    let pr = r.prs.get(2).unwrap();
    assert_eq!((pr.inflights.count(), pr.inflights.bytes()), (3, 252));
    assert!(pr.inflights.full());
    assert!(propose_and_read(&mut r, &[3; 84]).is_empty());
    let ack = Message {
        index: last - 2,
        ..msg_term(2, 1, MessageType::MsgAppResp, 1)
    };
    r.step(ack).unwrap();
    let apps: Vec<Message> = read_messages_of(&mut r, MessageType::MsgApp)
        .into_iter()
        .filter(|m| !m.entries.is_empty())
        .collect();
    assert_eq!(apps.len(), 1, "84 bytes freed: one more append");
    assert_eq!(r.prs.get(2).unwrap().inflights.bytes(), 252);
}

#[test]
fn commit_index_reaches_a_follower_whose_window_is_full() {
    // Goal: when the window to a follower is full, the commit still reaches it: the next
    // heartbeat response lets one empty append through, carrying the commit index, so the
    // follower applies what it holds although its acknowledgements were lost.
    // Method: a window of one message; follower 3's append acknowledgements are lost while
    // follower 2's commit the entry; then one heartbeat round.
    let mut nw = Network::new_with_config(3, |c| c.max_inflight_msgs = 1);
    nw.elect(1);
    nw.msg_hook = Some(Box::new(|m: &mut Message| {
        !(m.from == 3 && m.kind() == MessageType::MsgAppResp)
    }));
    nw.propose(1, b"a");
    assert_eq!(nw.node(1).raft_log.committed, 2);
    assert!(nw.node(1).prs.get(3).unwrap().inflights.full());
    assert_eq!(nw.node(3).raft_log.last_index(), 2);
    assert_eq!(nw.node(3).raft_log.committed, 1, "the window is paused");
    nw.delivered.clear();
    nw.send(vec![beat(1)]);
    assert_eq!(nw.node(3).raft_log.committed, 2);
    let to_3: Vec<&Message> = nw
        .delivered
        .iter()
        .filter(|m| m.to == 3 && m.kind() == MessageType::MsgApp)
        .collect();
    assert_eq!(to_3.len(), 1);
    assert!(to_3[0].entries.is_empty());
    assert_eq!(to_3[0].commit, 2);
}

#[test]
fn probe_state_has_a_window_of_one_append() {
    // Goal: in probe state the leader has one append outstanding at a time, whatever the
    // configured window; the answer (or a heartbeat response) releases the next.
    let mut r = new_node_with(1, &[1, 2], |c| c.max_inflight_msgs = 100);
    make_leader(&mut r);
    assert_eq!(propose_and_read(&mut r, b"a").len(), 1);
    for _ in 0..5 {
        assert!(propose_and_read(&mut r, b"b").is_empty());
    }
    assert_eq!(
        r.prs.get(2).unwrap().inflights.count(),
        0,
        "probes are not tracked as inflight"
    );
    r.step(msg_term(2, 1, MessageType::MsgHeartbeatResp, 1))
        .unwrap();
    assert_eq!(read_messages_of(&mut r, MessageType::MsgApp).len(), 1);
}

#[test]
fn window_is_cleared_when_replication_restarts() {
    // Goal: leaving replicate state (rejection, unreachable) forgets the appends in flight, so
    // a later return to replicate starts with an empty window.
    let mut r = leader_with_window(|c| c.max_inflight_msgs = 2);
    let _ = propose_and_read(&mut r, b"a");
    let _ = propose_and_read(&mut r, b"b");
    assert!(r.prs.get(2).unwrap().inflights.full());
    r.step(msg(2, 1, MessageType::MsgUnreachable)).unwrap();
    let pr = r.prs.get(2).unwrap();
    assert_eq!(pr.inflights.count(), 0);
    assert!(!pr.is_paused());
}
