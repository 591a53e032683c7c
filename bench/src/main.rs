//! `flotilla-bench`: the benchmarks users run.

fn main() {}
