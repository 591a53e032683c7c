//! Raw column family operations, write batches, snapshots and durability.

use std::path::Path;

use engine::{ApplyBatch, Cf, Error, KvEngine, KvReader, Peekable, RegionId, WriteBatch, keys};

use super::Factory;

fn scan_all<P: Peekable>(p: &P, cf: Cf, start: &[u8], end: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    p.scan_cf(cf, start, end, &mut |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok(true)
    })
    .unwrap();
    out
}

pub fn put_get_delete_in_each_cf<F: Factory>(f: &F, dir: &Path) {
    // Goal: the same key in the three column families holds three independent values.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for cf in Cf::ALL {
        wb.put(cf, b"k", cf.name().as_bytes());
    }
    engine.write(&mut wb, false).unwrap();
    for cf in Cf::ALL {
        assert_eq!(
            engine.get_cf(cf, b"k").unwrap().as_deref(),
            Some(cf.name().as_bytes())
        );
    }
    wb.delete(Cf::Raft, b"k");
    engine.write(&mut wb, false).unwrap();
    assert_eq!(engine.get_cf(Cf::Raft, b"k").unwrap(), None);
    assert!(engine.get_cf(Cf::Meta, b"k").unwrap().is_some());
}

pub fn scan_is_ordered_bounded_and_stoppable<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for key in [&b"d"[..], b"a", b"c", b"b", b"e"] {
        wb.put(Cf::Default, key, key);
    }
    engine.write(&mut wb, false).unwrap();
    let keys: Vec<_> = scan_all(&engine, Cf::Default, b"b", b"e")
        .into_iter()
        .map(|p| p.0)
        .collect();
    assert_eq!(keys, vec![b"b".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    let mut seen = 0;
    engine
        .scan_cf(Cf::Default, b"a", b"z", &mut |_, _| {
            seen += 1;
            Ok(seen < 2)
        })
        .unwrap();
    assert_eq!(seen, 2);
    assert!(scan_all(&engine, Cf::Default, b"c", b"c").is_empty());
    // An error from the visitor stops the scan and comes back.
    let err = engine.scan_cf(Cf::Default, b"a", b"z", &mut |_, _| {
        Err(Error::InvalidArgument("stop".into()))
    });
    assert!(matches!(err, Err(Error::InvalidArgument(_))));
}

pub fn last_in_range_is_bounded_and_sees_deletes<F: Factory>(f: &F, dir: &Path) {
    // Goal: the reverse seek returns the greatest key below the exclusive end and at or above
    // the start, skipping deleted keys and range tombstones, on the engine and on a snapshot.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for i in 0u8..10 {
        wb.put(Cf::Raft, &[i], &[i + 100]);
    }
    wb.put(Cf::Meta, &[20], b"other cf");
    engine.write(&mut wb, false).unwrap();
    let on_engine = |start: &[u8], end: &[u8]| {
        engine
            .last_in_range_cf(Cf::Raft, start, end)
            .unwrap()
            .map(|(k, v)| {
                assert_eq!(v, vec![k[0] + 100]);
                k
            })
    };
    assert_eq!(on_engine(&[0], &[255]), Some(vec![9]));
    assert_eq!(on_engine(&[2], &[5]), Some(vec![4]), "end is exclusive");
    assert_eq!(on_engine(&[4], &[5]), Some(vec![4]));
    assert_eq!(on_engine(&[4, 0], &[5]), None, "start is inclusive");
    assert_eq!(on_engine(&[5], &[5]), None);
    assert_eq!(on_engine(&[7], &[3]), None);
    assert_eq!(on_engine(&[10], &[255]), None);
    let snap = engine.snapshot();
    wb.delete(Cf::Raft, &[9]);
    wb.delete_range(Cf::Raft, &[5], &[9]);
    engine.write(&mut wb, false).unwrap();
    assert_eq!(on_engine(&[0], &[255]), Some(vec![4]));
    assert_eq!(on_engine(&[5], &[255]), None);
    let on_snapshot = |start: &[u8], end: &[u8]| {
        snap.last_in_range_cf(Cf::Raft, start, end)
            .unwrap()
            .map(|(k, _)| k)
    };
    assert_eq!(on_snapshot(&[0], &[255]), Some(vec![9]));
    assert_eq!(on_snapshot(&[5], &[9]), Some(vec![8]));
}

