//! Projecting a history onto one register history per key.
//!
//! Linearizability is local (Herlihy and Wing): a history of single-key operations is
//! linearizable exactly when each key's sub-history is. So the checker searches each key on its
//! own, which keeps every search small. Each key is a register that starts absent; a put writes
//! a value, a delete writes "absent", a get reads.
//!
//! What each operation becomes on its key:
//!
//! | operation | outcome | on its key |
//! | --- | --- | --- |
//! | put, delete | ok | a write that must take effect inside its interval |
//! | put, delete | unknown, pending | a write that may take effect after its invocation, or never |
//! | get | ok | a read that must see its value inside its interval |
//! | scan | ok | a read of every known key in its range (absent if not returned) |
//! | any | failed | nothing |
//! | get, scan | unknown, pending | nothing: a read that returned nothing constrains nothing |
//!
//! The "known keys" a scan reads are those any operation of the history names: a key no operation
//! names was never written, so a scan cannot have missed it.
//!
//! An unknown write whose value no read saw is dropped: taking effect "never" explains it, and
//! keeping it would only multiply the states the search visits.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use bytes::Bytes;

use super::{History, Op, OpId, OpKind, Outcome, Reply};

/// Names a value of one key: `ABSENT`, or `1 + i` for `KeyHistory::values[i]`.
pub(crate) type ValueId = u32;

/// The value of a key that holds nothing. Every key starts absent.
pub(crate) const ABSENT: ValueId = 0;

/// What one operation does to its key's register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Sets the register to the value.
    Write(ValueId),
    /// Observes the value in the register.
    Read(ValueId),
}

impl Action {
    /// Returns the value written or read.
    pub(crate) fn value(self) -> ValueId {
        match self {
            Self::Write(value) | Self::Read(value) => value,
        }
    }
}

/// One operation as its key sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyOp {
    /// The operation of the full history this comes from (a scan gives one per key).
    pub(crate) id: OpId,
    /// Its effect on the register.
    pub(crate) action: Action,
    /// It takes effect no earlier than this.
    pub(crate) invoked_at: u64,
    /// It takes effect no later than this; `None` when its outcome is unknown, which means it
    /// may take effect at any time after `invoked_at`, or never.
    ///
    /// Invariant: `completed_at >= Some(invoked_at)` when present.
    pub(crate) completed_at: Option<u64>,
}

/// The register history of one key.
#[derive(Clone, Debug)]
pub(crate) struct KeyHistory {
    /// The key.
    pub(crate) key: Bytes,
    /// Its operations, sorted by invocation time, then id.
    pub(crate) ops: Vec<KeyOp>,
    /// The distinct values written or read on the key; `ValueId` `1 + i` names `values[i]`.
    pub(crate) values: Vec<Bytes>,
}

impl KeyHistory {
    /// Returns the value `id` names, `None` for [`ABSENT`].
    pub(crate) fn value(&self, id: ValueId) -> Option<&Bytes> {
        id.checked_sub(1).map(|index| &self.values[index as usize])
    }
}

/// A reply that no store could give whatever the order: a scan returned a key outside its range
/// or the same key twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Malformed {
    /// The offending key.
    pub(crate) key: Bytes,
    /// The scan that returned it.
    pub(crate) id: OpId,
    /// Why the reply is impossible, completing "returned the key, which ...".
    pub(crate) reason: &'static str,
}

/// Splits `history` into one register history per key, in key order.
pub(crate) fn partition(history: &History) -> Result<Vec<KeyHistory>, Malformed> {
    let mut keys: BTreeMap<Bytes, KeyBuilder> = BTreeMap::new();
    for (index, op) in history.ops().iter().enumerate() {
        for key in partition_keys(OpId(index), op)? {
            keys.entry(key).or_default();
        }
    }
    for (index, op) in history.ops().iter().enumerate() {
        partition_op(&mut keys, OpId(index), op);
    }
    Ok(keys
        .into_iter()
        .map(|(key, builder)| builder.finish(key))
        .collect())
}

