//! Checkpoints: a network's parameters in a [safetensors](https://huggingface.co/docs/safetensors)
//! file, read and written by [`crate::safetensors`].
//!
//! Every parameter is saved, BatchNorm running statistics included, under its PyTorch-style
//! name (`"conv1.weight"`, `"bn1.running_mean"`) with its shape in the layer's layout
//! ([`Param::shape`](crate::Param::shape), e.g. `[K, K, IN_C, OUT_C]` for a convolution), as
//! `F32` (or `F64` for an `f64` network). [`save_checkpoint`] writes a temporary file beside the
//! target and renames it, so a crash never leaves half a file under the target's name.
//!
//! [`load_checkpoint`] is strict: every parameter of the network must be in the file with its
//! exact shape, and the file must hold nothing else (extra tensors mean it was made for another
//! architecture, e.g. a BatchNorm variant). Everything is checked before anything is assigned,
//! so on error the network is unchanged. Both `F32` and `F64` tensors are accepted (converted to
//! the network's type).

use super::{EpochStats, History, OptimizerState, TrainState};
use crate::safetensors::{Dtype, SafeTensors, TensorView};
use crate::{Float, Network, ParamKind};
use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// A checkpoint that cannot be written or read, or does not fit the network.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Writing the file failed.
    #[error("cannot write checkpoint {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Reading the file failed.
    #[error("cannot read checkpoint {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, damaged, or something else).
    #[error("{} is not a valid safetensors file: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser said.
        message: String,
    },
    /// A parameter of the network is not in the file.
    #[error("{}: the network's parameter '{name}' (shape {expected:?}) is not in the file", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
        /// Its shape in the network.
        expected: Vec<usize>,
    },
    /// A tensor has another shape than the network's parameter.
    #[error("{}: tensor '{name}' has shape {found:?}, but the network's parameter has shape {expected:?}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The network's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
    /// A tensor is neither `F32` nor `F64`.
    #[error("{}: tensor '{name}' has dtype {found}, but only F32 and F64 can be loaded", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its dtype.
        found: String,
    },
    /// The file has a tensor that the network does not.
    #[error("{}: tensor '{name}' is not a parameter of the network (the file was made for another architecture)", path.display())]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A training-state file lacks something, or holds a value that cannot be.
    #[error("{}: not a training state of this run: {message}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The tensors could not be encoded (not expected with a well-formed network).
    #[error("cannot encode checkpoint {}: {message}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What the safetensors writer said.
        message: String,
    },
}

/// Saves every parameter of `net` (buffers included) to `path` as safetensors; see the
/// [module docs](self).
///
/// ```
/// use constnet::layers::Linear;
/// use constnet::train::{load_checkpoint, save_checkpoint};
/// use constnet::{Image, Network, net};
/// net! { struct Tiny { input: Image<1, 1, 2>, fc: Linear<2, 3> } }
/// let dir = std::env::temp_dir().join(format!("constnet-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let path = dir.join("tiny.safetensors");
/// let saved = Tiny::<f32>::new(1);
/// save_checkpoint(&saved, &path).unwrap();
/// let mut loaded = Tiny::<f32>::new(2);
/// load_checkpoint(&mut loaded, &path).unwrap();
/// assert_eq!(loaded.param("fc.weight"), saved.param("fc.weight"));
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn save_checkpoint<T: Float, N: Network<T> + ?Sized>(
    net: &N,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let is_f64 = T::NAME == "f64";
    let dtype = if is_f64 { Dtype::F64 } else { Dtype::F32 };
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    net.params(&mut |layer, p| {
        let mut bytes = Vec::with_capacity(p.value.len() * if is_f64 { 8 } else { 4 });
        for &v in p.value {
            if is_f64 {
                bytes.extend_from_slice(&v.to_f64().to_le_bytes());
            } else {
                bytes.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
            }
        }
        tensors.push((format!("{layer}.{}", p.name), p.shape.to_vec(), bytes));
    });
    let views = tensors.iter().map(|(name, shape, bytes)| TensorView {
        name,
        dtype,
        shape,
        data: bytes,
    });
    let bytes = crate::safetensors::serialize(views, &[]).map_err(|e| CheckpointError::Encode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_atomically(path, &bytes)
}

/// Writes `bytes` to a temporary file in `path`'s directory, flushes it to disk, and renames it
/// to `path`. On error the temporary file is removed.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
    let write_error = |source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    let file_name = path.file_name().ok_or_else(|| {
        write_error(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path does not name a file",
        ))
    })?;
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_error(e));
    }
    Ok(())
}

