//! Reads at the store level: leases, a partitioned leader, a new leader before its first
//! commit (pitfall 2), and no acknowledgement without a quorum (pitfall 12).

use std::time::{Duration, Instant};

use bytes::Bytes;
use engine::MemEngine;
use raft::raftpb::MessageType;
use raftstore::cluster::LocalCluster;
use raftstore::cmd::CmdHeader;
use raftstore::message::{Callback, RegionRequest, Request, Response};
use raftstore::node::wait;
use raftstore::{Error, StoreHandle};

mod support;
use support::{config, start, wait_until};

fn cluster(regions: u64) -> LocalCluster<MemEngine> {
    start(&config(10), 3, regions)
}

/// Sends a read straight to one store, bypassing the client's routing and retries.
fn read_at(store: &StoreHandle, key: &[u8], wait_for: Duration) -> raftstore::Result<Response> {
    let info = store
        .region_for_key(key)
        .expect("the store holds the region");
    let (callback, rx) = Callback::new();
    store.request(RegionRequest {
        header: CmdHeader {
            region_id: info.region.id,
            epoch: info.region.epoch,
        },
        request: Request::Get(Bytes::copy_from_slice(key)),
        deadline: Instant::now() + wait_for,
        callback,
    });
    wait(rx)
}

fn handle(cluster: &LocalCluster<MemEngine>, store: u64) -> StoreHandle {
    cluster.node(store).expect("the store runs").handle()
}

#[test]
fn a_busy_leader_holds_a_lease_and_serves_reads_locally() {
    let cluster = cluster(1);
    let client = cluster.client();
    client.put_blocking("k", "v").unwrap();
    let info = client.region_for_key(b"k").unwrap();
    let leader = info.leader_store.unwrap();
    let node = cluster.node(leader).unwrap();
    wait_until(
        "a lease after a committed write",
        Duration::from_secs(5),
        || {
            client.put_blocking("k", "v").unwrap();
            node.has_lease(info.region.id)
        },
    );
    assert_eq!(
        read_at(&handle(&cluster, leader), b"k", Duration::from_secs(1)).unwrap(),
        Response::Value(Some(Bytes::from_static(b"v")))
    );
    for follower in (1..=3).filter(|&s| s != leader) {
        assert!(!cluster.node(follower).unwrap().has_lease(info.region.id));
        assert!(matches!(
            read_at(&handle(&cluster, follower), b"k", Duration::from_secs(1)),
            Err(Error::NotLeader { .. })
        ));
    }
}

#[test]
fn a_partitioned_leader_serves_no_stale_read() {
    let cluster = cluster(1);
    let client = cluster.client();
    client.put_blocking("k", "old").unwrap();
    let old_leader = client.region_for_key(b"k").unwrap().leader_store.unwrap();
    let old = handle(&cluster, old_leader);
    cluster.transport.isolate(old_leader);

    // The others elect a leader and acknowledge a new value.
    let others: Vec<StoreHandle> = (1..=3)
        .filter(|&s| s != old_leader)
        .map(|s| handle(&cluster, s))
        .collect();
    let majority = raftstore::Client::new(others, raftstore::ClientConfig::default());
    majority.put_blocking("k", "new").unwrap();

    // The old leader must not answer with the old value, lease or not.
    let answer = read_at(&old, b"k", Duration::from_millis(300));
    assert!(
        !matches!(answer, Ok(Response::Value(Some(ref v))) if v == "old"),
        "stale read from a partitioned leader: {answer:?}"
    );
    assert!(!cluster.node(old_leader).unwrap().has_lease(1));
    cluster.transport.heal();
    wait_until(
        "the old leader to catch up",
        Duration::from_secs(10),
        || majority.get_blocking("k").unwrap() == Some(Bytes::from_static(b"new")),
    );
}