/// Returns the keys `op` names, after checking that a scan's reply fits its range.
fn partition_keys(id: OpId, op: &Op) -> Result<Vec<Bytes>, Malformed> {
    if op.outcome == Outcome::Failed {
        return Ok(Vec::new());
    }
    match (&op.kind, &op.outcome) {
        (OpKind::Put { key, .. } | OpKind::Delete { key } | OpKind::Get { key }, _) => {
            Ok(vec![key.clone()])
        }
        (OpKind::Scan { start, end }, Outcome::Ok(Reply::Entries(entries))) => {
            let mut seen = BTreeSet::new();
            for (key, _) in entries {
                let reason = if key < start || key >= end {
                    "lies outside the scanned range"
                } else if !seen.insert(key.clone()) {
                    "appears twice in the reply"
                } else {
                    continue;
                };
                return Err(Malformed {
                    key: key.clone(),
                    id,
                    reason,
                });
            }
            Ok(seen.into_iter().collect())
        }
        _ => Ok(Vec::new()),
    }
}

/// Adds what `op` does to each key it touches.
fn partition_op(keys: &mut BTreeMap<Bytes, KeyBuilder>, id: OpId, op: &Op) {
    let completed_at = match op.outcome {
        Outcome::Ok(_) => op.completed_at,
        Outcome::Failed => return,
        Outcome::Unknown => None,
    };
    let push = |builder: &mut KeyBuilder, action| {
        builder.ops.push(KeyOp {
            id,
            action,
            invoked_at: op.invoked_at,
            completed_at,
        });
    };
    match (&op.kind, &op.outcome) {
        (OpKind::Put { key, value }, _) => {
            let builder = keys
                .get_mut(key)
                .expect("invariant: every named key has a builder");
            let value_id = builder.intern(Some(value));
            push(builder, Action::Write(value_id));
        }
        (OpKind::Delete { key }, _) => {
            let builder = keys
                .get_mut(key)
                .expect("invariant: every named key has a builder");
            push(builder, Action::Write(ABSENT));
        }
        (OpKind::Get { key }, Outcome::Ok(Reply::Value(value))) => {
            let builder = keys
                .get_mut(key)
                .expect("invariant: every named key has a builder");
            let value_id = builder.intern(value.as_ref());
            push(builder, Action::Read(value_id));
        }
        (OpKind::Scan { start, end }, Outcome::Ok(Reply::Entries(entries))) => {
            if start >= end {
                return;
            }
            let found: HashMap<&Bytes, &Bytes> = entries.iter().map(|(k, v)| (k, v)).collect();
            let range = (Bound::Included(start), Bound::Excluded(end));
            for (key, builder) in keys.range_mut::<Bytes, _>(range) {
                let value_id = builder.intern(found.get(key).copied());
                push(builder, Action::Read(value_id));
            }
        }
        _ => {}
    }
}

/// One key's history while [`partition`] fills it.
#[derive(Default)]
struct KeyBuilder {
    ops: Vec<KeyOp>,
    values: Vec<Bytes>,
    /// The inverse of `values`.
    value_ids: HashMap<Bytes, ValueId>,
}

impl KeyBuilder {
    /// Returns the id of `value`, naming it if it is new.
    fn intern(&mut self, value: Option<&Bytes>) -> ValueId {
        let Some(value) = value else { return ABSENT };
        if let Some(&id) = self.value_ids.get(value) {
            return id;
        }
        self.values.push(value.clone());
        let id = ValueId::try_from(self.values.len()).expect("invariant: under 2^32 values a key");
        self.value_ids.insert(value.clone(), id);
        id
    }

