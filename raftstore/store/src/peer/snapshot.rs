//! Region snapshots between stores.
//!
//! The sender builds the engine's snapshot of the region (data files + a checksummed meta) in a
//! temporary directory, packs every file into a [`SnapshotBundle`] and hands it to the core as
//! the snapshot's data; the core sends it in `MsgSnap`. The receiver unpacks the bundle into a
//! temporary directory and the engine checks and applies it (refusing a corrupt one, leaving the
//! region as it was).
//!
//! ```text
//! leader: build_region_snapshot(dir) ─► SnapshotBundle{files} ─► Snapshot{data, index, term,
//!         conf_state} ─► storage.set_generated_snapshot ─► core sends MsgSnap
//! follower: MsgSnap ─► Ready.snapshot ─► WriteTask ─► writer: unpack ─► apply_snapshot(dir)
//! ```
//!
//! The whole snapshot travels in one message: fine for the in-process transport; the QUIC
//! transport streams the files in chunks with back-pressure instead.

use std::fs;
use std::path::Path;

use bytes::Bytes;
use engine::{KvEngine, PeerStorage, RegionId, build_region_snapshot};
use prost::Message as _;
use raft::raftpb::{Snapshot, SnapshotMetadata};

use crate::error::{Error, Result};

/// One file of a snapshot.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct BundledFile {
    /// The file's name in the snapshot directory.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Its bytes.
    #[prost(bytes = "bytes", tag = "2")]
    pub data: Bytes,
}

/// Every file of a snapshot directory, as the data of a raft snapshot.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct SnapshotBundle {
    /// The files, the meta file among them.
    #[prost(message, repeated, tag = "1")]
    pub files: Vec<BundledFile>,
}

/// Builds a snapshot of `region_id` from the engine, as the core's snapshot.
pub fn build<E: KvEngine>(engine: &E, region_id: u64) -> Result<Snapshot> {
    let dir = tempfile::Builder::new()
        .prefix("flotilla-snap-out-")
        .tempdir()
        .map_err(|err| Error::Engine(format!("snapshot directory: {err}")))?;
    let meta = build_region_snapshot(engine, RegionId(region_id), dir.path())?;
    let mut bundle = SnapshotBundle::default();
    for entry in fs::read_dir(dir.path()).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let data = fs::read(entry.path()).map_err(io_error)?;
        bundle.files.push(BundledFile {
            name,
            data: data.into(),
        });
    }
    Ok(Snapshot {
        data: bundle.encode_to_vec().into(),
        metadata: Some(SnapshotMetadata {
            conf_state: meta.conf_state,
            index: meta.index,
            term: meta.term,
        }),
    })
}

/// Applies a received snapshot to the region's storage (the engine checks every file).
pub fn apply<E: KvEngine>(
    storage: &PeerStorage<E>,
    snapshot: &Snapshot,
    hard_state: raft::raftpb::HardState,
) -> Result<()> {
    let bundle = SnapshotBundle::decode(&snapshot.data[..])
        .map_err(|err| Error::Engine(format!("undecodable snapshot bundle: {err}")))?;
    let dir = tempfile::Builder::new()
        .prefix("flotilla-snap-in-")
        .tempdir()
        .map_err(|err| Error::Engine(format!("snapshot directory: {err}")))?;
    for file in &bundle.files {
        if file.name.is_empty() || file.name.contains(['/', '\\']) || file.name == ".." {
            return Err(Error::Engine(format!(
                "bad snapshot file name {:?}",
                file.name
            )));
        }
        write(dir.path(), &file.name, &file.data)?;
    }
    storage.apply_snapshot(dir.path(), hard_state)?;
    Ok(())
}

fn write(dir: &Path, name: &str, data: &[u8]) -> Result<()> {
    fs::write(dir.join(name), data).map_err(io_error)
}

#[allow(clippy::needless_pass_by_value, reason = "used as map_err(io_error)")]
fn io_error(err: std::io::Error) -> Error {
    Error::Engine(format!("snapshot file: {err}"))
}