/// Loads the parameters of `net` from the safetensors file at `path`; see the
/// [module docs](self) for what must match. On error, `net` is unchanged.
pub fn load_checkpoint<T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::parse(&bytes).map_err(|e| CheckpointError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;

    // Validate and decode everything first.
    let mut wanted: Vec<(String, Vec<usize>, usize)> = Vec::new();
    net.params(&mut |layer, p| {
        wanted.push((
            format!("{layer}.{}", p.name),
            p.shape.to_vec(),
            p.value.len(),
        ));
    });
    let mut values: Vec<Vec<T>> = Vec::with_capacity(wanted.len());
    for (name, shape, len) in &wanted {
        let tensor = file.tensor(name).ok_or_else(|| CheckpointError::Missing {
            path: path.to_path_buf(),
            name: name.clone(),
            expected: shape.clone(),
        })?;
        if tensor.shape != shape.as_slice() {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name: name.clone(),
                expected: shape.clone(),
                found: tensor.shape.to_vec(),
            });
        }
        let decoded: Vec<T> = match tensor.dtype {
            Dtype::F32 | Dtype::F64 => tensor
                .to_f64()
                .unwrap_or_default()
                .into_iter()
                .map(T::from_f64)
                .collect(),
            other => {
                return Err(CheckpointError::Dtype {
                    path: path.to_path_buf(),
                    name: name.clone(),
                    found: other.to_string(),
                });
            }
        };
        // The parser checks data length against the shape; a shape equal to the network's
        // therefore gives the parameter's length. Checked again rather than trusted.
        if decoded.len() != *len {
            return Err(CheckpointError::Shape {
                path: path.to_path_buf(),
                name: name.clone(),
                expected: shape.clone(),
                found: tensor.shape.to_vec(),
            });
        }
        values.push(decoded);
    }
    let mut extra: Vec<&str> = file
        .names()
        .filter(|n| !wanted.iter().any(|(w, _, _)| w == n))
        .collect();
    extra.sort_unstable();
    if let Some(name) = extra.first() {
        return Err(CheckpointError::Unexpected {
            path: path.to_path_buf(),
            name: name.to_string(),
        });
    }

    // Then assign, in the same order as `params`.
    let mut index = 0;
    net.params_mut(&mut |_, p| {
        if let Some(v) = values.get(index) {
            p.value.copy_from_slice(v);
        }
        index += 1;
    });
    Ok(())
}

/// The tensors of a file to write: name, shape, little-endian bytes.
type Tensors = Vec<(String, Vec<usize>, Vec<u8>)>;

/// Little-endian bytes of `values`, as `F64` when `wide`, else `F32`.
fn to_bytes<T: Float>(values: &[T], wide: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(values.len() * if wide { 8 } else { 4 });
    for &v in values {
        if wide {
            bytes.extend_from_slice(&v.to_f64().to_le_bytes());
        } else {
            bytes.extend_from_slice(&(v.to_f64() as f32).to_le_bytes());
        }
    }
    bytes
}