    /// Drops the unknown writes no read saw, sorts, and returns the key's history.
    fn finish(mut self, key: Bytes) -> KeyHistory {
        let mut read = vec![false; self.values.len() + 1];
        for op in &self.ops {
            if let Action::Read(value_id) = op.action {
                read[value_id as usize] = true;
            }
        }
        self.ops.retain(|op| match op.action {
            Action::Write(value_id) => op.completed_at.is_some() || read[value_id as usize],
            Action::Read(_) => true,
        });
        self.ops.sort_by_key(|op| (op.invoked_at, op.id));
        KeyHistory {
            key,
            ops: self.ops,
            values: self.values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(history: &mut History, client: u64, kind: OpKind, reply: Reply, at: (u64, u64)) -> OpId {
        let id = history.invoke(client, kind, at.0);
        history.complete(id, Outcome::Ok(reply), at.1);
        id
    }

    fn entries(pairs: &[(&'static str, &'static str)]) -> Reply {
        Reply::Entries(
            pairs
                .iter()
                .map(|&(k, v)| (Bytes::from(k), Bytes::from(v)))
                .collect(),
        )
    }

    #[test]
    fn scan_reads_every_known_key_of_its_range() {
        let mut history = History::new();
        ok(
            &mut history,
            1,
            OpKind::put("a", "1"),
            Reply::Written,
            (0, 1),
        );
        ok(
            &mut history,
            1,
            OpKind::put("b", "2"),
            Reply::Written,
            (2, 3),
        );
        ok(
            &mut history,
            1,
            OpKind::put("z", "3"),
            Reply::Written,
            (4, 5),
        );
        let scan = ok(
            &mut history,
            2,
            OpKind::scan("a", "c"),
            entries(&[("a", "1")]),
            (6, 7),
        );
        let keys = partition(&history).unwrap();
        let names: Vec<&[u8]> = keys.iter().map(|k| k.key.as_ref()).collect();
        assert_eq!(names, [b"a".as_slice(), b"b", b"z"]);
        let a_read = keys[0].ops.iter().find(|op| op.id == scan).unwrap();
        assert_eq!(
            keys[0].value(match a_read.action {
                Action::Read(id) => id,
                Action::Write(_) => panic!("a scan reads"),
            }),
            Some(&Bytes::from("1"))
        );
        let b_read = keys[1].ops.iter().find(|op| op.id == scan).unwrap();
        assert_eq!(b_read.action, Action::Read(ABSENT));
        assert!(
            keys[2].ops.iter().all(|op| op.id != scan),
            "z is outside the range"
        );
    }

    #[test]
    fn scan_reply_outside_its_range_or_repeated_is_malformed() {
        let mut history = History::new();
        let scan = ok(
            &mut history,
            1,
            OpKind::scan("a", "c"),
            entries(&[("c", "1")]),
            (0, 1),
        );
        let err = partition(&history).unwrap_err();
        assert_eq!((err.key.as_ref(), err.id), (b"c".as_slice(), scan));

        let mut history = History::new();
        let reply = entries(&[("a", "1"), ("a", "1")]);
        ok(&mut history, 1, OpKind::scan("a", "c"), reply, (0, 1));
        assert_eq!(
            partition(&history).unwrap_err().reason,
            "appears twice in the reply"
        );
    }

    #[test]
    fn failed_ops_and_unknown_reads_vanish_and_unseen_unknown_writes_are_dropped() {
        let mut history = History::new();
        let failed = history.invoke(1, OpKind::put("k", "f"), 0);
        history.complete(failed, Outcome::Failed, 1);
        let unseen = history.invoke(1, OpKind::put("k", "u"), 2);
        history.complete(unseen, Outcome::Unknown, 3);
        let seen = history.invoke(2, OpKind::put("k", "s"), 4);
        history.invoke(3, OpKind::get("k"), 5);
        let read = ok(
            &mut history,
            4,
            OpKind::get("k"),
            Reply::Value(Some("s".into())),
            (6, 7),
        );
        let keys = partition(&history).unwrap();
        let ids: Vec<OpId> = keys[0].ops.iter().map(|op| op.id).collect();
        assert_eq!(ids, [seen, read]);
        assert_eq!(
            keys[0].ops[0].completed_at, None,
            "a pending write has no deadline"
        );
    }
}
