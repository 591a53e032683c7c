//! The store's metrics: the stages a write and a read pass through report what they did.
//!
//! This test binary installs a recording `metrics` recorder for the whole process, so it holds
//! this one test only.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};

mod support;
use support::{config, key_in, start, wait_until};

/// Counters by name (summed over labels), and the number of samples of each histogram.
fn snapshot(recorder: &metrics_util::debugging::Snapshotter) -> HashMap<(MetricKind, String), u64> {
    let mut values = HashMap::new();
    for (key, _, _, value) in recorder.snapshot().into_vec() {
        let key: CompositeKey = key;
        let name = key.key().name().to_string();
        let amount = match value {
            DebugValue::Counter(n) => n,
            DebugValue::Histogram(samples) => samples.len() as u64,
            DebugValue::Gauge(_) => 1,
        };
        *values.entry((key.kind(), name)).or_insert(0) += amount;
    }
    values
}

#[test]
fn writes_and_reads_show_in_the_stage_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test process");

    let count = 4;
    let cluster = start(
        &raftstore::StoreConfig {
            hibernate_ticks: 5,
            // Give free memory back as soon as one region went quiet.
            release_memory_after_quiet: 1,
            ..config(10)
        },
        3,
        count,
    );
    let client = cluster.client();
    let writes = 20;
    for n in 0..writes {
        client
            .put_blocking(key_in(n % count, count, n), "v")
            .unwrap();
    }
    for n in 0..writes {
        assert!(
            client
                .get_blocking(key_in(n % count, count, n))
                .unwrap()
                .is_some()
        );
    }
    // Quiet regions count too: wait until every region went quiet on every store.
    wait_until("every region quiet", Duration::from_secs(10), || {
        (1..=3).all(|s| cluster.node(s).unwrap().ticking_regions().is_empty())
    });

    let seen = snapshot(&snapshotter);
    let counter = |name: &str| {
        seen.get(&(MetricKind::Counter, name.to_string()))
            .copied()
            .unwrap_or(0)
    };
    let samples = |name: &str| {
        seen.get(&(MetricKind::Histogram, name.to_string()))
            .copied()
            .unwrap_or(0)
    };
    assert!(
        counter("flotilla_proposals") >= writes,
        "proposals: {seen:?}"
    );
    assert!(
        counter("flotilla_leaders_elected") >= count,
        "leaders: {seen:?}"
    );
    assert!(counter("flotilla_raft_messages_sent") > 0, "{seen:?}");
    assert!(
        counter("flotilla_local_reads") + counter("flotilla_read_index_reads") >= writes,
        "reads: {seen:?}"
    );
    assert!(counter("flotilla_store_writer_batches") > 0, "{seen:?}");
    assert!(
        counter("flotilla_regions_quieted") >= count * 3,
        "every replica went quiet: {seen:?}"
    );
    for histogram in [
        "flotilla_store_writer_write_seconds",
        "flotilla_store_writer_batch_bytes",
        "flotilla_store_writer_batch_tasks",
        "flotilla_apply_write_seconds",
        "flotilla_apply_batch_regions",
        "flotilla_raft_round_write_tasks",
        "flotilla_memory_release_seconds",
    ] {
        assert!(samples(histogram) > 0, "{histogram}: {seen:?}");
    }
}
