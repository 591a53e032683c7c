#!/usr/bin/env bash
# tidy: the source rules that rustfmt and clippy do not check (compare tigerbeetle `src/tidy.zig`).
#
#   1. The consensus core (`raftstore/raft/src`) stays pure: no clock, threads, files, sockets,
#      environment, async runtime, RocksDB or unseeded randomness. Its `[dependencies]` stay on a
#      short allow list.
#   2. No `.rs` line in the workspace is longer than 100 columns (lines holding a URL excepted).
#   3. Library crates' `src` holds no `println!`, `print!`, `eprintln!`, `eprint!` or `dbg!`
#      (binaries, `bench/`, tests and a trailing `#[cfg(test)] mod` are exempt): they log with
#      `tracing`.
#
# Every problem is printed as `file:line: what`, and the script exits 1 if there is any.
#
# Usage: scripts/tidy.sh [ROOT]   (ROOT defaults to the repository holding this script)
set -euo pipefail

root="${1:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)}"
cd -- "$root"
# Byte semantics everywhere; the column count below counts UTF-8 characters by hand.
export LC_ALL=C

core_src=raftstore/raft/src
core_manifest=raftstore/raft/Cargo.toml
# The core's allowed dependencies: encoding, buffers, errors, logging and a seedable RNG.
core_deps_allowed="bytes prost thiserror tracing rand rand_core rand_xoshiro"
columns_max=100

problems=0
# Prints the `file:line: what` lines of its argument and counts them into `problems`. Each check's
# output is captured with `$(...)` first, so an awk that fails stops the script instead of passing.
report() {
    local line
    while IFS= read -r line; do
        [[ -n $line ]] || continue
        printf '%s\n' "$line" >&2
        problems=$((problems + 1))
    done <<<"$1"
}

# Every `.rs` file of the workspace, build output and VCS metadata left out.
rs_files=()
while IFS= read -r -d '' file; do
    rs_files+=("${file#./}")
done < <(find . \( -name target -o -name .git \) -prune -o -type f -name '*.rs' -print0 | sort -z)

# Shared awk: `code()` is the line without a trailing `//` comment (doc comments included), so
# prose may name what the code must not use. A `//` glued to a `:` (a URL) is kept.
awk_lib='
function code(s) { sub(/(^|[ \t])\/\/.*$/, "", s); return s }
function word(w) { return "(^|[^A-Za-z0-9_])" w "([^A-Za-z0-9_]|$)" }
'

# 1. The pure core.
core_files=()
for file in "${rs_files[@]}"; do
    [[ $file == "$core_src"/* ]] && core_files+=("$file")
done
if ((${#core_files[@]} > 0)); then
    out=$(awk "$awk_lib"'
        BEGIN {
            n = 0
            for (i = split("time thread fs net env", mods, " "); i > 0; i--) {
                re[++n] = "std::" mods[i] "([^A-Za-z0-9_]|$)"; what[n] = "std::" mods[i]
                # A grouped import on one line: `use std::{sync::Arc, time::Duration};`.
                re[++n] = "std::[{][^}]*[{ ,]" mods[i] "([^A-Za-z0-9_]|$)"
                what[n] = "std::" mods[i]
            }
            split("tokio rocksdb thread_rng from_entropy from_os_rng OsRng getrandom SystemTime Instant",
                names, " ")
            for (i = 1; i in names; i++) { re[++n] = word(names[i]); what[n] = names[i] }
            re[++n] = "rand::rng[ \t]*[(]"; what[n] = "rand::rng()"
            re[++n] = "rand::random"; what[n] = "rand::random (thread-local RNG)"
        }
        {
            line = code($0)
            for (i = 1; i <= n; i++) {
                if (line ~ re[i]) {
                    printf "%s:%d: the pure consensus core must not use %s" \
                        " (no clock, threads, I/O or unseeded randomness)\n", FILENAME, FNR, what[i]
                    break
                }
            }
        }' "${core_files[@]}")
    report "$out"
fi
if [[ -f $core_manifest ]]; then
    out=$(awk -v allowed="$core_deps_allowed" '
        BEGIN { for (i = split(allowed, a, " "); i > 0; i--) ok[a[i]] = 1 }
        function check(name) {
            if (!(name in ok)) {
                printf "%s:%d: the pure consensus core may not depend on `%s`" \
                    " (allowed: %s; widen the list in scripts/tidy.sh on purpose)\n",
                    FILENAME, FNR, name, allowed
            }
        }
        /^[ \t]*\[/ {
            section = $0
            gsub(/[ \t]/, "", section)
            sub(/#.*$/, "", section)
            deps = (section == "[dependencies]" || section ~ /^\[target\..*\.dependencies\]$/)
            if (section ~ /^\[(target\..*\.)?dependencies\.[A-Za-z0-9_-]+\]$/) {
                name = section
                sub(/^.*dependencies\./, "", name)
                sub(/\]$/, "", name)
                check(name)
            }
            next
        }
        deps && /^[ \t]*[A-Za-z0-9_-]/ {
            name = $0
            sub(/^[ \t]*/, "", name)
            sub(/[ \t.=].*$/, "", name)
            check(name)
        }' "$core_manifest")
    report "$out"
fi

# 2. Line length, in characters: UTF-8 continuation bytes (0x80-0xBF) are not counted.
if ((${#rs_files[@]} > 0)); then
    out=$(awk -v max="$columns_max" '
        length($0) > max && index($0, "://") == 0 {
            s = $0
            gsub(/[\200-\277]/, "", s)
            if (length(s) > max) {
                printf "%s:%d: line is %d columns, more than %d\n", FILENAME, FNR, length(s), max
            }
        }' "${rs_files[@]}")
    report "$out"
fi

# 3. Print macros in library code.
lib_files=()
for file in "${rs_files[@]}"; do
    case $file in
        bench/* | */src/bin/* | */src/main.rs) ;;
        src/* | */src/*) lib_files+=("$file") ;;
    esac
done
if ((${#lib_files[@]} > 0)); then
    out=$(awk "$awk_lib"'
        FNR == 1 { in_tests = 0; cfg_test = 0 }
        in_tests { next }
        # The unit tests module, last in the file by convention, may print.
        /^[ \t]*#\[cfg\(test\)\]/ { cfg_test = 1; next }
        cfg_test && /^[ \t]*(pub(\([a-z]+\))?[ \t]+)?mod[ \t]/ { in_tests = 1; next }
        cfg_test && /^[ \t]*(#\[|$)/ { next }
        { cfg_test = 0 }
        code($0) ~ "(^|[^A-Za-z0-9_])(println|print|eprintln|eprint|dbg)!" {
            printf "%s:%d: library code logs with tracing, not print macros or dbg!\n",
                FILENAME, FNR
        }' "${lib_files[@]}")
    report "$out"
fi

if ((problems > 0)); then
    echo "tidy: $problems problem(s) found" >&2
    exit 1
fi
echo "tidy: ok (${#rs_files[@]} .rs files)"
