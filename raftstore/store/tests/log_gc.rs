//! Log GC: the leader compacts logs every replica holds; a replica left behind a compaction
//! catches up by snapshot.

use std::time::Duration;

use bytes::Bytes;
use engine::{KvReader, MemEngine, RaftLogReader, RegionId};
use raftstore::StoreConfig;
use raftstore::cluster::LocalCluster;

mod support;
use support::{key_in, start, wait_until};

fn config() -> StoreConfig {
    StoreConfig {
        log_gc_threshold: 20,
        log_gc_count_limit: 100,
        ..support::config(10)
    }
}

fn truncated(engine: &MemEngine) -> u64 {
    engine
        .apply_state(RegionId(1))
        .expect("the engine reads")
        .map_or(0, |s| s.truncated_index)
}

#[test]
fn logs_are_compacted_on_every_replica() {
    let cluster: LocalCluster<MemEngine> = start(&config(), 3, 1);
    let client = cluster.client();
    for n in 0..120 {
        client.put_blocking(key_in(0, 1, n), "v").unwrap();
    }
    for store in 1..=3 {
        let engine = cluster.engine(store).clone();
        wait_until(
            "a compaction on every replica",
            Duration::from_secs(10),
            || truncated(&engine) >= 50,
        );
        let point = truncated(&engine);
        assert!(
            engine.log_entry(RegionId(1), point).unwrap().is_none(),
            "store {store}: entry {point} is still in the log"
        );
    }
    for n in (0..120).step_by(7) {
        assert_eq!(
            client.get_blocking(key_in(0, 1, n)).unwrap(),
            Some(Bytes::from("v"))
        );
    }
}

#[test]
fn a_replica_behind_the_compaction_catches_up_by_snapshot() {
    let mut cluster: LocalCluster<MemEngine> = start(&config(), 3, 1);
    let client = cluster.client();
    let leader = client.region_for_key(b"").unwrap().leader_store.unwrap();
    let behind = (1..=3).find(|&s| s != leader).unwrap();
    cluster.stop(behind);
    for n in 0..300 {
        client
            .put_blocking(key_in(0, 1, n), format!("{n}"))
            .unwrap();
    }
    let leader_engine = cluster.engine(leader).clone();
    wait_until(
        "the leader to compact past the stopped replica",
        Duration::from_secs(10),
        || truncated(&leader_engine) > 150,
    );
    cluster.restart(behind).unwrap();
    let engine = cluster.engine(behind).clone();
    wait_until(
        "the stopped replica to catch up",
        Duration::from_secs(20),
        || engine.get_data(&key_in(0, 1, 299)).unwrap().is_some(),
    );
    assert!(
        truncated(&engine) > 150,
        "it caught up from a snapshot past the compaction"
    );
    assert_eq!(
        engine.get_data(&key_in(0, 1, 0)).unwrap(),
        Some(b"0".to_vec())
    );
}
