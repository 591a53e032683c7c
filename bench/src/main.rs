//! `flotilla-bench`: the benchmarks users run.
//!
//! Each scenario prints a readable summary and, as its last line, `key=value` pairs that scripts
//! can parse. Scenarios:
//!
//! * `raft-core`: the consensus core alone, many groups of three replicas on in-memory storage
//!   with in-memory message queues; for comparing Raft libraries on the same footing.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark binary reports on standard output"
)]

mod raft_core;
mod report;
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
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.scenario {
        Scenario::RaftCore(opts) => {
            let report = raft_core::run(&opts)?;
            report.print();
        }
    }
    Ok(())
}