pub fn delete_range_removes_only_the_range<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    for i in 0u8..10 {
        wb.put(Cf::Default, &[i], &[i]);
        wb.put(Cf::Meta, &[i], &[i]);
    }
    engine.write(&mut wb, false).unwrap();
    wb.delete_range(Cf::Default, &[3], &[7]);
    engine.write(&mut wb, false).unwrap();
    let keys: Vec<u8> = scan_all(&engine, Cf::Default, &[0], &[255])
        .iter()
        .map(|p| p.0[0])
        .collect();
    assert_eq!(keys, vec![0, 1, 2, 7, 8, 9]);
    assert_eq!(scan_all(&engine, Cf::Meta, &[0], &[255]).len(), 10);
}

pub fn write_batch_is_atomic_and_left_empty<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    assert!(wb.is_empty());
    wb.put(Cf::Default, b"a", b"1");
    wb.delete(Cf::Default, b"b");
    wb.delete_range(Cf::Raft, b"c", b"d");
    assert_eq!(wb.count(), 3);
    assert!(wb.data_size() > 0);
    wb.clear();
    assert!(wb.is_empty());
    wb.put(Cf::Default, b"a", b"1");
    wb.put(Cf::Default, b"a", b"2");
    engine.write(&mut wb, true).unwrap();
    assert!(wb.is_empty(), "a written batch is left empty");
    assert_eq!(
        engine.get_cf(Cf::Default, b"a").unwrap().as_deref(),
        Some(&b"2"[..])
    );
}

pub fn snapshot_is_point_in_time<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.put_data(b"k", b"old");
    engine.write(&mut wb, false).unwrap();
    let snap = engine.snapshot();
    wb.put_data(b"k", b"new");
    wb.put_data(b"k2", b"new");
    engine.write(&mut wb, false).unwrap();
    assert_eq!(snap.get_data(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    assert_eq!(snap.get_data(b"k2").unwrap(), None);
    let mut n = 0;
    snap.scan_data(b"", b"", &mut |_, _| {
        n += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(engine.get_data(b"k").unwrap().as_deref(), Some(&b"new"[..]));
}

pub fn data_keys_are_separate_from_other_cfs<F: Factory>(f: &F, dir: &Path) {
    // Goal: user keys live under the data prefix; a full-range data delete leaves metadata.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.put_data(b"", b"empty key");
    wb.put_data(&[0xff; 4], b"high key");
    wb.put_apply_state(RegionId(1), &engine::ApplyState::default());
    engine.write(&mut wb, false).unwrap();
    assert_eq!(
        engine
            .get_cf(Cf::Default, &keys::data_key(b""))
            .unwrap()
            .as_deref(),
        Some(&b"empty key"[..])
    );
    wb.delete_data_range(b"", b"");
    engine.write(&mut wb, false).unwrap();
    assert_eq!(engine.get_data(b"").unwrap(), None);
    assert_eq!(engine.get_data(&[0xff; 4]).unwrap(), None);
    assert!(engine.apply_state(RegionId(1)).unwrap().is_some());
}

pub fn undecodable_state_is_corruption<F: Factory>(f: &F, dir: &Path) {
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.put(
        Cf::Meta,
        &keys::apply_state_key(RegionId(4)),
        &[0xff, 0xff, 0xff],
    );
    engine.write(&mut wb, false).unwrap();
    assert!(matches!(
        engine.apply_state(RegionId(4)),
        Err(Error::Corruption(_))
    ));
}

pub fn synced_writes_survive_reopen<F: Factory>(f: &F, dir: &Path) {
    // Goal: a synced write, and every write before it, is there after a restart.
    let engine = f.open(dir);
    let mut wb = engine.write_batch();
    wb.put_data(b"unsynced-before", b"1");
    engine.write(&mut wb, false).unwrap();
    wb.put_data(b"synced", b"2");
    engine.write(&mut wb, true).unwrap();
    // A write batch keeps the database open.
    drop(wb);
    drop(engine);
    let engine = f.open(dir);
    assert_eq!(
        engine.get_data(b"synced").unwrap().as_deref(),
        Some(&b"2"[..])
    );
    assert_eq!(
        engine.get_data(b"unsynced-before").unwrap().as_deref(),
        Some(&b"1"[..])
    );
}
