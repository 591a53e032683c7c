//! Clusters on RocksDB in temporary directories: writes survive every store being stopped and
//! reopened from its directory, and a store reopened alone catches up.
#![cfg(feature = "rocksdb")]

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use engine::{RocksConfig, RocksEngine};
use raftstore::StoreConfig;
use raftstore::cluster::{LocalCluster, split_key};

mod support;

fn config() -> StoreConfig {
    support::config(10)
}

fn open(dir: &Path, store: u64) -> RocksEngine {
    RocksEngine::open(&dir.join(format!("store-{store}")), &RocksConfig::default())
        .expect("the engine opens")
}

fn key_in(i: u64, count: u64, n: u64) -> Bytes {
    let mut key = split_key(i, count).to_vec();
    key.extend_from_slice(&n.to_be_bytes());
    Bytes::from(key)
}

#[test]
fn every_store_restarts_from_its_directory_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let count = 10;
    let engines = (1..=3).map(|s| open(dir.path(), s)).collect();
    let mut cluster = LocalCluster::start(&config(), engines, count).unwrap();
    cluster.elect_spread(Duration::from_secs(30)).unwrap();
    let client = cluster.client();
    for i in 0..count {
        for n in 0..10 {
            client
                .put_blocking(key_in(i, count, n), format!("{i}-{n}"))
                .unwrap();
        }
    }
    for store in 1..=3 {
        cluster.stop(store);
    }
    for store in 1..=3 {
        // The stopped node released its handles; replacing the engine closes the database.
        cluster.reopen_engine(store, || open(dir.path(), store));
        cluster.restart(store).unwrap();
    }
    cluster.wait_leaders(Duration::from_secs(30)).unwrap();
    for i in 0..count {
        for n in 0..10 {
            assert_eq!(
                client.get_blocking(key_in(i, count, n)).unwrap(),
                Some(Bytes::from(format!("{i}-{n}"))),
                "region {i} key {n}"
            );
        }
    }
}

#[test]
fn a_store_restarted_alone_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let engines = (1..=3).map(|s| open(dir.path(), s)).collect();
    let mut cluster = LocalCluster::start(&config(), engines, 2).unwrap();
    cluster.elect_spread(Duration::from_secs(30)).unwrap();
    let client = cluster.client();
    client.put_blocking(key_in(0, 2, 0), "before").unwrap();
    cluster.stop(3);
    for n in 1..20 {
        client.put_blocking(key_in(0, 2, n), "while-down").unwrap();
    }
    cluster.reopen_engine(3, || open(dir.path(), 3));
    cluster.restart(3).unwrap();
    let engine = cluster.engine(3).clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while engine::KvReader::get_data(&engine, &key_in(0, 2, 19))
        .unwrap()
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "store 3 did not catch up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
