//! Checkpoints of sharded state: one file per rank plus an index, loadable into any number of ranks.
//!
//! [`save`] writes each rank's share of the state (the state of its pieces, [`Sharded::state_dict`]) to
//! `STEM.TAG.rankR.safetensors` beside `path` (every rank its own, atomically), and then rank 0 writes `path`
//! itself: a descent checkpoint with the caller's tensors and metadata, the optimizer's groups and parameters
//! without their state, and under the metadata key `shards` the rank files and the partition's pieces (each
//! `[parameter, first value, end, owner]`). The tag is new at every save, and the index names the files of
//! its own save only, so a save that stops half-way leaves the previous one whole; the files of the save before
//! are removed once the new index is in place. [`load`] reads an index and its rank files back as one whole state,
//! which an unsharded optimizer loads as it is and a [`Sharded`] one of any number of ranks takes its share of
//! ([`Sharded::load_state_dict`]): that is resharding. A plain checkpoint loads through [`load`] too.
//!
//! The ranks must see the same folder (a shared file system, as on a cluster).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use descent::checkpoint::{self, Checkpoint};
use descent::Shape;
use serde_json::{json, Value};

use crate::pieces::{fits, join};
use crate::{Partition, Piece, ShardError, Sharded};

/// The metadata key of the index.
const SHARDS: &str = "shards";

fn fail(path: &Path, reason: impl std::fmt::Display) -> ShardError {
    ShardError::Checkpoint { path: path.display().to_string(), reason: reason.to_string() }
}

/// The file of rank `rank`'s share, beside `path`.
fn rank_file(path: &Path, tag: u64, rank: usize) -> String {
    let stem = path.file_stem().map_or_else(|| "checkpoint".into(), |s| s.to_string_lossy().into_owned());
    format!("{stem}.{tag:016x}.rank{rank}.safetensors")
}

fn beside(path: &Path, file: &str) -> PathBuf {
    path.parent().map_or_else(|| PathBuf::from(file), |folder| folder.join(file))
}

/// Saves `sharded`'s state across its ranks, with `tensors` and `metadata` (a JSON object, or `Null`) from rank 0
/// in the index at `path`. Every rank calls it; an error on any rank is an error on every rank.
pub fn save(
    sharded: &Sharded,
    path: &Path,
    tensors: Vec<(String, Shape, Vec<f32>)>,
    metadata: Value,
) -> Result<(), ShardError> {
    let comm = sharded.communicator();
    let rank = comm.rank();
    // A tag of rank 0's choosing (the time in nanoseconds), agreed by every rank.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64);
    let tag = comm.all_reduce_max(if rank == 0 { now } else { 0 });
    let own = beside(path, &rank_file(path, tag, rank));
    let written = checkpoint::save(&own, &Checkpoint::of(sharded.state_dict())).map_err(|e| fail(&own, e));
    crate::sharded::agree(comm, written)?;
    let indexed = if rank == 0 { write_index(sharded, path, tag, tensors, metadata) } else { Ok(()) };
    crate::sharded::agree(comm, indexed)
}

fn write_index(
    sharded: &Sharded,
    path: &Path,
    tag: u64,
    tensors: Vec<(String, Shape, Vec<f32>)>,
    metadata: Value,
) -> Result<(), ShardError> {
    let previous = checkpoint::load::<f32>(path).ok().and_then(|saved| files_of(&saved.metadata));
    let ranks = sharded.ranks();
    let files: Vec<String> = (0..ranks).map(|r| rank_file(path, tag, r)).collect();
    let mut metadata = match metadata {
        Value::Null => json!({}),
        Value::Object(map) => Value::Object(map),
        _ => return Err(fail(path, "the metadata must be a JSON object")),
    };
    let pieces: Vec<[usize; 4]> = sharded
        .partition()
        .pieces()
        .iter()
        .map(|piece| [piece.param, piece.values.start, piece.values.end, piece.owner])
        .collect();
    metadata[SHARDS] = json!({
        "ranks": ranks,
        "stage": sharded.stage().number(),
        "files": files,
        "pieces": pieces,
    });
    let skeleton = sharded.skeleton();
    checkpoint::save(path, &Checkpoint { optimizer: skeleton, tensors, metadata }).map_err(|e| fail(path, e))?;
    remove_unindexed(path, previous, &files);
    Ok(())
}

