#!/usr/bin/env bash
# Tests scripts/tidy.sh on small scratch trees: a clean tree passes, and each rule catches what it
# is for and names the file and line. Runs in well under a second; `make tidy` runs it every time.
set -euo pipefail

here="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)"
tidy="$here/tidy.sh"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/tidy_test.XXXXXX")"
trap 'rm -rf -- "$scratch"' EXIT

cases=0
fail() {
    echo "tidy_test: FAIL: $*" >&2
    exit 1
}

# A clean tree with the workspace's shape, holding the near misses each rule must let through.
base="$scratch/base"
mkdir -p "$base/raftstore/raft/src" "$base/raftstore/raft/tests" "$base/engine/src" \
    "$base/bench/src" "$base/target/debug"
cat >"$base/raftstore/raft/Cargo.toml" <<'EOF'
[package]
name = "raft"

[dependencies]
bytes.workspace = true
prost = { workspace = true }
rand_xoshiro.workspace = true

[dependencies.thiserror]
workspace = true

[dev-dependencies]
proptest.workspace = true
EOF
cat >"$base/raftstore/raft/src/lib.rs" <<'EOF'
//! The core reads no clock: it never uses `std::time`, `Instant` or `SystemTime`.

use std::collections::HashMap; // Not std::thread, not tokio.

/// See https://raft.github.io/raft.pdf, the extended version, for the rules that this module implements.
pub struct Raft {
    /// A field whose name contains a forbidden word: `instant_reads` is not `Instant`.
    pub instant_reads: HashMap<u64, u64>,
}
EOF
# Exactly 100 columns, with multi-byte characters, is allowed.
printf '// %s\n' "$(printf 'é%.0s' {1..97})" >>"$base/raftstore/raft/src/lib.rs"
cat >"$base/raftstore/raft/tests/sim.rs" <<'EOF'
use std::time::Instant;
fn main() { println!("{:?}", Instant::now()); }
EOF
cat >"$base/engine/src/lib.rs" <<'EOF'
//! Prints only in tests, like `println!("x")` in this comment.

pub fn f() {}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn prints() {
        println!("allowed in the tests module");
    }
}
EOF
echo 'fn main() { println!("the bench prints its report"); }' >"$base/bench/src/main.rs"
printf '// %s\n' "$(printf 'x%.0s' {1..200})" >"$base/target/debug/build_output.rs"

# Copies the clean tree to a new case directory and prints its path.
new_case() {
    local dir="$scratch/case$((cases + 1))"
    cp -r "$base" "$dir"
    echo "$dir"
}

# expect_pass DIR: tidy accepts DIR.
expect_pass() {
    local out
    out="$("$tidy" "$1" 2>&1)" || fail "tidy rejected a clean tree ($1):"$'\n'"$out"
    cases=$((cases + 1))
}

# expect_fail DIR NEEDLE: tidy rejects DIR, and its output contains NEEDLE (usually file:line:).
expect_fail() {
    local out
    if out="$("$tidy" "$1" 2>&1)"; then
        fail "tidy accepted $1, expected a report containing '$2'"
    fi
    [[ $out == *"$2"* ]] || fail "tidy output lacks '$2':"$'\n'"$out"
    cases=$((cases + 1))
}

expect_pass "$base"

dir="$(new_case)"
printf '%s\n' '//! Clock.' '' 'use std::time::Instant;' >"$dir/raftstore/raft/src/clock.rs"
expect_fail "$dir" "raftstore/raft/src/clock.rs:3: the pure consensus core must not use std::time"

dir="$(new_case)"
echo 'use std::{sync::Arc, thread};' >>"$dir/raftstore/raft/src/lib.rs"
expect_fail "$dir" "raftstore/raft/src/lib.rs:11: the pure consensus core must not use std::thread"

dir="$(new_case)"
echo 'fn seed() -> u64 { rand::rng().next_u64() }' >>"$dir/raftstore/raft/src/lib.rs"
expect_fail "$dir" "raftstore/raft/src/lib.rs:11: the pure consensus core must not use rand::rng()"

dir="$(new_case)"
echo 'fn now() -> u64 { let t = SystemTime::now(); 0 } // Wall clock.' \
    >>"$dir/raftstore/raft/src/lib.rs"
expect_fail "$dir" "raftstore/raft/src/lib.rs:11: the pure consensus core must not use SystemTime"

dir="$(new_case)"
sed -i '/^\[dependencies\]$/a tokio = "1"' "$dir/raftstore/raft/Cargo.toml"
expect_fail "$dir" "raftstore/raft/Cargo.toml:5: the pure consensus core may not depend on \`tokio\`"

dir="$(new_case)"
printf '    let x = 1; // %s\n' "$(printf 'y%.0s' {1..83})" >>"$dir/engine/src/lib.rs"
expect_fail "$dir" "engine/src/lib.rs:13: line is 101 columns, more than 100"

dir="$(new_case)"
sed -i 's|^pub fn f() {}|pub fn f() { dbg!(1); }|' "$dir/engine/src/lib.rs"
expect_fail "$dir" "engine/src/lib.rs:3: library code logs with tracing"

echo "tidy_test: ok ($cases cases)"
