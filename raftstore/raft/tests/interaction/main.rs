//! Golden interaction tests for the consensus core, in the manner of etcd-raft's datadriven
//! interaction tests.
//!
//! Every file in `raftstore/raft/testdata` is a script: commands that create nodes, step
//! them, move messages between them and print what happened (Readys, messages, the nodes' own
//! log lines). The expected output sits under each command. A run compares; `REWRITE=1 cargo
//! test -p raft --test interaction` rewrites the expected output from what the code does now,
//! and the diff is then reviewed like code. `RUN=<file>` runs one script.
//!
//! | module | owns |
//! | --- | --- |
//! | [`env`] | the nodes, the messages in flight, command dispatch |
//! | [`handlers`] | one file per command |
//! | [`describe`] | the text form of Readys, messages, entries, snapshots |
//! | [`logger`] | capturing `tracing` events as output lines |
//! | [`output`] | the shared, indenting output buffer and the log level |
//! | [`args`] | the arguments of a command line |

mod args;
mod describe;
mod env;
mod handlers;
mod logger;
mod output;

use env::InteractionEnv;
use output::Output;

#[test]
fn interaction() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata");
    datadriven::walk(dir, |file| {
        let output = Output::new();
        let _logs = tracing::subscriber::set_default(logger::subscriber(output.clone()));
        let mut env = InteractionEnv::new(output);
        file.run(|case| env.handle(case));
    });
}
