//! Kill -9 of a whole cluster on RocksDB: nothing acknowledged is lost.
//!
//! A child process (`store-crash-child`) runs three stores on RocksDB with writer threads and
//! reports every acknowledged write on stdout. The parent kills it with SIGKILL at a random
//! moment (every store dies at once, with writes, appends and applies in flight), restarts the
//! three stores from their directories in this process, and reads back every write reported in
//! this round and the earlier ones. The same directories go through several rounds, so a
//! recovery from a kill is killed again. `CRASH_SEED` replays the kill times.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]
#![cfg(feature = "rocksdb")]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use engine::{RocksConfig, RocksEngine};
use raftstore::cluster::LocalCluster;
use rand::{RngExt, SeedableRng};

#[path = "../src/bin/store_crash_child/scheme.rs"]
#[allow(dead_code, reason = "the child uses all of it, the test only the keys")]
mod scheme;
use scheme::{config, crash_key, crash_value};

const ROUNDS: u64 = 3;

#[test]
fn acknowledged_writes_survive_kill_9_of_every_store() {
    let dir = tempfile::tempdir().unwrap();
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("store crash test seed {seed} (CRASH_SEED={seed} replays the kill times)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut acked = Vec::new();
    for round in 0..ROUNDS {
        let this_round = run_child_and_kill(dir.path(), round, rng.random_range(200..1200));
        println!(
            "round {round}: {} writes acknowledged before the kill",
            this_round.len()
        );
        assert!(
            !this_round.is_empty(),
            "round {round}: nothing acknowledged"
        );
        acked.extend(this_round);
        check_after_crash(dir.path(), &acked);
    }
}

/// Runs the child for `run_ms` after its first acknowledgement, kills it, and returns the
/// writes it reported as `(round, writer, n)`.
fn run_child_and_kill(dir: &Path, round: u64, run_ms: u64) -> Vec<(u64, u64, u64)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_store-crash-child"))
        .arg(dir)
        .arg(round.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(Duration::from_mins(2))
        .expect("the child acknowledged nothing");
    std::thread::sleep(Duration::from_millis(run_ms));
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    std::iter::once(first)
        .chain(rx.try_iter())
        .map(|line| parse_ack(&line))
        .collect()
}

fn parse_ack(line: &str) -> (u64, u64, u64) {
    let fields: Vec<u64> = line
        .strip_prefix("acked ")
        .unwrap_or_else(|| panic!("unexpected line from the child: {line}"))
        .split(' ')
        .map(|f| f.parse().unwrap())
        .collect();
    (fields[0], fields[1], fields[2])
}

/// Restarts the three stores from `dir` and reads back every acknowledged write.
fn check_after_crash(dir: &Path, acked: &[(u64, u64, u64)]) {
    let engines = (1..=3)
        .map(|store| {
            RocksEngine::open(&dir.join(format!("store-{store}")), &RocksConfig::small()).unwrap()
        })
        .collect();
    let cluster = LocalCluster::recover(&config(), engines).unwrap();
    cluster.wait_leaders(Duration::from_mins(1)).unwrap();
    let client = cluster.client();
    for &(round, writer, n) in acked {
        let key = crash_key(round, writer, n);
        assert_eq!(
            client.get_blocking(key.clone()).unwrap(),
            Some(Bytes::from(crash_value(&key))),
            "acknowledged write (round {round}, writer {writer}, n {n}) lost"
        );
    }
}
