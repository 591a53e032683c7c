//! Region snapshots: build from a point-in-time view of a region, check, and apply.
//!
//! A snapshot is a directory: data files in the engine's format (SST files for `rocks`) and a
//! `meta` file holding a [`SnapshotMeta`] followed by the crc32c of its bytes. The meta names the
//! region, the log index and term the data reflects, the configuration, and every file with its
//! size and crc32c.
//!
//! ```text
//! build:   engine.snapshot() ─► region state, apply state, term at applied index
//!                            └─► data files of [start, end) ─► crc32c each ─► meta (+ crc32c)
//! apply:   meta crc ─► every file's size and crc ─► region id, format, index checks
//!          (any failure: refused, nothing touched)
//!          ─► RegionLocalState{Applying} (sync) ─► clear range + ingest files (durable)
//!          ─► one synced batch: log cleared, RegionLocalState{Normal}, ApplyState, RaftLocalState
//! ```
//!
//! # Recovery rule
//!
//! An error or a crash after the `Applying` marker leaves the region in [`PeerState::Applying`],
//! and [`crate::recover_regions`] reports it so. Its data is then the old data, none (RocksDB
//! clears the range before it ingests) or the snapshot's; its log, raft state and apply state are
//! those from before the apply (none at all for a peer whose first snapshot it was), because the
//! last batch, which alone changes them, is atomic. Such a region must not serve reads or vote.
//! The store applies a snapshot to it again: the same directory if it still holds it (ingestion
//! copies the files, so they stay valid), or a newer one from the leader.
//!
//! A retry is safe because every step writes absolute values (the marker, the whole range's
//! contents, the final states), and the staleness check compares the snapshot with the apply
//! state that an interrupted apply never changed, so the same snapshot passes it again.

use std::fs;
use std::path::{Path, PathBuf};

use raft::raftpb::{ConfState, HardState};

use crate::apply::{ApplyBatch, KvReader};
use crate::error::{Error, Result};
use crate::keys;
use crate::raft_log::{RaftLogBatch, RaftLogReader};
use crate::traits::KvEngine;
use crate::types::{ApplyState, PeerState, RaftLocalState, Region, RegionId, RegionLocalState};

/// The name of the meta file in a snapshot directory.
pub const META_FILE: &str = "meta";

/// What a snapshot holds, written as the `meta` file.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotMeta {
    /// The region as of `index`.
    #[prost(message, optional, tag = "1")]
    pub region: Option<Region>,
    /// The last log index the data reflects.
    #[prost(uint64, tag = "2")]
    pub index: u64,
    /// The term of the entry at `index`.
    #[prost(uint64, tag = "3")]
    pub term: u64,
    /// The configuration as of `index`.
    #[prost(message, optional, tag = "4")]
    pub conf_state: Option<ConfState>,
    /// The data files, in key order.
    #[prost(message, repeated, tag = "5")]
    pub files: Vec<SnapshotFileMeta>,
    /// The engine file format of the data files (`sst` or `mem`).
    #[prost(string, tag = "6")]
    pub format: String,
}

/// One data file of a snapshot.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotFileMeta {
    /// The file's name inside the snapshot directory.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its size in bytes.
    #[prost(uint64, tag = "2")]
    pub size: u64,
    /// The crc32c of its bytes.
    #[prost(uint32, tag = "3")]
    pub crc32c: u32,
}

