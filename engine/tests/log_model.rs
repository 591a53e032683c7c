//! Property test: random appends (with conflicts and hard state changes), compactions,
//! restarts and reads through `PeerStorage` on the `mem` engine agree with a plain vector model
//! of the log, and recovery rebuilds the log end and hard state the model expects (term and vote
//! as last changed, commit the maximum of the last written commit and the applied index).
#![allow(
    clippy::unwrap_used,
    clippy::missing_panics_doc,
    reason = "test code: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use bytes::Bytes;
use engine::{
    CacheBudget, INIT_LOG_INDEX, INIT_LOG_TERM, KvEngine, MemEngine, PeerStorage, RaftLogReader,
    Region, RegionId, recover_regions, write_initial_states,
};
use proptest::prelude::*;
use raft::Storage;
use raft::raftpb::{Entry, HardState};

const R: RegionId = RegionId(1);

#[derive(Clone, Debug)]
enum Op {
    /// Append `len` entries starting `back` entries before the end (a conflict if > 0, never
    /// below the commit index), with a hard state change.
    Append { back: u64, len: u64, hard: HardOp },
    /// Apply and compact a fraction (in percent) of the committed log.
    Compact { percent: u64 },
    /// Evict the cache up to a fraction of the log.
    Evict { percent: u64 },
    /// Drop the whole cache (the region went quiet).
    ReleaseCache,
    /// Crash and reopen (everything here is synced).
    Restart,
    /// Read a range.
    Read {
        from_percent: u64,
        len: u64,
        max_entries: u64,
    },
}

/// The hard state passed with an append.
#[derive(Clone, Copy, Debug)]
enum HardOp {
    /// None.
    Unchanged,
    /// The commit index moves a fraction (in percent) of the way to the log end.
    Commit { percent: u64 },
    /// A new term with a vote (0: none).
    Term { vote: u64 },
    /// A vote in the current term.
    Vote { vote: u64 },
}

fn hard_op() -> impl Strategy<Value = HardOp> {
    prop_oneof![
        3 => Just(HardOp::Unchanged),
        3 => (0u64..=100).prop_map(|percent| HardOp::Commit { percent }),
        1 => (0u64..4).prop_map(|vote| HardOp::Term { vote }),
        1 => (1u64..4).prop_map(|vote| HardOp::Vote { vote }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..6, 1u64..8, hard_op())
            .prop_map(|(back, len, hard)| Op::Append { back, len, hard }),
        1 => (0u64..100).prop_map(|percent| Op::Compact { percent }),
        1 => (0u64..100).prop_map(|percent| Op::Evict { percent }),
        1 => Just(Op::ReleaseCache),
        1 => Just(Op::Restart),
        3 => (0u64..100, 1u64..12, 1u64..6).prop_map(|(from_percent, len, max_entries)| Op::Read {
            from_percent, len, max_entries
        }),
    ]
}

struct Model {
    /// `(index, term)` of every entry after the compaction point.
    log: Vec<(u64, u64)>,
    truncated: (u64, u64),
    /// The term of the next appended entries (bumped by every append, so that a stale entry
    /// left behind by a conflict shows).
    entry_term: u64,
    /// The hard state as the core last handed it over.
    hard_state: HardState,
    /// The commit index of the last hard state with a new term or vote: what the engine holds.
    written_commit: u64,
    applied: u64,
}

impl Model {
    fn new() -> Model {
        Model {
            log: Vec::new(),
            truncated: (INIT_LOG_INDEX, INIT_LOG_TERM),
            entry_term: INIT_LOG_TERM,
            hard_state: HardState {
                term: INIT_LOG_TERM,
                vote: 0,
                commit: INIT_LOG_INDEX,
            },
            written_commit: INIT_LOG_INDEX,
            applied: INIT_LOG_INDEX,
        }
    }

    /// Appends to the model; returns the entries and hard state to hand to the storage.
    fn append(&mut self, back: u64, len: u64, hard: HardOp) -> (Vec<Entry>, Option<HardState>) {
        self.entry_term += 1;
        // Committed entries never conflict.
        let first = (self.last().0 + 1)
            .saturating_sub(back)
            .max(self.hard_state.commit + 1);
        let ents: Vec<Entry> = (first..first + len)
            .map(|i| Entry::new(i, self.entry_term, Bytes::from(vec![i as u8; 50])))
            .collect();
        self.log.retain(|&(i, _)| i < first);
        self.log.extend(ents.iter().map(|e| (e.index, e.term)));
        let hard_state = self.next_hard_state(hard, first + len - 1);
        (ents, hard_state)
    }

    /// Applies and compacts up to a fraction of the committed log; returns the compaction
    /// point, `None` if nothing is committed past it.
    fn compact(&mut self, percent: u64) -> Option<u64> {
        let commit = self.hard_state.commit;
        let committed = self.log.iter().take_while(|&&(i, _)| i <= commit).count();
        let to = self.log.get(committed * percent as usize / 100).copied()?;
        if to.0 > commit {
            return None;
        }
        self.applied = self.applied.max(to.0);
        self.log.retain(|&(i, _)| i > to.0);
        self.truncated = to;
        Some(to.0)
    }

