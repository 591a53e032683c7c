# Flotilla's entry points. The README tells people to run `make test` and `make bench`; CI runs
# `.ci/run`, which runs `make test`. Recipes run cargo one command at a time: the machines this
# project builds on have two cores, and a second cargo would only wait for the build lock.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

CARGO ?= cargo

# System packages the build needs. `make setup` checks each with `dpkg -s` and, as root, installs
# the missing ones. rustc links through `cc`, which needs gcc and the C library's headers and
# start files.
APT_PACKAGES := gcc libc6-dev

# RocksDB (crate rocksdb 0.25, for engine/) needs libclang-dev for bindgen and g++ to compile
# RocksDB itself. libclang-dev brings LLVM (about 300 MB installed, most of a minute on a fresh
# CI machine), so the list names them only while a manifest names `rocksdb` or Cargo.lock names
# `librocksdb-sys`, as the workspace does since the engine landed.
ROCKSDB_APT_PACKAGES := libclang-dev g++
USES_ROCKSDB := $(shell grep -qs 'name = "librocksdb-sys"' Cargo.lock \
	|| grep -qsE '^[[:space:]]*rocksdb[[:space:]]*[.=]' \
		Cargo.toml $(wildcard */Cargo.toml */*/Cargo.toml) && echo yes)
ifeq ($(USES_ROCKSDB),yes)
APT_PACKAGES += $(ROCKSDB_APT_PACKAGES)
endif

# `make sim SEEDS=n` runs the consensus simulator over n seeds (`make test` runs 5000; this runs
# more, about 40 s on two cores).
SEEDS ?= 20000

# `idle` runs the issue's size, 100,000 regions: about a minute of cold start (elections and one
# write per region, progress on stderr) before the measured ten seconds.
# The raft-core headline settings: G Raft groups, C clients (proposals in flight), B payload
# bytes per proposal, on one thread, each run for BENCH_SECS seconds.
BENCH_SECS ?= 5
BENCH_BIN := target/release/flotilla-bench
BENCH_FLAGS := --threads 1 --secs $(BENCH_SECS)

.PHONY: help setup fmt lint tidy test sim bench dev ci

help:
	@echo 'make setup   check cargo and system packages; as root, install missing packages'
	@echo 'make test    setup, lint, then cargo test --workspace --all-features (what CI runs)'
	@echo 'make bench   setup, build flotilla-bench in release, run raft-core, engine, store, idle'
	@echo 'make sim     run the consensus simulator over SEEDS seeds (default $(SEEDS))'
	@echo 'make lint    rustfmt --check, tidy, clippy --all-features -D warnings'
	@echo 'make tidy    pure-core imports, 100 columns, no print macros in libraries'
	@echo 'make fmt     format the workspace'
	@echo 'make dev     fmt, then lint'
	@echo 'make ci      what CI runs: test'

setup:
	@bash scripts/setup.sh $(APT_PACKAGES)

fmt:
	$(CARGO) fmt --all

lint:
	$(CARGO) fmt --all -- --check
	@$(MAKE) tidy
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

tidy:
	@bash scripts/tidy.sh
	@bash scripts/tidy_test.sh

# Tests run in the dev profile, which the workspace optimizes, so `make sim` reuses the build.
# `--all-features` includes the engine's RocksDB tests (conformance, crash, read-only); clippy
# uses the same features so both share one build of RocksDB.
test: setup
	@$(MAKE) lint
	$(CARGO) test --workspace --all-features

sim:
	SIM_SEEDS=$(SEEDS) $(CARGO) test -p raft --test sim

bench: setup
	$(CARGO) build --release -p bench
	$(BENCH_BIN) raft-core --groups 1 --clients 64 --value-size 128 $(BENCH_FLAGS)
	$(BENCH_BIN) raft-core --groups 1000 --clients 256 --value-size 128 $(BENCH_FLAGS)
	$(BENCH_BIN) raft-core --groups 10000 --memory --threads 1
	$(BENCH_BIN) engine --secs 3
	$(BENCH_BIN) store --stores 3 --regions 1000 --clients 256 --value-size 128 --secs 10
	$(BENCH_BIN) idle --regions 100000 --secs 10

dev:
	@$(MAKE) fmt
	@$(MAKE) lint

ci: test
