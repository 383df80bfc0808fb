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

use crate::safetensors::{Dtype, SafeTensors, TensorView};
use crate::{Float, Network};
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
