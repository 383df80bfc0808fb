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
//!
//! # Metadata and the layout tag
//!
//! The file's `__metadata__` (string values only) says what the tensors are:
//!
//! | key | value | written |
//! |---|---|---|
//! | `layout` | [`LAYOUT`], `constnet-nhwc`: the tensors are in constnet's layouts | always |
//! | `input` | the network's input shape `H,W,C`, e.g. `32,32,3` | always |
//! | `model` | the model's name, e.g. `small-cnn` | if [`CheckpointInfo::model`] is set |
//! | `class_names` | the class names, one per line (see below) | if there are class names |
//! | `normalization_mean` | per-channel means, comma-separated, e.g. `0.5071,0.4865,0.4409` | if [`CheckpointInfo::normalization`] is set |
//! | `normalization_std` | per-channel standard deviations, the same way | with `normalization_mean` |
//!
//! `class_names` holds the names separated by a line feed (`\n`); within a name, a backslash is
//! written `\\` and a line feed `\n` (two characters each), so any name survives. Numbers are
//! written with Rust's shortest round-trip formatting, so they read back exactly.
//! [`save_checkpoint_with_info`] writes the optional keys, [`read_checkpoint_info`] and
//! [`load_checkpoint_with_info`] read them back as a [`CheckpointInfo`].
//!
//! [`load_checkpoint`] refuses a file without the layout tag (or with another layout) with
//! [`CheckpointError::Layout`]: such a file was not written by constnet — most likely a PyTorch
//! `state_dict`, whose convolution weights are `[OUT][IN][K][K]` and linear weights `[OUT][IN]`.
//! Comparing shapes is not enough to tell (a square `Linear<N, N>` has the same shape in both
//! layouts and would load transposed), so the tag is required; PyTorch files are read by
//! [`crate::torch::load_state_dict`], which converts the layouts. A stored `input` that differs
//! from the network's is [`CheckpointError::Input`].
//!
//! ```
//! use constnet::data::Normalization;
//! use constnet::layers::Linear;
//! use constnet::train::{CheckpointInfo, read_checkpoint_info, save_checkpoint_with_info};
//! use constnet::{Image, net};
//! net! { struct Tiny { input: Image<1, 1, 2>, fc: Linear<2, 2> } }
//! let dir = std::env::temp_dir().join(format!("constnet-doc-info-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("tiny.safetensors");
//! let info = CheckpointInfo {
//!     model: Some("tiny".into()),
//!     class_names: vec!["cat".into(), "dog".into()],
//!     normalization: Some(Normalization::new(vec![0.5, 0.25], vec![0.2, 0.1])?),
//! };
//! save_checkpoint_with_info(&Tiny::<f32>::new(1), &info, &path)?;
//! assert_eq!(read_checkpoint_info(&path)?, info);
//! std::fs::remove_dir_all(&dir).unwrap();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{EpochStats, History, OptimizerState, TrainState};
use crate::data::Normalization;
use crate::safetensors::{Dtype, SafeTensors, TensorView};
use crate::{Float, Network, ParamKind, Shape};
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
    /// The file lacks constnet's layout tag (metadata `"layout": "constnet-nhwc"`) or names
    /// another layout: it was not written by constnet, and its tensors may be laid out
    /// differently (a PyTorch `state_dict` is). See the [module docs](self#metadata-and-the-layout-tag).
    #[error(
        "{}: {}, so it is not a constnet checkpoint and its tensors may be in another layout \
         (PyTorch's conv weights are [OUT][IN][K][K], ours [K][K][IN][OUT]); a PyTorch \
         state_dict is loaded with constnet::torch::load_state_dict",
        path.display(),
        match found {
            None => format!("the metadata has no \"{LAYOUT_KEY}\": \"{LAYOUT}\" tag"),
            Some(other) => format!("the metadata says \"{LAYOUT_KEY}\": \"{other}\", not \"{LAYOUT}\""),
        }
    )]
    Layout {
        /// The file.
        path: PathBuf,
        /// The layout the file names, if any.
        found: Option<String>,
    },
    /// The file was saved from a network with another input shape.
    #[error("{}: the checkpoint is for {}x{}x{} inputs, but the network takes {}x{}x{}", path.display(), found[0], found[1], found[2], expected[0], expected[1], expected[2])]
    Input {
        /// The file.
        path: PathBuf,
        /// The network's input shape `[H, W, C]`.
        expected: [usize; 3],
        /// The file's.
        found: [usize; 3],
    },
    /// A metadata value cannot be decoded.
    #[error("{}: metadata '{key}' is not valid: {message}", path.display())]
    Metadata {
        /// The file.
        path: PathBuf,
        /// The metadata key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

/// The metadata key of the layout tag.
pub const LAYOUT_KEY: &str = "layout";

/// The layout tag of constnet's files: NHWC activations, convolution weights
/// `[K][K][IN][OUT]`, linear weights `[IN][OUT]` (each layer's [`Param::shape`](crate::Param::shape)).
pub const LAYOUT: &str = "constnet-nhwc";

/// The metadata key of the network's input shape (`H,W,C`).
const INPUT_KEY: &str = "input";
/// The metadata key of the model name.
const MODEL_KEY: &str = "model";
/// The metadata key of the class names.
const CLASS_NAMES_KEY: &str = "class_names";
/// The metadata key of the normalisation's means.
const MEAN_KEY: &str = "normalization_mean";
/// The metadata key of the normalisation's standard deviations.
const STD_KEY: &str = "normalization_std";

/// What a checkpoint says about its model besides the parameters: stored in the file's
/// metadata by [`save_checkpoint_with_info`], read back by [`read_checkpoint_info`] or
/// [`load_checkpoint_with_info`] (keys and encoding in the
/// [module docs](self#metadata-and-the-layout-tag)). Everything is optional: a file saved
/// with [`save_checkpoint`] gives `CheckpointInfo::default()`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CheckpointInfo {
    /// The model's name (e.g. `"small-cnn"`), so that a program can pick the architecture.
    pub model: Option<String>,
    /// The name of each class, by index (empty: not stored).
    pub class_names: Vec<String>,
    /// The normalisation the network was trained with, to apply to new images.
    pub normalization: Option<Normalization>,
}