/// Builds a snapshot of `region_id` into the new directory `dir` from one point-in-time view of
/// `engine`, so data, applied index and region agree.
pub fn build_region_snapshot<E: KvEngine>(
    engine: &E,
    region_id: RegionId,
    dir: &Path,
) -> Result<SnapshotMeta> {
    fs::create_dir_all(dir).map_err(|err| Error::from_io("creating a snapshot directory", &err))?;
    let view = engine.snapshot();
    let not_found = || Error::RegionNotFound { region_id };
    let region = view
        .region_state(region_id)?
        .and_then(|s| s.region)
        .ok_or_else(not_found)?;
    let apply = view.apply_state(region_id)?.ok_or_else(not_found)?;
    let term = if apply.applied_index == apply.truncated_index {
        apply.truncated_term
    } else {
        let entry = view.log_entry(region_id, apply.applied_index)?;
        entry.map(|e| e.term).ok_or_else(|| {
            Error::Corruption(format!(
                "region {region_id}: applied entry {} missing from the log",
                apply.applied_index
            ))
        })?
    };
    let (start, end) = keys::data_range(&region.start_key, &region.end_key);
    let paths = engine.write_data_files(&view, &start, &end, dir, "")?;
    let mut files = Vec::with_capacity(paths.len());
    for path in &paths {
        let bytes = fs::read(path).map_err(|err| Error::from_io("reading a data file", &err))?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        files.push(SnapshotFileMeta {
            name: name.to_owned(),
            size: bytes.len() as u64,
            crc32c: crc32c::crc32c(&bytes),
        });
    }
    let meta = SnapshotMeta {
        conf_state: Some(region.conf_state()),
        region: Some(region),
        index: apply.applied_index,
        term,
        files,
        format: E::DATA_FILE_FORMAT.to_owned(),
    };
    write_meta(dir, &meta)?;
    Ok(meta)
}

/// Reads and checks the snapshot in `dir`: the meta's checksum, then every data file's size and
/// checksum. Returns [`Error::SnapshotCorrupt`] naming the first problem.
pub fn load_snapshot_meta(dir: &Path) -> Result<SnapshotMeta> {
    let corrupt = |reason: String| Error::SnapshotCorrupt { reason };
    let bytes = fs::read(dir.join(META_FILE))
        .map_err(|err| corrupt(format!("cannot read the meta file: {err}")))?;
    let (body, crc) = bytes
        .split_at_checked(bytes.len().saturating_sub(4))
        .filter(|_| bytes.len() >= 4)
        .ok_or_else(|| corrupt("meta file truncated".to_owned()))?;
    let crc = u32::from_le_bytes(
        crc.try_into()
            .map_err(|_| corrupt("meta truncated".into()))?,
    );
    if crc32c::crc32c(body) != crc {
        return Err(corrupt("meta file checksum mismatch".to_owned()));
    }
    let meta: SnapshotMeta = prost::Message::decode(body)
        .map_err(|err| corrupt(format!("meta file does not decode: {err}")))?;
    for file in &meta.files {
        check_file(dir, file)?;
    }
    Ok(meta)
}

/// Applies the snapshot in `dir` to `region_id` on `engine` (see the module docs), with
/// `hard_state` as the group's hard state (its commit raised to the snapshot's index).
///
/// # Errors
///
/// Before the region is touched: [`Error::SnapshotCorrupt`] if the snapshot is incomplete,
/// altered, for another region or engine, or older than the region's applied state, and the
/// error of the write of the `Applying` marker; the region is then as it was.
///
/// After the marker: the error of the ingestion or of the last batch, never
/// [`Error::SnapshotCorrupt`] (a data file that passed its checksum but does not ingest is
/// [`Error::Corruption`]). The region is then [`PeerState::Applying`] until an apply succeeds
/// (the module's recovery rule).
pub fn apply_region_snapshot<E: KvEngine>(
    engine: &E,
    region_id: RegionId,
    dir: &Path,
    hard_state: HardState,
) -> Result<SnapshotMeta> {
    let meta = load_snapshot_meta(dir)?;
    let region = apply_region_snapshot_check(engine, region_id, &meta)?;
    let mut batch = engine.write_batch();
    batch.put_region_state(
        region_id,
        &RegionLocalState::new(PeerState::Applying, region.clone()),
    );
    engine.write(&mut batch, true)?;

    let (start, end) = keys::data_range(&region.start_key, &region.end_key);
    let paths: Vec<PathBuf> = meta.files.iter().map(|f| dir.join(&f.name)).collect();
    engine
        .ingest_data_files(&start, &end, &paths)
        .map_err(|err| match err {
            // The marker is written: the region is no longer as it was, so this is not a refusal.
            Error::SnapshotCorrupt { reason } => Error::Corruption(format!(
                "region {region_id}: snapshot data did not ingest: {reason}"
            )),
            other => other,
        })?;

    let (raft_state, apply_state) = states_after_apply(&meta, hard_state);
    batch.clear_raft(region_id);
    batch.put_raft_state(region_id, &raft_state);
    batch.put_apply_state(region_id, &apply_state);
    batch.put_region_state(region_id, &RegionLocalState::new(PeerState::Normal, region));
    engine.write(&mut batch, true)?;
    Ok(meta)
}

