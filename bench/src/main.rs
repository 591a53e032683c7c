//! `flotilla-bench`: the benchmarks users run.
//!
//! Each scenario prints a readable summary and, as its last line, `key=value` pairs that scripts
//! can parse. Scenarios:
//!
//! * `raft-core`: the consensus core alone, many groups of three replicas on in-memory storage
//!   with in-memory message queues; for comparing Raft libraries on the same footing.
//! * `engine`: the storage engine alone on a disk: fsync bound, raw RocksDB against our group
//!   commit, apply throughput, snapshot build and ingest.
//! * `idle`: three stores, many quiet regions: CPU and memory per replica.
//! * `store`: N stores in one process on RocksDB (synced raft writes) over the in-process
//!   transport, many regions, concurrent clients: writes/s, reads/s, latency, fsyncs, CPU.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark binary reports on standard output"
)]

/// The libraries leave the allocator to the program that links them; this one links mimalloc,
/// as a storage engine's binary should. The store's hot path makes many small, short-lived
/// allocations on one thread that another thread frees (messages, callbacks, entries), where
/// glibc's arenas cost the store benchmark a sixth of its throughput (measured: 23.0k against
/// 27.7k writes/s, medians of five interleaved runs). RocksDB's own C++ allocations stay on
/// glibc: routing them through mimalloc too (its `override` feature) changed nothing but p99.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod engine_bench;
mod idle_bench;
mod raft_core;
mod report;
mod rocks_stores;
mod store_bench;
mod sys;

use clap::{Parser, Subcommand};

/// Flotilla's benchmarks.
#[derive(Parser)]
#[command(name = "flotilla-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// The consensus core alone: G groups x 3 replicas on `MemStorage`, in-memory queues.
    RaftCore(raft_core::Options),
    /// The storage engine alone: disk fsyncs, raw RocksDB vs our group commit, apply, snapshots.
    Engine(engine_bench::Options),
    /// Stores in one process on RocksDB over the in-process transport, with concurrent clients.
    Store(store_bench::Options),
    /// Three stores, many quiet regions: CPU and memory per replica.
    Idle(idle_bench::Options),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::RaftCore(opts) => {
            let report = raft_core::run(&opts)?;
            report.print();
        }
        Scenario::Engine(opts) => engine_bench::run(&opts)?.print(),
        Scenario::Store(opts) => store_bench::run(&opts)?.print(),
        Scenario::Idle(opts) => idle_bench::run(&opts)?.print(),
    }
    Ok(())
}