impl CheckpointInfo {
    /// The metadata pairs of this info (without the layout tag and the input shape).
    fn to_metadata(&self) -> Vec<(String, String)> {
        let mut pairs = Vec::new();
        if let Some(model) = &self.model {
            pairs.push((MODEL_KEY.to_string(), model.clone()));
        }
        if !self.class_names.is_empty() {
            pairs.push((
                CLASS_NAMES_KEY.to_string(),
                encode_class_names(&self.class_names),
            ));
        }
        if let Some(norm) = &self.normalization {
            pairs.push((MEAN_KEY.to_string(), encode_numbers(&norm.mean)));
            pairs.push((STD_KEY.to_string(), encode_numbers(&norm.std)));
        }
        pairs
    }

    /// Decodes the info from `file`'s metadata.
    fn from_file(path: &Path, file: &SafeTensors<'_>) -> Result<Self, CheckpointError> {
        let bad = |key: &str, message: String| CheckpointError::Metadata {
            path: path.to_path_buf(),
            key: key.to_string(),
            message,
        };
        let numbers = |key: &str| -> Result<Option<Vec<f64>>, CheckpointError> {
            file.metadata(key)
                .map(|text| decode_numbers(text).map_err(|m| bad(key, m)))
                .transpose()
        };
        let normalization = match (numbers(MEAN_KEY)?, numbers(STD_KEY)?) {
            (None, None) => None,
            (Some(mean), Some(std)) => {
                Some(Normalization::new(mean, std).map_err(|e| bad(MEAN_KEY, e.to_string()))?)
            }
            (Some(_), None) => {
                return Err(bad(STD_KEY, format!("missing, but {MEAN_KEY} is there")));
            }
            (None, Some(_)) => {
                return Err(bad(MEAN_KEY, format!("missing, but {STD_KEY} is there")));
            }
        };
        Ok(CheckpointInfo {
            model: file.metadata(MODEL_KEY).map(str::to_string),
            class_names: file
                .metadata(CLASS_NAMES_KEY)
                .map(decode_class_names)
                .unwrap_or_default(),
            normalization,
        })
    }
}

