//! Checkpoints: an optimizer's state (and any tensors a training run adds, such as the model's weights) in a
//! safetensors file, written atomically and read back with every check made before anything is trusted.
//!
//! The file is a standard safetensors file, readable by any safetensors tool:
//! - each state tensor is stored as `state.<param>.<name>` (`state.weights.exp_avg`), where `<param>` is the
//!   parameter's name or, for an unnamed one, its position;
//! - the optimizer-wide state's tensors (for rules that keep one) are stored as `global.<name>`;
//! - extra tensors keep the names the caller gives them (they may not start with `state.` or `global.`);
//! - the header's metadata holds `format` (`"descent.checkpoint"`), `version` (`"1"`) and `descent`, a JSON
//!   document with the optimizer kind, the element type, each group's hyperparameters and parameters, each
//!   parameter's name, shape, step count, scalar state and tensor names, and the caller's own metadata.
//!
//! ```
//! use descent::{checkpoint, Adam, Optimizer, Param};
//!
//! let mut w = vec![1.0_f32, -1.0];
//! let mut opt = Optimizer::new(Adam::default(), [Param::named("w", 2)])?;
//! opt.step(&mut [&mut w], &[Some(&[0.5, -0.5])])?;
//!
//! let dir = std::env::temp_dir().join(format!("descent-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("opt.safetensors");
//! checkpoint::save(&path, &checkpoint::Checkpoint::of(opt.state_dict()))?;
//!
//! let mut resumed = Optimizer::<Adam, f32>::new(Adam::default(), [Param::named("w", 2)])?;
//! resumed.load_state_dict(&checkpoint::load::<f32>(&path)?.optimizer)?;
//! assert_eq!(resumed, opt);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{CompactData, CompactType, Error, Float, GroupRecord, ParamRecord, Shape, StateDict, StateRecord};

/// The format this version writes and reads.
pub const VERSION: u32 = 1;

const FORMAT: &str = "descent.checkpoint";
const STATE_PREFIX: &str = "state.";
const GLOBAL_PREFIX: &str = "global.";

/// What a checkpoint file holds: an optimizer's state, plus tensors and metadata of the caller's (a model's
/// weights, a training run's position).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint<T> {
    /// The optimizer's state.
    pub optimizer: StateDict<T>,
    /// Extra tensors, by name.
    pub tensors: Vec<(String, Shape, Vec<T>)>,
    /// Extra metadata (a JSON object; `Null` for none).
    pub metadata: Value,
}

impl<T> Checkpoint<T> {
    /// A checkpoint of an optimizer's state alone.
    pub fn of(optimizer: StateDict<T>) -> Self {
        Checkpoint { optimizer, tensors: Vec::new(), metadata: Value::Null }
    }
}

