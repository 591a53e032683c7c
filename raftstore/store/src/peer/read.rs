//! Request checks and reads against an engine snapshot, and lease reads on the caller's thread.

use std::time::Instant;

use bytes::Bytes;
use engine::{KvEngine, KvReader, Peekable, Region};

use crate::cmd::MutationKind;
use crate::error::{Error, Result};
use crate::message::{RegionRequest, Request, Response};
use crate::meta::StoreMeta;

/// Serves a read on the caller's thread if the region's peer on this store leads it with a
/// lease valid at `now` (see [`super::lease`]); hands the request back otherwise, to go through
/// the peer. Writes always go back.
///
/// `now` is a parameter, not read from the clock, so that the simulator can pass virtual time.
pub fn try_local_read<E: KvEngine>(
    meta: &StoreMeta,
    engine: &E,
    request: RegionRequest,
    now: Instant,
) -> Option<RegionRequest> {
    if matches!(request.request, Request::Write(_)) {
        return Some(request);
    }
    let Some(delegate) = meta.delegate(request.header.region_id) else {
        return Some(request);
    };
    let Some(region) = delegate.region_for_local_read(now) else {
        return Some(request);
    };
    let asked = request.header.epoch.unwrap_or_default();
    if asked.version != region.epoch.unwrap_or_default().version {
        // The peer answers with the current region.
        return Some(request);
    }
    let snapshot = engine.snapshot();
    let answer = check_keys(&region, &request.request)
        .and_then(|()| execute(&snapshot, &region, &request.request));
    metrics::counter!("flotilla_local_reads").increment(1);
    request.callback.done(answer);
    None
}

/// Checks that every key of `request` lies in `region` (a range delete or scan: its whole range).
pub fn check_keys(region: &Region, request: &Request) -> Result<()> {
    let outside = |key: &[u8]| Error::KeyNotInRegion {
        region_id: region.id,
        key: key.to_vec(),
    };
    let check_range = |start: &[u8], end: &[u8]| -> Result<()> {
        if !region.contains(start) {
            return Err(outside(start));
        }
        let end_ok = if end.is_empty() {
            region.end_key.is_empty()
        } else {
            region.end_key.is_empty() || end <= &region.end_key[..]
        };
        if !end_ok {
            return Err(outside(end));
        }
        if !end.is_empty() && end < start {
            return Err(Error::InvalidRequest(format!(
                "range end {end:02x?} before start {start:02x?}"
            )));
        }
        Ok(())
    };
    match request {
        Request::Write(mutations) => {
            if mutations.is_empty() {
                return Err(Error::InvalidRequest("a write with no mutation".into()));
            }
            for m in mutations {
                match m.kind() {
                    MutationKind::Put | MutationKind::Delete => {
                        if !region.contains(&m.key) {
                            return Err(outside(&m.key));
                        }
                    }
                    MutationKind::DeleteRange => check_range(&m.key, &m.value)?,
                }
            }
            Ok(())
        }
        Request::Get(key) => {
            if region.contains(key) {
                Ok(())
            } else {
                Err(outside(key))
            }
        }
        Request::Scan { start, end, .. } => check_range(start, end),
    }
}

/// Runs a read on `snapshot`, limited to `region`.
pub fn execute<P: Peekable>(snapshot: &P, region: &Region, request: &Request) -> Result<Response> {
    match request {
        Request::Get(key) => Ok(Response::Value(snapshot.get_data(key)?.map(Bytes::from))),
        Request::Scan { start, end, limit } => {
            let end = if end.is_empty() { &region.end_key } else { end };
            let mut pairs = Vec::new();
            snapshot.scan_data(start, end, &mut |key, value| {
                pairs.push((Bytes::copy_from_slice(key), Bytes::copy_from_slice(value)));
                Ok(pairs.len() < *limit)
            })?;
            Ok(Response::Pairs(pairs))
        }
        Request::Write(_) => Err(Error::InvalidRequest(
            "a write cannot be served as a read".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use engine::{ApplyBatch, KvEngine, MemEngine};

    use super::*;
    use crate::cmd::Mutation;

    fn region() -> Region {
        Region {
            id: 3,
            start_key: Bytes::from_static(b"b"),
            end_key: Bytes::from_static(b"m"),
            ..Region::default()
        }
    }

    #[test]
    fn keys_outside_the_region_are_refused() {
        let r = region();
        let ok = Request::Write(vec![Mutation::put(&b"c"[..], &b"1"[..])]);
        assert!(check_keys(&r, &ok).is_ok());
        for bad in [
            Request::Get(Bytes::from_static(b"a")),
            Request::Get(Bytes::from_static(b"m")),
            Request::Write(vec![Mutation::delete(&b"z"[..])]),
            Request::Write(vec![Mutation::delete_range(&b"c"[..], &b"n"[..])]),
            Request::Scan {
                start: Bytes::from_static(b"c"),
                end: Bytes::new(),
                limit: 10,
            },
        ] {
            assert!(
                matches!(
                    check_keys(&r, &bad),
                    Err(Error::KeyNotInRegion { region_id: 3, .. })
                ),
                "{bad:?}"
            );
        }
        assert!(matches!(
            check_keys(&r, &Request::Write(vec![])),
            Err(Error::InvalidRequest(_))
        ));
    }

    #[test]
    fn scans_stop_at_the_region_end_and_the_limit() {
        let engine = MemEngine::new();
        let mut wb = engine.write_batch();
        for key in [&b"a"[..], b"c", b"d", b"e", b"m", b"n"] {
            wb.put_data(key, b"v");
        }
        engine.write(&mut wb, false).unwrap();
        let snap = engine.snapshot();
        let scan = |limit| Request::Scan {
            start: Bytes::from_static(b"b"),
            end: Bytes::new(),
            limit,
        };
        let Response::Pairs(pairs) = execute(&snap, &region(), &scan(100)).unwrap() else {
            panic!("a scan answers pairs");
        };
        let keys: Vec<&[u8]> = pairs.iter().map(|(k, _)| &k[..]).collect();
        assert_eq!(keys, vec![&b"c"[..], b"d", b"e"]);
        let Response::Pairs(pairs) = execute(&snap, &region(), &scan(2)).unwrap() else {
            panic!("a scan answers pairs");
        };
        assert_eq!(pairs.len(), 2);
        assert_eq!(
            execute(&snap, &region(), &Request::Get(Bytes::from_static(b"d"))).unwrap(),
            Response::Value(Some(Bytes::from_static(b"v")))
        );
    }
}
