//! Hibernation: idle regions go quiet, wake on a write, and wake when their leader's store dies
//! (and only then).

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use engine::MemEngine;
use raftstore::StoreConfig;
use raftstore::cluster::LocalCluster;

mod support;
use support::{start, wait_until};

fn config() -> StoreConfig {
    StoreConfig {
        hibernate_ticks: 5,
        dormant_followers: true,
        ..support::config(10)
    }
}

fn cluster(regions: u64) -> LocalCluster<MemEngine> {
    start(&config(), 3, regions)
}

fn key_in(i: u64, count: u64) -> Bytes {
    support::key_in(i, count, 1)
}

fn all_quiet(cluster: &LocalCluster<MemEngine>, stores: &[u64]) -> bool {
    stores.iter().all(|&s| {
        cluster
            .node(s)
            .expect("the store runs")
            .ticking_regions()
            .is_empty()
    })
}

#[test]
fn idle_regions_go_quiet_and_a_write_wakes_one() {
    let count = 30;
    let cluster = cluster(count);
    let client = cluster.client();
    for i in 0..count {
        client.put_blocking(key_in(i, count), "v").unwrap();
    }
    wait_until("every region quiet", Duration::from_secs(10), || {
        all_quiet(&cluster, &[1, 2, 3])
    });
    // Quiet regions gave their entry caches back (a follower's last append may reach the
    // cache after it went quiet; it is released when the write's answer arrives).
    wait_until("entry caches released", Duration::from_secs(10), || {
        (1..=3).all(|s| cluster.node(s).unwrap().entry_cache_bytes() == 0)
    });
    // Every follower dropped its consensus node (two per region).
    let dormant = || -> usize {
        (1..=3)
            .map(|s| cluster.node(s).unwrap().dormant_peers())
            .sum()
    };
    wait_until("quiet followers dormant", Duration::from_secs(10), || {
        dormant() == 2 * count as usize
    });
    // A write to a quiet region is served, and the region goes quiet again afterwards.
    client.put_blocking(key_in(7, count), "w").unwrap();
    assert_eq!(
        client.get_blocking(key_in(7, count)).unwrap(),
        Some(Bytes::from("w"))
    );
    wait_until("quiet again", Duration::from_secs(10), || {
        all_quiet(&cluster, &[1, 2, 3])
    });
    // Its followers rebuilt their nodes for the write and dropped them again.
    wait_until("dormant again", Duration::from_secs(10), || {
        dormant() == 2 * count as usize
    });
    for i in 0..count {
        let expected = if i == 7 { "w" } else { "v" };
        assert_eq!(
            client.get_blocking(key_in(i, count)).unwrap(),
            Some(Bytes::from(expected)),
            "region {i}"
        );
    }
}

#[test]
fn a_dead_store_wakes_only_the_regions_it_led() {
    let count = 30;
    let mut cluster = cluster(count);
    let client = cluster.client();
    for i in 0..count {
        client.put_blocking(key_in(i, count), "v").unwrap();
    }
    wait_until("every region quiet", Duration::from_secs(10), || {
        all_quiet(&cluster, &[1, 2, 3])
    });
    let regions = client.regions();
    let led_by_1: BTreeSet<u64> = regions
        .iter()
        .filter(|i| i.leader_store == Some(1))
        .map(|i| i.region.id)
        .collect();
    assert!(!led_by_1.is_empty() && led_by_1.len() < count as usize);
    cluster.stop(1);

    // The survivors notice through store heartbeats and wake exactly the regions store 1 led.
    let mut woken = BTreeSet::new();
    wait_until(
        "the orphaned regions to wake",
        Duration::from_secs(10),
        || {
            for s in [2, 3] {
                woken.extend(cluster.node(s).unwrap().ticking_regions());
            }
            woken.len() >= led_by_1.len()
        },
    );
    assert!(
        woken.is_subset(&led_by_1),
        "regions not led by the dead store woke: {:?}",
        woken.difference(&led_by_1).collect::<Vec<_>>()
    );
    // They elect new leaders and take writes; then everything goes quiet again.
    for i in 0..count {
        client.put_blocking(key_in(i, count), "after").unwrap();
    }
    wait_until("quiet again", Duration::from_secs(10), || {
        all_quiet(&cluster, &[2, 3])
    });
}

#[test]
fn without_hibernation_every_region_keeps_ticking() {
    let engines = (0..3).map(|_| MemEngine::new()).collect();
    let cfg = StoreConfig {
        hibernate_regions: false,
        ..config()
    };
    let cluster = LocalCluster::start(&cfg, engines, 5).unwrap();
    cluster.elect_spread(Duration::from_secs(30)).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for s in 1..=3 {
        assert_eq!(cluster.node(s).unwrap().ticking_regions().len(), 5);
    }
}
