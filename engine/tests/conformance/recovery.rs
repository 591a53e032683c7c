//! Recovery on open.

use std::path::Path;

use engine::{
    ApplyBatch, Cf, Error, INIT_LOG_INDEX, KvEngine, PeerState, RaftLogBatch, RegionId,
    RegionLocalState, WriteBatch, keys, recover_regions, write_initial_states,
};
use raft::raftpb::HardState;

use super::{Factory, entries, region};

pub fn recovery_lists_every_region_with_states<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for id in [3u64, 1, 2] {
        write_initial_states(&mut wb, &region(id, &[id as u8], &[id as u8 + 1]));
    }
    wb.put_region_state(
        RegionId(9),
        &RegionLocalState::new(PeerState::Tombstone, region(9, b"x", b"y")),
    );
    engine.write(&mut wb, true).unwrap();
    // Region 2 grows its log.
    let storage = engine::PeerStorage::open(
        engine.clone(),
        RegionId(2),
        engine::CacheBudget::new(1 << 20),
    )
    .unwrap();
    let hs = HardState {
        term: 6,
        vote: 21,
        commit: INIT_LOG_INDEX + 2,
    };
    storage.append(
        &entries(INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 4, 6),
        Some(hs),
        &mut wb,
    );
    engine.write(&mut wb, true).unwrap();
    drop(storage);
    // A write batch keeps the database open.
    drop(wb);
    drop(engine);

    let engine = f.open(dir);
    let regions = recover_regions(&engine).unwrap();
    let ids: Vec<u64> = regions.iter().map(|r| r.region_id.0).collect();
    assert_eq!(ids, vec![1, 2, 3, 9]);
    let r2 = &regions[1];
    assert_eq!(r2.peer_state(), PeerState::Normal);
    assert_eq!(
        (r2.first_index(), r2.last_index()),
        (INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 3)
    );
    assert_eq!(r2.raft_state.unwrap().hard_state(), hs);
    assert_eq!(r2.apply_state.unwrap().applied_index, INIT_LOG_INDEX);
    assert_eq!(
        r2.local_state.region.as_ref().unwrap().start_key.as_ref(),
        &[2u8]
    );
    assert_eq!(regions[3].peer_state(), PeerState::Tombstone);
}

pub fn recovery_refuses_missing_states<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    write_initial_states(&mut wb, &region(5, b"", b""));
    wb.delete(Cf::Meta, &keys::apply_state_key(RegionId(5)));
    engine.write(&mut wb, true).unwrap();
    assert!(matches!(
        recover_regions(&engine),
        Err(Error::Corruption(_))
    ));
}

pub fn recovery_refuses_log_missing_its_last_entry<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    write_initial_states(&mut wb, &region(5, b"", b""));
    engine.write(&mut wb, true).unwrap();
    let storage = engine::PeerStorage::open(
        engine.clone(),
        RegionId(5),
        engine::CacheBudget::new(1 << 20),
    )
    .unwrap();
    storage.append(
        &entries(INIT_LOG_INDEX + 1, INIT_LOG_INDEX + 4, 6),
        None,
        &mut wb,
    );
    wb.delete_log_entries(RegionId(5), INIT_LOG_INDEX + 3, INIT_LOG_INDEX + 4);
    engine.write(&mut wb, true).unwrap();
    let err = recover_regions(&engine).unwrap_err();
    assert!(
        matches!(err, Error::Corruption(ref m) if m.contains("missing")),
        "{err}"
    );
}
