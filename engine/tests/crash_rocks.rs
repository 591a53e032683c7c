//! Crash tests on RocksDB: kill -9 in the middle of synced group commits.
//!
//! Goal: nothing acknowledged is lost and nothing half-written is seen after SIGKILL. Method: a
//! child process (`engine-crash-child`) appends entries to several regions per synced batch and
//! reports each batch on stdout once its write returned, applying in between with unsynced
//! batches. The parent kills it at a random moment, reopens the database and checks that every
//! reported entry is there, that every log is contiguous up to its recovered end (the child
//! writes no raft state after creating its regions: the end comes from the log itself), and that
//! every region's apply state matches its data exactly. The same directory goes through several
//! rounds, so recovery from a previous crash is crashed again.
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]
#![cfg(feature = "rocksdb")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use engine::{KvReader, RaftLogReader, RegionId, RocksConfig, RocksEngine, recover_regions};
use rand::{RngExt, SeedableRng};

const ROUNDS: usize = 6;

#[test]
fn synced_batches_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    println!("crash test seed {seed} (CRASH_SEED={seed} replays the kill times)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut total_reported = 0;
    for round in 0..ROUNDS {
        let reported = run_child_and_kill(&db, seed + round as u64, rng.random_range(100..700));
        total_reported += reported.len();
        println!(
            "round {round}: {} synced batches reported before the kill",
            reported.len()
        );
        check_after_crash(&db, &reported);
    }
    assert!(
        total_reported > 0,
        "the child never reported a synced batch"
    );
}

/// Runs the child for `run_ms` after its first report, kills it, and returns the batches it
/// reported, each as `(region, index, batch)` triples.
fn run_child_and_kill(db: &std::path::Path, seed: u64, run_ms: u64) -> Vec<Vec<(u64, u64, u64)>> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_engine-crash-child"))
        .arg(db)
        .arg(seed.to_string())
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
    // Wait for the first report (the child has opened and recovered), then let it run.
    let first = rx
        .recv_timeout(Duration::from_mins(1))
        .expect("child reported nothing");
    let deadline = Instant::now() + Duration::from_millis(run_ms);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    std::iter::once(first)
        .chain(rx.try_iter())
        .filter_map(|line| parse(&line))
        .collect()
}

/// Parses `synced BATCH REGION:INDEX ...`; a line cut by the kill has no batch number or a
/// broken pair and is ignored (a line is only read whole, with its newline).
fn parse(line: &str) -> Option<Vec<(u64, u64, u64)>> {
    let mut words = line.split(' ');
    (words.next()? == "synced").then_some(())?;
    let batch: u64 = words.next()?.parse().ok()?;
    words
        .map(|pair| {
            let (r, i) = pair.split_once(':')?;
            Some((r.parse().ok()?, i.parse().ok()?, batch))
        })
        .collect()
}

fn check_after_crash(db: &std::path::Path, reported: &[Vec<(u64, u64, u64)>]) {
    let engine = RocksEngine::open(db, &RocksConfig::small()).unwrap();
    let recovered = recover_regions(&engine).unwrap();
    for &(region, index, batch) in reported.iter().flatten() {
        let entry = engine.log_entry(RegionId(region), index).unwrap();
        let entry = entry.unwrap_or_else(|| panic!("region {region} entry {index} lost"));
        assert_eq!(
            entry.data,
            format!("batch-{batch}-region-{region}").as_bytes()
        );
        let last = recovered
            .iter()
            .find(|r| r.region_id == RegionId(region))
            .unwrap_or_else(|| panic!("region {region} not recovered"))
            .last_index();
        assert!(
            last >= index,
            "recovered log end {last} of region {region} behind its log"
        );
    }
    for recovered in recovered {
        let region = recovered.region_id;
        let (first, last) = (recovered.first_index(), recovered.last_index());
        let mut log = Vec::new();
        engine
            .fetch_entries(region, first, last + 1, u64::MAX, &mut log)
            .unwrap();
        assert_eq!(
            log.len() as u64,
            last + 1 - first,
            "region {region} log has a gap"
        );
        assert_eq!(
            engine.log_entry(region, last + 1).unwrap(),
            None,
            "entry past the raft state"
        );
        let applied = recovered.apply_state.unwrap().applied_index;
        assert!(
            applied <= last,
            "region {region} applied {applied} past its log end {last}"
        );
        let commit = recovered.raft_state.unwrap().hard_state().commit;
        assert!(
            commit >= applied,
            "region {region} commit {commit} below applied {applied}"
        );
        // The data is exactly the applied entries: all of them, nothing after.
        let prefix = format!("r{:04}/", region.0);
        let mut keys = Vec::new();
        engine
            .scan_data(
                prefix.as_bytes(),
                format!("r{:04}0", region.0).as_bytes(),
                &mut |k, v| {
                    keys.push((String::from_utf8(k.to_vec()).unwrap(), v.to_vec()));
                    Ok(true)
                },
            )
            .unwrap();
        let want: Vec<String> = (first..=applied)
            .map(|i| format!("{prefix}{i:010}"))
            .collect();
        let got: Vec<&String> = keys.iter().map(|(k, _)| k).collect();
        assert_eq!(
            got,
            want.iter().collect::<Vec<_>>(),
            "region {region} data vs apply state"
        );
        for (key, value) in &keys {
            let index: u64 = key[prefix.len()..].parse().unwrap();
            assert_eq!(
                &engine.log_entry(region, index).unwrap().unwrap().data[..],
                &value[..]
            );
        }
    }
}
