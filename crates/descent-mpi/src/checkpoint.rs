//! Checkpoints of sharded state: one file per rank plus an index, loadable into any number of ranks.
//!
//! [`save`] writes each rank's share of the state to `STEM.TAG.rankR.safetensors` beside `path` (every rank its
//! own, atomically), and then rank 0 writes `path` itself: a descent checkpoint with the caller's tensors and
//! metadata, the optimizer's groups and parameters without their state, and under the metadata key `shards` the
//! rank files and which rank owns which parameter. The tag is new at every save, and the index names the files of
//! its own save only, so a save that stops half-way leaves the previous one whole; the files of the save before
//! are removed once the new index is in place. [`load`] reads an index and its rank files back as one whole state,
//! which an unsharded optimizer loads as it is and a [`Sharded`] one of any number of ranks takes its share of
//! ([`Sharded::load_state_dict`]): that is resharding. A plain checkpoint loads through [`load`] too.
//!
//! The ranks must see the same folder (a shared file system, as on a cluster).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use descent::checkpoint::{self, Checkpoint};
use descent::{Shape, StateDict};
use serde_json::{json, Value};

use crate::{ShardError, Sharded};

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
    metadata[SHARDS] = json!({
        "ranks": ranks,
        "stage": sharded.stage().number(),
        "files": files,
        "owners": sharded.partition().owners(),
    });
    let mut skeleton = sharded.optimizer().state_dict();
    for record in &mut skeleton.params {
        record.state = None;
    }
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
    let owners: Vec<usize> = shards
        .get("owners")
        .and_then(Value::as_array)
        .and_then(|o| o.iter().map(|r| r.as_u64().map(|r| r as usize)).collect())
        .ok_or_else(|| fail(path, "its owners are unreadable"))?;
    if owners.len() != index.optimizer.params.len() || owners.iter().any(|&r| r >= files.len()) {
        return Err(fail(path, "its owners do not fit its parameters and rank files"));
    }
    let shares = files
        .iter()
        .map(|file| {
            let file = beside(path, file);
            let share = checkpoint::load::<f32>(&file).map_err(|e| fail(&file, e))?;
            fits(&index.optimizer, &share.optimizer).map_err(|reason| fail(&file, reason))?;
            Ok(share.optimizer)
        })
        .collect::<Result<Vec<_>, ShardError>>()?;
    for (p, record) in index.optimizer.params.iter_mut().enumerate() {
        record.state = shares[owners[p]].params[p].state.clone();
    }
    Ok(index)
}

/// Joins the shares of every rank (each [`Sharded::state_dict`]) into one whole state: each parameter's state from
/// the share that holds it. Shares of different optimizers or parameters, or two holding one parameter's state,
/// are an error.
pub fn merge(shares: &[StateDict<f32>]) -> Result<StateDict<f32>, ShardError> {
    let bad = |reason: String| ShardError::Checkpoint { path: "(in memory)".into(), reason };
    let (first, rest) = shares.split_first().ok_or_else(|| bad("there are no shares to merge".into()))?;
    let mut whole = first.clone();
    for share in rest {
        fits(first, share).map_err(bad)?;
        for (p, record) in share.params.iter().enumerate() {
            match (&whole.params[p].state, &record.state) {
                (Some(_), Some(_)) => return Err(bad(format!("two shares hold the state of parameter {p}"))),
                (None, Some(state)) => whole.params[p].state = Some(state.clone()),
                _ => {}
            }
        }
    }
    Ok(whole)
}

/// Whether a share is of the same optimizer, groups and parameters as the whole.
fn fits(whole: &StateDict<f32>, share: &StateDict<f32>) -> Result<(), String> {
    if share.optimizer != whole.optimizer {
        return Err(format!("it is the state of {}, not of {}", share.optimizer, whole.optimizer));
    }
    if share.groups.len() != whole.groups.len() || share.params.len() != whole.params.len() {
        return Err(format!(
            "it has {} groups and {} parameters, the index {} and {}",
            share.groups.len(),
            share.params.len(),
            whole.groups.len(),
            whole.params.len()
        ));
    }
    for (p, (ours, theirs)) in whole.params.iter().zip(&share.params).enumerate() {
        if ours.name != theirs.name || ours.shape != theirs.shape {
            return Err(format!(
                "its parameter {p} is {:?} of shape {}, not {:?} of shape {}",
                theirs.name, theirs.shape, ours.name, ours.shape
            ));
        }
    }
    Ok(())
}