/// Saves a one-process checkpoint at `path`, as [`descent::checkpoint::save`] does. If `path` held the index of a
/// sharded checkpoint, its rank files are removed once the new file is in place, so that switching a run from
/// several processes to one leaves no stray files.
pub fn save_unsharded(path: &Path, whole: &Checkpoint<f32>) -> Result<(), ShardError> {
    let previous = checkpoint::load::<f32>(path).ok().and_then(|saved| files_of(&saved.metadata));
    checkpoint::save(path, whole).map_err(|e| fail(path, e))?;
    remove_unindexed(path, previous, &[]);
    Ok(())
}

/// Removes the rank files a replaced index named (`previous`), except those of the new save (`kept`); one that
/// is gone already is no matter.
fn remove_unindexed(path: &Path, previous: Option<Vec<String>>, kept: &[String]) {
    for old in previous.unwrap_or_default().iter().filter(|old| !kept.contains(old)) {
        let _ = std::fs::remove_file(beside(path, old));
    }
}

/// The rank files an index names.
fn files_of(metadata: &Value) -> Option<Vec<String>> {
    metadata.get(SHARDS)?.get("files")?.as_array()?.iter().map(|f| f.as_str().map(str::to_owned)).collect()
}

/// Reads a checkpoint: a sharded one's index and rank files as one whole state (see the module), or a plain one as
/// it is. Every file is checked: a missing or corrupt file, or shares that do not fit together, are errors.
pub fn load(path: &Path) -> Result<Checkpoint<f32>, ShardError> {
    let mut index = checkpoint::load::<f32>(path).map_err(|e| fail(path, e))?;
    let Some(shards) = index.metadata.get(SHARDS) else { return Ok(index) };
    let files = files_of(&index.metadata).ok_or_else(|| fail(path, "its list of rank files is unreadable"))?;
    let partition = partition_of(shards, &index, files.len())
        .ok_or_else(|| fail(path, "its pieces do not fit its parameters and rank files"))?;
    let shares = files
        .iter()
        .map(|file| {
            let file = beside(path, file);
            let share = checkpoint::load::<f32>(&file).map_err(|e| fail(&file, e))?;
            fits(&share.optimizer, &index.optimizer, &partition).map_err(|reason| fail(&file, reason))?;
            Ok(share.optimizer)
        })
        .collect::<Result<Vec<_>, ShardError>>()?;
    index.optimizer = join(&shares, &index.optimizer, &partition).map_err(|reason| fail(path, reason))?;
    Ok(index)
}

/// The partition an index records: its pieces, or (as indices of whole parameters recorded it) each parameter's
/// owner.
fn partition_of(shards: &Value, index: &Checkpoint<f32>, ranks: usize) -> Option<Partition> {
    let lens: Vec<usize> = index.optimizer.params.iter().map(|p| p.shape.checked_len()).collect::<Option<_>>()?;
    let numbers = |v: &Value| -> Option<Vec<usize>> {
        v.as_array()?.iter().map(|n| n.as_u64().and_then(|n| usize::try_from(n).ok())).collect()
    };
    if let Some(owners) = shards.get("owners") {
        return Partition::of_owners(&lens, &numbers(owners)?, ranks);
    }
    let pieces = shards
        .get("pieces")?
        .as_array()?
        .iter()
        .map(|piece| match numbers(piece)?[..] {
            [param, start, end, owner] => Some(Piece { param, values: start..end, owner }),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Partition::of_pieces(&lens, pieces, ranks)
}