/// The raft and apply states of a region right after `meta` was applied.
pub fn states_after_apply(
    meta: &SnapshotMeta,
    hard_state: HardState,
) -> (RaftLocalState, ApplyState) {
    let hard_state = HardState {
        term: hard_state.term.max(meta.term),
        vote: hard_state.vote,
        commit: hard_state.commit.max(meta.index),
    };
    let raft_state = RaftLocalState {
        hard_state: Some(hard_state),
        last_index: meta.index,
        last_term: meta.term,
    };
    let apply_state = ApplyState {
        applied_index: meta.index,
        truncated_index: meta.index,
        truncated_term: meta.term,
    };
    (raft_state, apply_state)
}

/// Returns the snapshot's region if `meta` fits `region_id` on `engine`, or the refusal.
///
/// The applied index compared with is the one before any apply of a snapshot started: an
/// interrupted apply leaves it unchanged, so retrying the same snapshot passes this check.
fn apply_region_snapshot_check<E: KvEngine>(
    engine: &E,
    region_id: RegionId,
    meta: &SnapshotMeta,
) -> Result<Region> {
    let refuse = |reason: String| Err(Error::SnapshotCorrupt { reason });
    let Some(region) = meta.region.clone() else {
        return refuse("meta names no region".to_owned());
    };
    if region.region_id() != region_id {
        return refuse(format!(
            "snapshot of region {} sent to {region_id}",
            region.id
        ));
    }
    if meta.format != E::DATA_FILE_FORMAT {
        return refuse(format!(
            "format {} on a {} engine",
            meta.format,
            E::DATA_FILE_FORMAT
        ));
    }
    if let Some(current) = engine.apply_state(region_id)?
        && current.applied_index > meta.index
    {
        return refuse(format!(
            "snapshot at {} is older than the applied index {}",
            meta.index, current.applied_index
        ));
    }
    Ok(region)
}

fn write_meta(dir: &Path, meta: &SnapshotMeta) -> Result<()> {
    let mut bytes = prost::Message::encode_to_vec(meta);
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    fs::write(dir.join(META_FILE), bytes)
        .map_err(|err| Error::from_io("writing the snapshot meta file", &err))
}

fn check_file(dir: &Path, file: &SnapshotFileMeta) -> Result<()> {
    let corrupt = |reason: String| Error::SnapshotCorrupt { reason };
    if file.name.is_empty() || file.name.contains(['/', '\\']) || file.name == ".." {
        return Err(corrupt(format!("bad data file name {:?}", file.name)));
    }
    let bytes = fs::read(dir.join(&file.name))
        .map_err(|err| corrupt(format!("data file {}: {err}", file.name)))?;
    if bytes.len() as u64 != file.size {
        return Err(corrupt(format!(
            "data file {} has {} bytes, meta says {}",
            file.name,
            bytes.len(),
            file.size
        )));
    }
    if crc32c::crc32c(&bytes) != file.crc32c {
        return Err(corrupt(format!(
            "data file {} checksum mismatch",
            file.name
        )));
    }
    Ok(())
}