    fn last(&self) -> (u64, u64) {
        self.log.last().copied().unwrap_or(self.truncated)
    }

    /// The hard state handed over with an append ending at `last_index`, if any.
    fn next_hard_state(&mut self, hard: HardOp, last_index: u64) -> Option<HardState> {
        let hs = &mut self.hard_state;
        let term_or_vote = match hard {
            HardOp::Unchanged => return None,
            HardOp::Commit { percent } => {
                hs.commit += (last_index - hs.commit) * percent / 100;
                false
            }
            HardOp::Term { vote } => {
                hs.term += 1;
                hs.vote = vote;
                true
            }
            HardOp::Vote { vote } => {
                let changed = hs.vote != vote;
                hs.vote = vote;
                changed
            }
        };
        if term_or_vote {
            self.written_commit = hs.commit;
        }
        Some(*hs)
    }

    /// The hard state recovery must rebuild.
    fn recovered_hard_state(&self) -> HardState {
        HardState {
            commit: self.written_commit.max(self.applied),
            ..self.hard_state
        }
    }
}

fn open(engine: &MemEngine, budget: &Arc<CacheBudget>) -> PeerStorage<MemEngine> {
    PeerStorage::open(engine.clone(), R, Arc::clone(budget)).unwrap()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut engine = MemEngine::new();
    let mut wb = engine.write_batch();
    write_initial_states(
        &mut wb,
        &Region {
            id: R.0,
            ..Region::default()
        },
    );
    engine.write(&mut wb, true).unwrap();
    let budget = CacheBudget::new(2_000);
    let mut storage = open(&engine, &budget);
    let mut model = Model::new();
    for op in ops {
        match op {
            Op::Append { back, len, hard } => {
                let (ents, hard_state) = model.append(back, len, hard);
                storage.append(&ents, hard_state, &mut wb);
                engine.write(&mut wb, true).unwrap();
            }
            Op::Compact { percent } => {
                let Some(to) = model.compact(percent) else {
                    continue;
                };
                storage.set_applied_index(model.applied);
                storage.compact(to, &mut wb).unwrap();
                engine.write(&mut wb, true).unwrap();
            }
            Op::Evict { percent } => {
                if let Some(&(index, _)) = model.log.get(model.log.len() * percent as usize / 100) {
                    storage.evict_cache_to(index);
                }
            }
            Op::ReleaseCache => {
                storage.release_cache();
                prop_assert_eq!(storage.cache_bytes(), 0);
            }
            Op::Restart => {
                drop(storage);
                engine = engine.crash_clone();
                let regions = recover_regions(&engine).unwrap();
                let recovered = regions[0].raft_state.unwrap();
                prop_assert_eq!((recovered.last_index, recovered.last_term), model.last());
                model.hard_state = model.recovered_hard_state();
                prop_assert_eq!(recovered.hard_state(), model.hard_state);
                storage = open(&engine, &budget);
                prop_assert_eq!(storage.raft_state(), recovered);
            }
            Op::Read {
                from_percent,
                len,
                max_entries,
            } => {
                check_read(&storage, &model, from_percent, len, max_entries)?;
            }
        }
        prop_assert!(budget.used_bytes() <= budget.limit_bytes());
        check_log(&engine, &storage, &model)?;
    }
    Ok(())
}

/// The storage's bounds and terms, and the engine's log, agree with the model.
fn check_log(
    engine: &MemEngine,
    storage: &PeerStorage<MemEngine>,
    model: &Model,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(storage.first_index().unwrap(), model.truncated.0 + 1);
    prop_assert_eq!(storage.last_index().unwrap(), model.last().0);
    prop_assert_eq!(storage.term(model.truncated.0).unwrap(), model.truncated.1);
    for &(index, term) in &model.log {
        prop_assert_eq!(storage.term(index).unwrap(), term);
        prop_assert_eq!(
            engine.log_entry(R, index).unwrap().map(|e| e.term),
            Some(term)
        );
    }
    prop_assert_eq!(engine.log_entry(R, model.last().0 + 1).unwrap(), None);
    if model.truncated.0 > INIT_LOG_INDEX {
        prop_assert_eq!(engine.log_entry(R, model.truncated.0).unwrap(), None);
    }
    Ok(())
}

fn check_read(
    storage: &PeerStorage<MemEngine>,
    model: &Model,
    from_percent: u64,
    len: u64,
    max_entries: u64,
) -> Result<(), TestCaseError> {
    let Some(&(lo, _)) = model.log.get(model.log.len() * from_percent as usize / 100) else {
        return Ok(());
    };
    let hi = (lo + len).min(model.last().0 + 1);
    let one = Entry::new(0, 0, Bytes::from(vec![0u8; 50])).size();
    let got = storage.entries(lo, hi, one * max_entries).unwrap();
    let want: Vec<(u64, u64)> = model
        .log
        .iter()
        .copied()
        .filter(|&(i, _)| i >= lo && i < hi)
        .take(max_entries as usize)
        .collect();
    prop_assert_eq!(
        got.iter().map(|e| (e.index, e.term)).collect::<Vec<_>>(),
        want
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}