/// Encodes `tensors` (of `F64` when `wide`, else `F32`; names under `f64_names` are `F64`
/// always) with `metadata` and writes them atomically.
fn write_tensors(
    path: &Path,
    tensors: &Tensors,
    wide: impl Fn(&str) -> bool,
    metadata: Option<HashMap<String, String>>,
) -> Result<(), CheckpointError> {
    let views = tensors.iter().map(|(name, shape, bytes)| TensorView {
        name,
        dtype: if wide(name) { Dtype::F64 } else { Dtype::F32 },
        shape,
        data: bytes,
    });
    // Sorted, so that the file's bytes do not depend on the map's iteration order.
    let mut pairs: Vec<(String, String)> = metadata.unwrap_or_default().into_iter().collect();
    pairs.sort();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let bytes =
        crate::safetensors::serialize(views, &pairs).map_err(|e| CheckpointError::Encode {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    write_atomically(path, &bytes)
}

/// The name of the first history tensors of a training-state file (see [`save_train_state`]).
const HISTORY_LOSS: &str = "train_state.history.loss_per_iteration";
/// One row per epoch of [`EPOCH_COLUMNS`] values.
const HISTORY_EPOCHS: &str = "train_state.history.epochs";
/// `[best_epoch, best_val_acc]`.
const HISTORY_BEST: &str = "train_state.history.best";
/// The columns of [`HISTORY_EPOCHS`].
const EPOCH_COLUMNS: usize = 8;
/// The `format` metadata of a training-state file.
const STATE_FORMAT: &str = "constnet-train-state-1";

/// Saves `net`'s parameters (buffers included, under their names as [`save_checkpoint`]) and
/// the run's `state` to `path`, atomically (a temporary file in the same folder, then a
/// rename): the file a run can be resumed from ([`load_train_state`]).
///
/// Besides the parameters, the file holds the kept parameters as `best.<name>`, the optimizer's
/// state as `optimizer.<slot>.<index>` (one tensor per trained parameter, in the network's
/// order), and the history as `F64` tensors (`train_state.history.loss_per_iteration`,
/// `train_state.history.epochs` of one row per epoch: epoch, train loss, train accuracy,
/// validation accuracy, learning rate, seconds, training images/s, sync seconds;
/// `train_state.history.best`: best epoch and its validation accuracy); the epoch, seed, batch
/// size, training-set size, optimizer name and step count are metadata strings. Parameters and
/// optimizer state are in the network's float type, so the values come back exactly.
pub fn save_train_state<T: Float, N: Network<T> + ?Sized>(
    net: &N,
    state: &TrainState<T>,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let wide = T::NAME == "f64";
    let mut tensors: Tensors = Vec::new();
    let mut names = Vec::new();
    net.params(&mut |layer, p| {
        let name = format!("{layer}.{}", p.name);
        tensors.push((name.clone(), p.shape.to_vec(), to_bytes(p.value, wide)));
        names.push((name, p.shape.to_vec()));
    });
    if !state.best.is_empty() {
        if state.best.len() != names.len() {
            return Err(CheckpointError::State {
                path: path.to_path_buf(),
                message: format!(
                    "{} kept parameters for a network of {}",
                    state.best.len(),
                    names.len()
                ),
            });
        }
        for ((name, shape), values) in names.iter().zip(&state.best) {
            tensors.push((
                format!("best.{name}"),
                shape.clone(),
                to_bytes(values, wide),
            ));
        }
    }
    for (slot, per_param) in &state.optimizer.slots {
        for (i, values) in per_param.iter().enumerate() {
            tensors.push((
                format!("optimizer.{slot}.{i}"),
                vec![values.len()],
                to_bytes(values, wide),
            ));
        }
    }
    let history = &state.history;
    tensors.push((
        HISTORY_LOSS.into(),
        vec![history.loss_per_iteration.len()],
        to_bytes(&history.loss_per_iteration, true),
    ));
    let rows: Vec<f64> = history
        .epochs
        .iter()
        .flat_map(|e| {
            [
                e.epoch as f64,
                e.train_loss,
                e.train_acc,
                e.val_acc,
                e.learning_rate,
                e.seconds,
                e.train_images_per_sec,
                e.sync_seconds,
            ]
        })
        .collect();
    tensors.push((
        HISTORY_EPOCHS.into(),
        vec![history.epochs.len(), EPOCH_COLUMNS],
        to_bytes(&rows, true),
    ));
    tensors.push((
        HISTORY_BEST.into(),
        vec![2],
        to_bytes(&[history.best_epoch as f64, history.best_val_acc], true),
    ));
    let metadata: HashMap<String, String> = [
        ("format", STATE_FORMAT.to_string()),
        ("dtype", T::NAME.to_string()),
        ("epoch", state.epoch.to_string()),
        ("seed", state.seed.to_string()),
        ("batch_size", state.batch_size.to_string()),
        ("train_len", state.train_len.to_string()),
        ("optimizer", state.optimizer.name.clone()),
        ("optimizer_steps", state.optimizer.steps.to_string()),
        (
            "optimizer_slots",
            state
                .optimizer
                .slots
                .iter()
                .map(|(slot, _)| slot.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    write_tensors(
        path,
        &tensors,
        |name| wide || name.starts_with("train_state."),
        Some(metadata),
    )
}

/// Decodes an `F32` or `F64` tensor into `T`s.
fn decode<T: Float>(
    path: &Path,
    name: &str,
    tensor: &TensorView<'_>,
) -> Result<Vec<T>, CheckpointError> {
    match tensor.dtype {
        Dtype::F32 => Ok(tensor
            .data
            .chunks_exact(4)
            .map(|b| T::from_f64(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64))
            .collect()),
        Dtype::F64 => Ok(tensor
            .data
            .chunks_exact(8)
            .map(|b| {
                T::from_f64(f64::from_le_bytes([
                    b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                ]))
            })
            .collect()),
        other => Err(CheckpointError::Dtype {
            path: path.to_path_buf(),
            name: name.to_string(),
            found: format!("{other:?}"),
        }),
    }
}

/// Reads a training state saved by [`save_train_state`] from `path`: puts the saved parameters
/// into `net` (which must be the same architecture and float type) and returns the rest, for
/// [`TrainSession::resume`](super::TrainSession::resume). Everything is checked before anything
/// is assigned, so on error `net` is unchanged.
pub fn load_train_state<T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<TrainState<T>, CheckpointError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::parse(&bytes).map_err(|e| CheckpointError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let bad = |message: String| CheckpointError::State {
        path: path.to_path_buf(),
        message,
    };
    let meta = |key: &str| {
        file.metadata(key)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("no '{key}' in the metadata")))
    };
    let number = |key: &str| -> Result<u64, CheckpointError> {
        let text = meta(key)?;
        text.parse()
            .map_err(|_| bad(format!("'{key}' is '{text}', not a number")))
    };
    if meta("format")? != STATE_FORMAT {
        return Err(bad(format!(
            "the format is '{}', not {STATE_FORMAT}",
            meta("format")?
        )));
    }
    if meta("dtype")? != T::NAME {
        return Err(bad(format!(
            "it was saved from an {} network, this one is {}",
            meta("dtype")?,
            T::NAME
        )));
    }
    let tensor = |name: &str| {
        file.tensor(name)
            .ok_or_else(|| bad(format!("tensor '{name}' is missing")))
    };
    let values = |name: &str, len: usize| -> Result<Vec<T>, CheckpointError> {
        let v = decode::<T>(path, name, &tensor(name)?)?;
        if v.len() != len {
            return Err(bad(format!(
                "tensor '{name}' has {} values, not {len}",
                v.len()
            )));
        }
        Ok(v)
    };

    // The network's parameters, and which are trained.
    let mut wanted: Vec<(String, usize, bool)> = Vec::new();
    net.params(&mut |layer, p| {
        wanted.push((
            format!("{layer}.{}", p.name),
            p.value.len(),
            p.kind != ParamKind::Buffer,
        ));
    });
    let params = wanted
        .iter()
        .map(|(name, len, _)| values(name, *len))
        .collect::<Result<Vec<_>, _>>()?;
    let best = if file.tensor(&format!("best.{}", wanted[0].0)).is_some() {
        wanted
            .iter()
            .map(|(name, len, _)| values(&format!("best.{name}"), *len))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        Vec::new()
    };
    let slots_text = meta("optimizer_slots")?;
    let mut slots = Vec::new();
    for slot in slots_text.split(',').filter(|s| !s.is_empty()) {
        let per_param = wanted
            .iter()
            .filter(|(_, _, trained)| *trained)
            .enumerate()
            .map(|(i, (_, len, _))| values(&format!("optimizer.{slot}.{i}"), *len))
            .collect::<Result<Vec<_>, _>>()?;
        slots.push((slot.to_string(), per_param));
    }
    let loss_per_iteration: Vec<f64> = decode(path, HISTORY_LOSS, &tensor(HISTORY_LOSS)?)?;
    let rows: Vec<f64> = decode(path, HISTORY_EPOCHS, &tensor(HISTORY_EPOCHS)?)?;
    if !rows.len().is_multiple_of(EPOCH_COLUMNS) {
        return Err(bad(format!(
            "{HISTORY_EPOCHS} has {} values, not rows of {EPOCH_COLUMNS}",
            rows.len()
        )));
    }
    let epochs = rows
        .chunks_exact(EPOCH_COLUMNS)
        .map(|r| EpochStats {
            epoch: r[0] as usize,
            train_loss: r[1],
            train_acc: r[2],
            val_acc: r[3],
            learning_rate: r[4],
            seconds: r[5],
            train_images_per_sec: r[6],
            sync_seconds: r[7],
        })
        .collect();
    let best_stats: Vec<f64> = decode(path, HISTORY_BEST, &tensor(HISTORY_BEST)?)?;
    let [best_epoch, best_val_acc] = best_stats[..] else {
        return Err(bad(format!("{HISTORY_BEST} does not hold 2 values")));
    };
    let state = TrainState {
        epoch: number("epoch")? as usize,
        seed: number("seed")?,
        batch_size: number("batch_size")? as usize,
        train_len: number("train_len")? as usize,
        history: History {
            loss_per_iteration,
            epochs,
            best_epoch: best_epoch as usize,
            best_val_acc,
        },
        optimizer: OptimizerState {
            name: meta("optimizer")?,
            steps: number("optimizer_steps")?,
            slots,
        },
        best,
    };

    let mut index = 0;
    net.params_mut(&mut |_, p| {
        if let Some(v) = params.get(index) {
            p.value.copy_from_slice(v);
        }
        index += 1;
    });
    Ok(state)
}
