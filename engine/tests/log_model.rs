//! Property test: random appends (with conflicts), compactions, restarts and reads through
//! `PeerStorage` on the `mem` engine agree with a plain vector model of the log.
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
use raft::raftpb::Entry;

const R: RegionId = RegionId(1);

#[derive(Clone, Debug)]
enum Op {
    /// Append `len` entries starting `back` entries before the end (a conflict if > 0).
    Append { back: u64, len: u64 },
    /// Apply and compact a fraction (in percent) of the log.
    Compact { percent: u64 },
    /// Evict the cache up to a fraction of the log.
    Evict { percent: u64 },
    /// Crash and reopen (everything here is synced).
    Restart,
    /// Read a range.
    Read {
        from_percent: u64,
        len: u64,
        max_entries: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..6, 1u64..8).prop_map(|(back, len)| Op::Append { back, len }),
        1 => (0u64..100).prop_map(|percent| Op::Compact { percent }),
        1 => (0u64..100).prop_map(|percent| Op::Evict { percent }),
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
    term: u64,
}

impl Model {
    fn last(&self) -> (u64, u64) {
        self.log.last().copied().unwrap_or(self.truncated)
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
    let mut model = Model {
        log: Vec::new(),
        truncated: (INIT_LOG_INDEX, INIT_LOG_TERM),
        term: INIT_LOG_TERM,
    };
    for op in ops {
        match op {
            Op::Append { back, len } => {
                model.term += 1;
                let first = (model.last().0 + 1)
                    .saturating_sub(back)
                    .max(model.truncated.0 + 1);
                let ents: Vec<Entry> = (first..first + len)
                    .map(|i| Entry::new(i, model.term, Bytes::from(vec![i as u8; 50])))
                    .collect();
                model.log.retain(|&(i, _)| i < first);
                model.log.extend(ents.iter().map(|e| (e.index, e.term)));
                storage.append(&ents, None, &mut wb);
                engine.write(&mut wb, true).unwrap();
            }
            Op::Compact { percent } => {
                let Some(to) = model
                    .log
                    .get(model.log.len() * percent as usize / 100)
                    .copied()
                else {
                    continue;
                };
                storage.set_applied_index(to.0.max(storage.apply_state().applied_index));
                storage.compact(to.0, &mut wb).unwrap();
                engine.write(&mut wb, true).unwrap();
                model.log.retain(|&(i, _)| i > to.0);
                model.truncated = to;
            }
            Op::Evict { percent } => {
                if let Some(&(index, _)) = model.log.get(model.log.len() * percent as usize / 100) {
                    storage.evict_cache_to(index);
                }
            }
            Op::Restart => {
                drop(storage);
                engine = engine.crash_clone();
                let regions = recover_regions(&engine).unwrap();
                prop_assert_eq!(regions[0].last_index(), model.last().0);
                storage = open(&engine, &budget);
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