/// The class names, one per line, `\` and line feeds escaped.
fn encode_class_names(names: &[String]) -> String {
    names
        .iter()
        .map(|name| name.replace('\\', "\\\\").replace('\n', "\\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The inverse of [`encode_class_names`]; an unknown escape keeps its two characters.
fn decode_class_names(text: &str) -> Vec<String> {
    text.split('\n')
        .map(|line| {
            let mut name = String::with_capacity(line.len());
            let mut chars = line.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    name.push(c);
                    continue;
                }
                match chars.next() {
                    Some('n') => name.push('\n'),
                    Some('\\') => name.push('\\'),
                    Some(other) => {
                        name.push('\\');
                        name.push(other);
                    }
                    None => name.push('\\'),
                }
            }
            name
        })
        .collect()
}

/// Comma-separated numbers in Rust's shortest round-trip form (`Debug`: `1.0`, `1e-300`).
fn encode_numbers<V: std::fmt::Debug>(values: &[V]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of [`encode_numbers`].
fn decode_numbers<V: std::str::FromStr>(text: &str) -> Result<Vec<V>, String> {
    text.split(',')
        .map(|part| {
            part.trim()
                .parse()
                .map_err(|_| format!("'{part}' in '{text}' is not a number"))
        })
        .collect()
}

/// The `[H, W, C]` of a network's input.
fn input_shape<T: Float, N: Network<T> + ?Sized>() -> [usize; 3] {
    [
        <N::Input as Shape>::H,
        <N::Input as Shape>::W,
        <N::Input as Shape>::C,
    ]
}

/// Checks `file`'s layout tag and, if stored, its input shape against `N`'s.
fn check_layout<T: Float, N: Network<T> + ?Sized>(
    path: &Path,
    file: &SafeTensors<'_>,
) -> Result<(), CheckpointError> {
    match file.metadata(LAYOUT_KEY) {
        Some(LAYOUT) => {}
        other => {
            return Err(CheckpointError::Layout {
                path: path.to_path_buf(),
                found: other.map(str::to_string),
            });
        }
    }
    if let Some(text) = file.metadata(INPUT_KEY) {
        let found: [usize; 3] = decode_numbers::<usize>(text)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| CheckpointError::Metadata {
                path: path.to_path_buf(),
                key: INPUT_KEY.to_string(),
                message: format!("'{text}' is not H,W,C"),
            })?;
        let expected = input_shape::<T, N>();
        if found != expected {
            return Err(CheckpointError::Input {
                path: path.to_path_buf(),
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// Reads and parses the file at `path`, keeping the bytes alive in `bytes`.
fn read_file(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    std::fs::read(path).map_err(|source| CheckpointError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses `bytes` read from `path`.
fn parse<'a>(path: &Path, bytes: &'a [u8]) -> Result<SafeTensors<'a>, CheckpointError> {
    SafeTensors::parse(bytes).map_err(|e| CheckpointError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Reads the [`CheckpointInfo`] of a constnet checkpoint without loading its parameters (e.g.
/// the model name, to choose the network to load it into). A file without the layout tag is
/// [`CheckpointError::Layout`]; see the [module docs](self#metadata-and-the-layout-tag).
pub fn read_checkpoint_info(path: impl AsRef<Path>) -> Result<CheckpointInfo, CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = parse(path, &bytes)?;
    if file.metadata(LAYOUT_KEY) != Some(LAYOUT) {
        return Err(CheckpointError::Layout {
            path: path.to_path_buf(),
            found: file.metadata(LAYOUT_KEY).map(str::to_string),
        });
    }
    CheckpointInfo::from_file(path, &file)
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
    save_checkpoint_with_info(net, &CheckpointInfo::default(), path)
}

/// As [`save_checkpoint`], with the model's name, class names and normalisation in the file's
/// metadata (see the [module docs](self#metadata-and-the-layout-tag)).
pub fn save_checkpoint_with_info<T: Float, N: Network<T> + ?Sized>(
    net: &N,
    info: &CheckpointInfo,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    let path = path.as_ref();
    let wide = T::NAME == "f64";
    let mut tensors: Tensors = Vec::new();
    net.params(&mut |layer, p| {
        tensors.push((
            format!("{layer}.{}", p.name),
            p.shape.to_vec(),
            to_bytes(p.value, wide),
        ));
    });
    let mut metadata: HashMap<String, String> = info.to_metadata().into_iter().collect();
    metadata.insert(LAYOUT_KEY.to_string(), LAYOUT.to_string());
    metadata.insert(
        INPUT_KEY.to_string(),
        encode_numbers(&input_shape::<T, N>()),
    );
    write_tensors(path, &tensors, |_| wide, Some(metadata))
}

/// Writes `bytes` to a temporary file in `path`'s directory, flushes it to disk, and renames it
/// to `path`. On error the temporary file is removed.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CheckpointError> {
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
/// [module docs](self) for what must match. A file without constnet's layout tag (e.g. a
/// PyTorch `state_dict`) is [`CheckpointError::Layout`]. On error, `net` is unchanged.
pub fn load_checkpoint<T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<(), CheckpointError> {
    load_checkpoint_with_info(net, path).map(|_| ())
}

/// As [`load_checkpoint`], and returns what the file's metadata says about the model (its
/// [`CheckpointInfo`]). On error, `net` is unchanged.
pub fn load_checkpoint_with_info<T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<CheckpointInfo, CheckpointError> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    let file = parse(path, &bytes)?;
    check_layout::<T, N>(path, &file)?;
    let info = CheckpointInfo::from_file(path, &file)?;

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
    Ok(info)
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
        (LAYOUT_KEY, LAYOUT.to_string()),
        ("dtype", T::NAME.to_string()),
        ("epoch", state.epoch.to_string()),
        ("seed", state.seed.to_string()),
        ("batch_size", state.batch_size.to_string()),
        ("train_len", state.train_len.to_string()),
        ("augment", state.augment.to_string()),
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
        // Files from before augmentation existed have no key: their runs had none.
        augment: match file.metadata("augment") {
            None => crate::data::Augment::NONE,
            Some(text) => text
                .parse()
                .map_err(|e: crate::data::UnknownAugment| bad(e.to_string()))?,
        },
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
