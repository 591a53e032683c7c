//! In-process clusters on the `mem` engine: writes, reads, failover and restart.

use std::time::Duration;

use bytes::Bytes;
use engine::{ApplyBatch, KvEngine, KvReader, MemEngine, RegionId};
use raftstore::Error;
use raftstore::cluster::LocalCluster;

mod support;
use support::{config, key_in, start};

fn cluster(stores: usize, regions: u64, tick_ms: u64) -> LocalCluster<MemEngine> {
    start(&config(tick_ms), stores, regions)
}

#[test]
fn three_stores_a_thousand_regions_write_and_read_every_region() {
    let count = 1000;
    let cluster = cluster(3, count, 50);
    let client = cluster.client();
    assert_eq!(client.regions().len(), count as usize);
    for i in 0..count {
        client
            .put_blocking(key_in(i, count, 1), Bytes::from(format!("v{i}")))
            .unwrap();
    }
    for i in (0..count).step_by(7) {
        assert_eq!(
            client.get_blocking(key_in(i, count, 1)).unwrap(),
            Some(Bytes::from(format!("v{i}")))
        );
    }
    let all = client
        .scan_blocking(Bytes::new(), Bytes::new(), 5000)
        .unwrap();
    assert_eq!(
        all.len(),
        count as usize,
        "one key per region, scanned across regions"
    );
    assert!(
        all.windows(2).all(|w| w[0].0 < w[1].0),
        "scan is in key order"
    );
    // Every replica applied the writes: each store's engine holds every key.
    for store in 1..=3 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let held = (0..count)
                .filter(|&i| {
                    engine::KvReader::get_data(cluster.engine(store), &key_in(i, count, 1))
                        .unwrap()
                        .is_some()
                })
                .count();
            if held == count as usize {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "store {store} holds {held} keys"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn five_stores_a_thousand_regions_write_and_read() {
    let count = 1000;
    let cluster = cluster(5, count, 50);
    let client = cluster.client();
    assert_eq!(client.regions().len(), count as usize);
    let leaders: std::collections::BTreeSet<u64> = client
        .regions()
        .iter()
        .filter_map(|i| i.leader_store)
        .collect();
    assert_eq!(leaders.len(), 5, "leaders spread over every store");
    for i in (0..count).step_by(3) {
        client
            .put_blocking(key_in(i, count, 2), Bytes::from(format!("w{i}")))
            .unwrap();
    }
    for i in (0..count).step_by(3) {
        assert_eq!(
            client.get_blocking(key_in(i, count, 2)).unwrap(),
            Some(Bytes::from(format!("w{i}")))
        );
    }
}

#[test]
fn five_stores_replicate_and_delete() {
    let cluster = cluster(5, 20, 10);
    let client = cluster.client();
    for i in 0..20 {
        client.put_blocking(key_in(i, 20, 9), "x").unwrap();
    }
    client.delete_blocking(key_in(3, 20, 9)).unwrap();
    assert_eq!(client.get_blocking(key_in(3, 20, 9)).unwrap(), None);
    assert_eq!(
        client.get_blocking(key_in(4, 20, 9)).unwrap(),
        Some(Bytes::from_static(b"x"))
    );
}

#[test]
fn a_write_spanning_two_regions_is_refused() {
    let cluster = cluster(3, 4, 10);
    let client = cluster.client();
    let err = client
        .write_blocking(vec![
            raftstore::cmd::Mutation::put(key_in(0, 4, 1), "a"),
            raftstore::cmd::Mutation::put(key_in(1, 4, 1), "b"),
        ])
        .unwrap_err();
    assert!(matches!(err, Error::KeyNotInRegion { .. }), "{err:?}");
    assert_eq!(
        client.get_blocking(key_in(0, 4, 1)).unwrap(),
        None,
        "nothing was written"
    );
}

#[test]
fn leader_failover_when_a_store_stops() {
    let mut cluster = cluster(3, 10, 10);
    let client = cluster.client();
    for i in 0..10 {
        client.put_blocking(key_in(i, 10, 1), "before").unwrap();
    }
    let victim = client
        .region_for_key(&key_in(0, 10, 1))
        .unwrap()
        .leader_store
        .unwrap();
    cluster.stop(victim);
    for i in 0..10 {
        client.put_blocking(key_in(i, 10, 2), "after").unwrap();
        assert_eq!(
            client.get_blocking(key_in(i, 10, 1)).unwrap(),
            Some(Bytes::from_static(b"before")),
            "region {i}: acknowledged writes survive the failover"
        );
    }
    let leader = client
        .region_for_key(&key_in(0, 10, 1))
        .unwrap()
        .leader_store;
    assert!(
        leader.is_some_and(|l| l != victim),
        "a new leader took over: {leader:?}"
    );
}

#[test]
fn a_crashed_store_restarts_and_nothing_acknowledged_is_lost() {
    let mut cluster = cluster(3, 8, 10);
    let client = cluster.client();
    for i in 0..8 {
        for n in 0..20 {
            client
                .put_blocking(key_in(i, 8, n), format!("{n}"))
                .unwrap();
        }
    }
    // Crash every store at once: each loses its unsynced writes (apply writes are unsynced;
    // raft logs are synced), then restart them all from what survived.
    for store in 1..=3 {
        cluster.stop(store);
        let crashed = cluster.engine(store).crash_clone();
        cluster.set_engine(store, crashed);
    }
    for store in 1..=3 {
        cluster.restart(store).unwrap();
    }
    cluster.wait_leaders(Duration::from_secs(30)).unwrap();
    for i in 0..8 {
        for n in 0..20 {
            assert_eq!(
                client.get_blocking(key_in(i, 8, n)).unwrap(),
                Some(Bytes::from(format!("{n}"))),
                "region {i} key {n}"
            );
        }
    }
}

#[test]
fn transfer_leader_moves_leadership() {
    let cluster = cluster(3, 2, 10);
    let client = cluster.client();
    let info = client.region_for_key(&key_in(0, 2, 1)).unwrap();
    let from = info.leader_store.unwrap();
    let to = if from == 1 { 2 } else { 1 };
    client.transfer_leader_blocking(info.region.id, to).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = cluster
            .handles()
            .iter()
            .find(|h| h.store_id() == to)
            .and_then(|h| h.region_for_key(&key_in(0, 2, 1)))
            .and_then(|i| i.leader_store);
        if now == Some(to) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "leader still {now:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    client
        .put_blocking(key_in(0, 2, 5), "after-transfer")
        .unwrap();
}

/// A region state that no longer lists this store (a removal applied, its tombstone never
/// written) does not keep the store from starting: the region is skipped, the others run.
#[test]
fn a_store_restarts_past_a_region_that_no_longer_lists_it() {
    let mut cluster = cluster(3, 4, 10);
    let client = cluster.client();
    client.put_blocking(key_in(2, 4, 0), "v").unwrap();
    cluster.stop(3);
    let engine = cluster.engine(3).clone();
    let mut state = engine.region_state(RegionId(1)).unwrap().unwrap();
    let region = state.region.as_mut().unwrap();
    region.peers.retain(|p| p.store_id != 3);
    let mut batch = engine.write_batch();
    batch.put_region_state(RegionId(1), &state);
    engine.write(&mut batch, true).unwrap();
    cluster.restart(3).unwrap();
    let regions: Vec<u64> = cluster
        .node(3)
        .unwrap()
        .handle()
        .regions()
        .iter()
        .map(|i| i.region.id)
        .collect();
    assert_eq!(regions, vec![2, 3, 4], "region 1 skipped, the others open");
}