#[test]
fn a_transfer_suspends_the_lease_for_the_rest_of_the_term() {
    let cluster = cluster(1);
    let client = cluster.client();
    let info = client.region_for_key(b"k").unwrap();
    let leader = info.leader_store.unwrap();
    let node = cluster.node(leader).unwrap();
    wait_until("a lease", Duration::from_secs(5), || {
        client.put_blocking("k", "v").unwrap();
        node.has_lease(info.region.id)
    });
    // Drop every MsgTimeoutNow so the transfer cannot finish (as if it were delayed).
    cluster.transport.add_filter(Box::new(|m| {
        m.message
            .as_ref()
            .is_none_or(|m| m.kind() != MessageType::MsgTimeoutNow)
    }));
    let target = if leader == 1 { 2 } else { 1 };
    client
        .transfer_leader_blocking(info.region.id, target)
        .unwrap();
    assert!(
        !node.has_lease(info.region.id),
        "pitfall 4: no lease once a transfer starts"
    );
    // Writes still go through (after the transfer times out) but renew nothing in this term.
    wait_until(
        "writes after the aborted transfer",
        Duration::from_secs(5),
        || client.put_blocking("k", "w").is_ok(),
    );
    let same_leader = node.handle().regions()[0].leader_store == Some(leader);
    assert!(
        !same_leader || !node.has_lease(info.region.id),
        "a write in the transfer's term renewed the lease"
    );
}

#[test]
fn a_new_leader_answers_no_read_before_committing_in_its_term() {
    let cluster = cluster(1);
    let client = cluster.client();
    client.put_blocking("k", "v1").unwrap();
    let old_leader = client.region_for_key(b"k").unwrap().leader_store.unwrap();
    let survivors: Vec<u64> = (1..=3).filter(|&s| s != old_leader).collect();
    // Whoever wins next cannot replicate its term's first entry.
    cluster.transport.add_filter(Box::new(move |m| {
        let from_old = m.from_store() == old_leader;
        let append = m
            .message
            .as_ref()
            .is_some_and(|m| m.kind() == MessageType::MsgApp);
        from_old || !append
    }));
    cluster.transport.isolate(old_leader);
    let new_leader = {
        let mut found = None;
        wait_until("a new leader", Duration::from_secs(10), || {
            found = survivors.iter().copied().find(|&s| {
                handle(&cluster, s)
                    .region_for_key(b"k")
                    .and_then(|i| i.leader_store)
                    == Some(s)
            });
            found.is_some()
        });
        found.unwrap()
    };
    let answer = read_at(
        &handle(&cluster, new_leader),
        b"k",
        Duration::from_millis(300),
    );
    assert!(
        matches!(answer, Err(Error::Timeout | Error::NotLeader { .. })),
        "pitfall 2: a read answered before the first commit of the term: {answer:?}"
    );
    cluster.transport.heal();
    cluster.transport.isolate(old_leader);
    let majority = raftstore::Client::new(
        survivors.iter().map(|&s| handle(&cluster, s)).collect(),
        raftstore::ClientConfig::default(),
    );
    assert_eq!(
        majority.get_blocking("k").unwrap(),
        Some(Bytes::from_static(b"v1"))
    );
}

#[test]
fn no_write_is_acknowledged_without_a_quorum() {
    let mut cluster = cluster(1);
    let client = cluster.client();
    client.put_blocking("k", "v1").unwrap();
    let leader = client.region_for_key(b"k").unwrap().leader_store.unwrap();
    for store in (1..=3).filter(|&s| s != leader) {
        cluster.stop(store);
    }
    let lonely = raftstore::Client::new(
        vec![handle(&cluster, leader)],
        raftstore::ClientConfig {
            timeout: Duration::from_millis(500),
            ..raftstore::ClientConfig::default()
        },
    );
    let answer = lonely.put_blocking("k", "v2");
    assert!(
        answer.is_err(),
        "pitfall 12: a write acknowledged by one replica of three"
    );
}