/// The header document, as stored under the metadata key `descent`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    optimizer: String,
    dtype: String,
    groups: Vec<GroupHeader>,
    params: Vec<ParamHeader>,
    global: Option<StateHeader>,
    tensors: Vec<String>,
    metadata: Value,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupHeader {
    /// The group's optimizer, in a composite's state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    optimizer: Option<String>,
    hyperparameters: Map<String, Value>,
    params: Vec<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamHeader {
    name: Option<String>,
    shape: Shape,
    state: Option<StateHeader>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateHeader {
    step: Option<f32>,
    tensors: Vec<String>,
    scalars: Vec<(String, f64)>,
    /// Compact tensors (8-bit codes, their scales, bfloat16 values), stored in their own types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    compact: Vec<String>,
}

/// The key of a parameter in tensor names.
fn param_key(position: usize, name: Option<&str>) -> String {
    match name {
        Some(name) => name.to_owned(),
        None => position.to_string(),
    }
}

fn dtype<T: Float>() -> Dtype {
    if T::NAME == "f32" {
        Dtype::F32
    } else {
        Dtype::F64
    }
}

/// The checkpoint as the bytes of a safetensors file.
pub fn to_bytes<T: Float>(checkpoint: &Checkpoint<T>) -> Result<Vec<u8>, Error> {
    let dict = &checkpoint.optimizer;
    let mut tensors: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
    let mut params = Vec::with_capacity(dict.params.len());
    for (position, record) in dict.params.iter().enumerate() {
        let key = param_key(position, record.name.as_deref());
        let state =
            record.state.as_ref().map(|state| write_state(&format!("{STATE_PREFIX}{key}."), state, &mut tensors));
        params.push(ParamHeader { name: record.name.clone(), shape: record.shape.clone(), state });
    }
    let global = dict.global.as_ref().map(|state| write_state(GLOBAL_PREFIX, state, &mut tensors));
    for (name, shape, values) in &checkpoint.tensors {
        if name.starts_with(STATE_PREFIX) || name.starts_with(GLOBAL_PREFIX) {
            return Err(Error::Checkpoint(format!(
                "extra tensor {name:?} may not start with {STATE_PREFIX:?} or {GLOBAL_PREFIX:?}"
            )));
        }
        tensors.push((name.clone(), shape.dims().to_vec(), dtype::<T>(), bytes_of(values)));
    }
    let header = Header {
        optimizer: dict.optimizer.clone(),
        dtype: T::NAME.to_owned(),
        groups: dict
            .groups
            .iter()
            .map(|g| GroupHeader {
                optimizer: g.optimizer.clone(),
                hyperparameters: g.hyperparameters.clone(),
                params: g.params.clone(),
            })
            .collect(),
        params,
        global,
        tensors: checkpoint.tensors.iter().map(|(name, _, _)| name.clone()).collect(),
        metadata: checkpoint.metadata.clone(),
    };
    let mut metadata = HashMap::new();
    metadata.insert("format".to_owned(), FORMAT.to_owned());
    metadata.insert("version".to_owned(), VERSION.to_string());
    metadata.insert("descent".to_owned(), serde_json::to_string(&header).expect("the header serializes"));
    let views = tensors
        .iter()
        .map(|(name, shape, dtype, data)| Ok((name.clone(), TensorView::new(*dtype, shape.clone(), data)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(|e| Error::Checkpoint(format!("cannot store a tensor: {e}")))?;
    safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| Error::Checkpoint(e.to_string()))
}

/// Adds a state's tensors, named `<prefix><name>`, to `tensors`, and returns its header.
fn write_state<T: Float>(
    prefix: &str,
    state: &StateRecord<T>,
    tensors: &mut Vec<(String, Vec<usize>, Dtype, Vec<u8>)>,
) -> StateHeader {
    for (name, shape, values) in &state.tensors {
        tensors.push((format!("{prefix}{name}"), shape.dims().to_vec(), dtype::<T>(), bytes_of(values)));
    }
    for (name, shape, data) in &state.compact {
        tensors.push((
            format!("{prefix}{name}"),
            shape.dims().to_vec(),
            compact_dtype(data.kind()),
            data.to_le_bytes(),
        ));
    }
    StateHeader {
        step: state.step,
        tensors: state.tensors.iter().map(|(name, _, _)| name.clone()).collect(),
        scalars: state.scalars.clone(),
        compact: state.compact.iter().map(|(name, _, _)| name.clone()).collect(),
    }
}

fn compact_dtype(kind: CompactType) -> Dtype {
    match kind {
        CompactType::U8 => Dtype::U8,
        CompactType::Bf16 => Dtype::BF16,
        CompactType::F32 => Dtype::F32,
    }
}

/// A tensor of the file: its shape, type and bytes.
type Stored<'a> = (Shape, Dtype, &'a [u8]);

/// Reads the state `header` describes, its tensors named `<prefix><name>`.
fn read_state<'a, T: Float>(
    prefix: &str,
    header: &StateHeader,
    read: &mut impl FnMut(String) -> Result<Stored<'a>, Error>,
) -> Result<StateRecord<T>, Error> {
    let tensors = header
        .tensors
        .iter()
        .map(|name| read_values(read, format!("{prefix}{name}")).map(|(shape, values)| (name.clone(), shape, values)))
        .collect::<Result<Vec<_>, Error>>()?;
    let compact = header
        .compact
        .iter()
        .map(|name| {
            let full = format!("{prefix}{name}");
            let (shape, dtype, bytes) = read(full.clone())?;
            let kind = match dtype {
                Dtype::U8 => CompactType::U8,
                Dtype::BF16 => CompactType::Bf16,
                Dtype::F32 => CompactType::F32,
                other => return Err(Error::Checkpoint(format!("compact tensor {full:?} is {other:?}"))),
            };
            Ok((name.clone(), shape, CompactData::from_le_bytes(kind, bytes)))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(StateRecord { step: header.step, tensors, scalars: header.scalars.clone(), compact })
}

/// Reads a tensor of the element type `T`.
fn read_values<'a, T: Float>(
    read: &mut impl FnMut(String) -> Result<Stored<'a>, Error>,
    name: String,
) -> Result<(Shape, Vec<T>), Error> {
    let (shape, dtype, bytes) = read(name.clone())?;
    if dtype != self::dtype::<T>() {
        return Err(Error::Checkpoint(format!("tensor {name:?} is {dtype:?}, not {}", T::NAME)));
    }
    Ok((shape, values_of(bytes)))
}

fn bytes_of<T: Float>(values: &[T]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(values));
    for v in values {
        if T::NAME == "f32" {
            bytes.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
        } else {
            bytes.extend_from_slice(&v.to_f64().to_le_bytes());
        }
    }
    bytes
}

fn values_of<T: Float>(bytes: &[u8]) -> Vec<T> {
    if T::NAME == "f32" {
        bytes
            .chunks_exact(4)
            .map(|b| T::from_f64(f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes")))))
            .collect()
    } else {
        bytes.chunks_exact(8).map(|b| T::from_f64(f64::from_le_bytes(b.try_into().expect("8 bytes")))).collect()
    }
}

/// Reads a checkpoint from the bytes of a safetensors file, checking the format, the version, the element type,
/// and that every tensor the header names is there with its shape, and no other.
pub fn from_bytes<T: Float>(bytes: &[u8]) -> Result<Checkpoint<T>, Error> {
    let corrupt = |message: String| Error::Checkpoint(message);
    let file = SafeTensors::deserialize(bytes).map_err(|e| corrupt(format!("not a valid safetensors file: {e}")))?;
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| corrupt(format!("unreadable header: {e}")))?;
    let info = metadata.metadata().as_ref().ok_or_else(|| corrupt("no descent metadata in the header".into()))?;
    if info.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(corrupt(format!("not a descent checkpoint (format {:?})", info.get("format"))));
    }
    let version = info.get("version").map(String::as_str).unwrap_or("none");
    if version != VERSION.to_string() {
        return Err(corrupt(format!("checkpoint format version {version}, this descent reads version {VERSION}")));
    }
    let text = info.get("descent").ok_or_else(|| corrupt("no `descent` entry in the header".into()))?;
    let header: Header = serde_json::from_str(text).map_err(|e| corrupt(format!("bad header: {e}")))?;
    if header.dtype != T::NAME {
        return Err(Error::StateMismatch(format!("the checkpoint holds {} values, not {}", header.dtype, T::NAME)));
    }
    let mut expected_names: Vec<String> = Vec::new();
    let mut read = |name: String| -> Result<Stored<'_>, Error> {
        let view = file.tensor(&name).map_err(|_| corrupt(format!("tensor {name:?} is missing")))?;
        expected_names.push(name);
        Ok((Shape::from(view.shape()), view.dtype(), view.data()))
    };
    let mut params = Vec::with_capacity(header.params.len());
    for (position, param) in header.params.iter().enumerate() {
        if param.shape.checked_len().is_none() {
            return Err(corrupt(format!("parameter {position} has an impossible shape {}", param.shape)));
        }
        let key = param_key(position, param.name.as_deref());
        let state = match &param.state {
            None => None,
            Some(state) => Some(read_state(&format!("{STATE_PREFIX}{key}."), state, &mut read)?),
        };
        params.push(ParamRecord { name: param.name.clone(), shape: param.shape.clone(), state });
    }
    let global = match &header.global {
        None => None,
        Some(state) => Some(read_state(GLOBAL_PREFIX, state, &mut read)?),
    };
    let mut extra = Vec::with_capacity(header.tensors.len());
    for name in &header.tensors {
        let (shape, values) = read_values(&mut read, name.clone())?;
        extra.push((name.clone(), shape, values));
    }
    let mut names: Vec<String> = file.names().into_iter().map(str::to_owned).collect();
    names.sort();
    expected_names.sort();
    if names != expected_names {
        return Err(corrupt("the file holds tensors the header does not name, or names one twice".into()));
    }
    let groups = header
        .groups
        .into_iter()
        .map(|g| GroupRecord { optimizer: g.optimizer, hyperparameters: g.hyperparameters, params: g.params })
        .collect();
    Ok(Checkpoint {
        optimizer: StateDict { optimizer: header.optimizer, groups, params, global },
        tensors: extra,
        metadata: header.metadata,
    })
}

/// Writes `checkpoint` to `path` atomically: into a temporary file in the same folder, flushed to disk, then
/// renamed over `path`. A crash or an error at any point leaves the previous file at `path` intact.
pub fn save<T: Float>(path: &Path, checkpoint: &Checkpoint<T>) -> Result<(), Error> {
    write_atomic(path, &to_bytes(checkpoint)?)
}

/// Reads a checkpoint file written by [`save`]. A missing, truncated, corrupt or foreign file is an error that
/// says what is wrong.
pub fn load<T: Float>(path: &Path) -> Result<Checkpoint<T>, Error> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("cannot read {}: {e}", path.display())))?;
    from_bytes(&bytes).map_err(|e| match e {
        Error::Checkpoint(message) => Error::Checkpoint(format!("{}: {message}", path.display())),
        other => other,
    })
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, fsync, rename, fsync of the folder);
/// the temporary file is removed on error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let io = |what: &str, e: std::io::Error| Error::Io(format!("cannot {what} {}: {e}", path.display()));
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if path.file_name().is_none() {
        return Err(Error::Io(format!("{} is not a file path", path.display())));
    }
    // The process and a counter make the name unique, so that two saves never share a temporary file; it is short,
    // so that a file name near the system's limit still has room for it.
    static SAVES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let save = SAVES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = folder.join(format!(".descent-{}-{save}.partial", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        if let Ok(dir) = std::fs::File::open(folder) {
            // Makes the rename itself durable; not every platform can sync a folder.
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        io("write", e)
    })
}
