//! PyTorch weights in and out: [`load_state_dict`] reads a PyTorch `state_dict` saved as
//! safetensors into any [`Network`]; [`save_state_dict`] writes a network's parameters as a
//! `state_dict` that PyTorch loads.
//!
//! The Python side:
//!
//! ```python
//! import safetensors.torch
//! # PyTorch -> constnet
//! safetensors.torch.save_file(model.state_dict(), "model_torch.safetensors")
//! # constnet -> PyTorch (strict: every key of the model, nothing else)
//! model.load_state_dict(safetensors.torch.load_file("exported.safetensors"))
//! ```
//!
//! The PyTorch model must be the same architecture with the same names: `net!`'s field names
//! are the `state_dict`'s keys (`conv1.weight`, `layer2.0.downsample.0.weight`), as in
//! [`crate::models`]. Names are matched one to one: a tensor the network lacks, a parameter the
//! file lacks, or a tensor of the wrong shape is a [`TorchError`] naming it, with shapes in
//! PyTorch's order. Everything is checked before anything is assigned: on error the network is
//! unchanged.
//!
//! # Layouts
//!
//! Each parameter's [`TorchLayout`] says how it converts:
//!
//! | layer (its [`LayerInfo::signature`]) | parameter | constnet | PyTorch |
//! |---|---|---|---|
//! | `Conv2d<..>`, `Conv2dNoBias<..>` | 4-D `weight` | `[K][K][IN][OUT]` | `[OUT][IN][K][K]` |
//! | `Linear<..>` | 2-D `weight` | `[IN][OUT]` | `[OUT][IN]` |
//! | any | 1-D (biases, BatchNorm's `weight`, `bias`, `running_mean`, `running_var`) | `[C]` | `[C]` |
//!
//! A layer's kind is known from its summary row ([`Network::layers`], the row whose name is the
//! parameter's layer path): its signature's name, and the parameter's number of dimensions. A
//! parameter of more than one dimension in a layer of another kind is
//! [`TorchError::Unsupported`] rather than a guess.
//!
//! Activations are NHWC here and NCHW in PyTorch, so flattening an `H x W x C` map orders the
//! features `(h, w, c)` here and `(c, h, w)` there. A `Linear` fed by such a flatten gets its
//! input columns reordered: walking back from the `Linear` through the rows before it that
//! have no parameters and keep the number of values (`Flatten`, `Dropout`, activations), the
//! first input shape with `H x W > 1` is the flattened map. After `GlobalAvgPool2d` the map is
//! `1 x 1 x C`, both orders agree and nothing is reordered. The walk follows the summary's
//! rows: the flatten must be in the same network as the `Linear` (or an enclosing one), not
//! the last layer of a nested network just before it, and a `Linear` inside a residual block
//! is never reordered.
//!
//! BatchNorm's `num_batches_tracked` (an `int64` PyTorch keeps for `momentum=None`) is ignored
//! on import. On export it is written as `int64` 0 (constnet does not count batches), so that
//! `load_state_dict(strict=True)` finds every key; PyTorch uses it only with `momentum=None`.
//!
//! Tensors may be `F32`, `F64`, `F16` or `BF16` (converted exactly to `f64`, then to the
//! network's type). The export is `F32` (`F64` for an `f64` network), with the metadata
//! `"format": "pt"` and `"layout": "pytorch-nchw"` ([`TORCH_LAYOUT`]).
//!
//! # Not a constnet checkpoint
//!
//! constnet's own checkpoints ([`crate::train::save_checkpoint`]) carry the metadata
//! `"layout": "constnet-nhwc"`; [`load_state_dict`] refuses them ([`TorchError::ConstnetFile`])
//! and [`crate::train::load_checkpoint`] refuses files without it, so a file is never read in the
//! wrong layout, even when the shapes agree (a square `Linear<N, N>`).
//!
//! ```
//! use constnet::layers::{Conv2d, Flatten, Linear, Relu};
//! use constnet::torch::{load_state_dict, save_state_dict};
//! use constnet::{Image, Mode, Network, Tensor, net};
//!
//! net! {
//!     struct Tiny {
//!         input: Image<4, 4, 1>,
//!         conv1: Conv2d<1, 2, 3, 1, 0>,
//!         relu: Relu,
//!         flatten: Flatten,
//!         fc: Linear<8, 3>,
//!     }
//! }
//! let dir = std::env::temp_dir().join(format!("constnet-doc-torch-{}", std::process::id()));
//! std::fs::create_dir_all(&dir)?;
//! let path = dir.join("tiny_torch.safetensors");
//!
//! let mut trained = Tiny::<f32>::new(1);
//! save_state_dict(&trained, &path)?; // conv1.weight [2, 1, 3, 3], fc.weight [3, 8], ...
//! let mut loaded = Tiny::<f32>::new(2);
//! load_state_dict(&mut loaded, &path)?;
//!
//! let x = Tensor::<Image<4, 4, 1>>::from_vec(1, (0..16).map(|i| i as f32 / 16.0).collect())?;
//! let expected = trained.forward(&x, Mode::Eval).to_vec();
//! assert_eq!(loaded.forward(&x, Mode::Eval), expected.as_slice());
//! std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::safetensors::{Dtype, SafeTensors, TensorView};
use crate::train::checkpoint::{LAYOUT, LAYOUT_KEY};
use crate::{Float, LayerInfo, Network, Shape};
use std::path::{Path, PathBuf};

/// The `layout` metadata of the files [`save_state_dict`] writes.
pub const TORCH_LAYOUT: &str = "pytorch-nchw";

/// A PyTorch `state_dict` that cannot be read or written, or does not fit the network.
#[derive(Debug, thiserror::Error)]
pub enum TorchError {
    /// Reading the file failed.
    #[error("cannot read PyTorch state_dict {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error("cannot write PyTorch state_dict {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file.
    #[error("{} is not a valid safetensors file: {message}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What the safetensors parser said.
        message: String,
    },
    /// The file is a constnet checkpoint (metadata `"layout": "constnet-nhwc"`), not a PyTorch
    /// `state_dict`.
    #[error("{}: this is a constnet checkpoint (\"{LAYOUT_KEY}\": \"{LAYOUT}\"), not a PyTorch state_dict; load it with constnet::train::load_checkpoint", path.display())]
    ConstnetFile {
        /// The file.
        path: PathBuf,
    },
    /// A parameter of the network is not in the file.
    #[error("{}: the network's parameter '{name}' (PyTorch shape {expected:?}) is not in the file", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// The parameter's name.
        name: String,
        /// Its shape in PyTorch's layout.
        expected: Vec<usize>,
    },
    /// The file has a tensor that the network does not.
    #[error("{}: tensor '{name}' is not a parameter of the network (the state_dict is of another architecture)", path.display())]
    Unexpected {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
    },
    /// A tensor's shape is not the parameter's, both in PyTorch's order.
    #[error("{}: tensor '{name}' has shape {found:?}, but the network's parameter has PyTorch shape {expected:?}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// The parameter's shape in PyTorch's layout.
        expected: Vec<usize>,
        /// The tensor's shape.
        found: Vec<usize>,
    },
    /// A tensor is not of a floating-point dtype.
    #[error("{}: tensor '{name}' has dtype {found}, but only F32, F64, F16 and BF16 can be loaded", path.display())]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor's name.
        name: String,
        /// Its dtype.
        found: Dtype,
    },
    /// A parameter of more than one dimension in a layer whose PyTorch layout is not known.
    #[error(
        "parameter '{name}' of layer {signature} has {dims} dimensions, and the PyTorch layout of this layer is not known (only Conv2d and Linear weights are converted)"
    )]
    Unsupported {
        /// The parameter's name.
        name: String,
        /// The layer's signature (`"?"` if it has no summary row).
        signature: String,
        /// The parameter's number of dimensions.
        dims: usize,
    },
    /// The tensors could not be encoded (not expected with a well-formed network).
    #[error("cannot encode PyTorch state_dict {}: {message}", path.display())]
    Encode {
        /// The file.
        path: PathBuf,
        /// What the safetensors writer said.
        message: String,
    },
}

/// How a parameter is laid out in PyTorch relative to constnet; see the
/// [module docs](self#layouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchLayout {
    /// The same in both (1-D parameters).
    Same,
    /// A convolution weight: constnet `[KH][KW][IN][OUT]`, PyTorch `[OUT][IN][KH][KW]`.
    Conv {
        /// Kernel height.
        kh: usize,
        /// Kernel width.
        kw: usize,
        /// Input channels.
        inputs: usize,
        /// Output channels.
        outputs: usize,
    },
    /// A linear weight: constnet `[IN][OUT]`, PyTorch `[OUT][IN]`.
    Linear {
        /// Input features.
        inputs: usize,
        /// Output features.
        outputs: usize,
        /// The `[H, W, C]` map whose flattening feeds the layer, if `H x W > 1`: its input
        /// columns are `(h, w, c)`-ordered here and `(c, h, w)`-ordered in PyTorch.
        flattened: Option<[usize; 3]>,
    },
}

impl TorchLayout {
    /// The parameter's shape in PyTorch's layout, from its shape in constnet's.
    pub fn torch_shape(&self, shape: &[usize]) -> Vec<usize> {
        match *self {
            TorchLayout::Same => shape.to_vec(),
            TorchLayout::Conv {
                kh,
                kw,
                inputs,
                outputs,
            } => vec![outputs, inputs, kh, kw],
            TorchLayout::Linear {
                inputs, outputs, ..
            } => vec![outputs, inputs],
        }
    }

    /// For each flat index of constnet's layout, the flat index of the same value in PyTorch's.
    fn torch_index(&self, i: usize) -> usize {
        match *self {
            TorchLayout::Same => i,
            TorchLayout::Conv {
                kh,
                kw,
                inputs,
                outputs,
            } => {
                let o = i % outputs;
                let ci = i / outputs % inputs;
                let b = i / (outputs * inputs) % kw;
                let a = i / (outputs * inputs * kw);
                ((o * inputs + ci) * kh + a) * kw + b
            }
            TorchLayout::Linear {
                inputs,
                outputs,
                flattened,
            } => {
                let o = i % outputs;
                let row = i / outputs;
                let column = match flattened {
                    Some([h, w, c]) => {
                        let ch = row % c;
                        let x = row / c % w;
                        let y = row / (c * w);
                        (ch * h + y) * w + x
                    }
                    None => row,
                };
                o * inputs + column
            }
        }
    }

    /// `values` (constnet's layout) in PyTorch's layout.
    pub fn to_torch<V: Copy>(&self, values: &[V]) -> Vec<V> {
        let mut out = values.to_vec();
        for (i, &v) in values.iter().enumerate() {
            out[self.torch_index(i)] = v;
        }
        out
    }

    /// `values` (PyTorch's layout) in constnet's layout; the inverse of
    /// [`TorchLayout::to_torch`].
    pub fn from_torch<V: Copy>(&self, values: &[V]) -> Vec<V> {
        (0..values.len())
            .map(|i| values[self.torch_index(i)])
            .collect()
    }
}

/// One parameter of the network, as PyTorch names and shapes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TorchParam {
    /// Its `state_dict` key (`"conv1.weight"`).
    pub name: String,
    /// Its shape in constnet's layout.
    pub shape: Vec<usize>,
    /// Its shape in PyTorch's layout.
    pub torch_shape: Vec<usize>,
    /// How the two layouts relate.
    pub layout: TorchLayout,
}

/// Every parameter of `net` (buffers included) in order, with its PyTorch layout; the plan
/// that [`load_state_dict`] and [`save_state_dict`] follow. A parameter whose layout is not
/// known is [`TorchError::Unsupported`].
///
/// ```
/// use constnet::models::SmallCnn;
/// use constnet::torch::{TorchLayout, torch_params};
/// let params = torch_params(&SmallCnn::<f32>::new(0))?;
/// let fc1 = params.iter().find(|p| p.name == "fc1.weight").unwrap();
/// assert_eq!(fc1.torch_shape, [100, 1568]);
/// // fc1 follows the flatten of conv2's pooled 7x7x32 map.
/// assert_eq!(
///     fc1.layout,
///     TorchLayout::Linear { inputs: 1568, outputs: 100, flattened: Some([7, 7, 32]) }
/// );
/// assert_eq!(params[0].torch_shape, [16, 3, 3, 3]); // conv1.weight
/// # Ok::<(), constnet::torch::TorchError>(())
/// ```
pub fn torch_params<T: Float, N: Network<T> + ?Sized>(
    net: &N,
) -> Result<Vec<TorchParam>, TorchError> {
    let rows = net.layers();
    let input = [
        <N::Input as Shape>::H,
        <N::Input as Shape>::W,
        <N::Input as Shape>::C,
    ];
    let mut params = Vec::new();
    let mut failure = None;
    net.params(&mut |layer, p| {
        if failure.is_some() {
            return;
        }
        let name = layer.param_name(p.name);
        let layer = layer.to_string();
        let row = rows.iter().position(|r| !r.container && r.name == layer);
        let signature = row.map_or("?", |i| rows[i].signature.as_str());
        let kind = signature.split('<').next().unwrap_or("");
        let layout = match (p.shape, kind) {
            ([_], _) => TorchLayout::Same,
            (&[kh, kw, inputs, outputs], "Conv2d" | "Conv2dNoBias") => TorchLayout::Conv {
                kh,
                kw,
                inputs,
                outputs,
            },
            (&[inputs, outputs], "Linear") => TorchLayout::Linear {
                inputs,
                outputs,
                flattened: row.and_then(|i| flattened_input(&rows, i, input, inputs)),
            },
            _ => {
                failure = Some(TorchError::Unsupported {
                    name: name.clone(),
                    signature: signature.to_string(),
                    dims: p.shape.len(),
                });
                return;
            }
        };
        params.push(TorchParam {
            torch_shape: layout.torch_shape(p.shape),
            shape: p.shape.to_vec(),
            name,
            layout,
        });
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(params),
    }
}

/// The row whose output is row `i`'s input: its previous sibling, or for a first child, the
/// producer of its container's input; `None` for the network's input.
fn producer(rows: &[LayerInfo], i: usize) -> Option<usize> {
    let depth = rows[i].depth;
    for j in (0..i).rev() {
        if rows[j].depth == depth {
            return Some(j);
        }
        if rows[j].depth < depth {
            return producer(rows, j);
        }
    }
    None
}

/// Row `i`'s input shape `[H, W, C]`.
fn input_of(rows: &[LayerInfo], i: usize, input: [usize; 3]) -> [usize; 3] {
    producer(rows, i).map_or(input, |p| rows[p].output)
}

/// The `[H, W, C]` map (with `H x W > 1`) whose flattening feeds the `Linear` of row `i` with
/// `inputs` features, if any; see the [module docs](self#layouts).
fn flattened_input(
    rows: &[LayerInfo],
    i: usize,
    input: [usize; 3],
    inputs: usize,
) -> Option<[usize; 3]> {
    let len = |[h, w, c]: [usize; 3]| h * w * c;
    // In a residual block, the rows do not say which layers feed the shortcut.
    if in_residual(rows, i) {
        return None;
    }
    let mut k = i;
    loop {
        let shape = input_of(rows, k, input);
        if shape[0] * shape[1] > 1 {
            return (len(shape) == inputs).then_some(shape);
        }
        let p = producer(rows, k)?;
        let row = &rows[p];
        if row.container || row.params != 0 || len(input_of(rows, p, input)) != inputs {
            return None;
        }
        k = p;
    }
}

/// Whether row `i` is inside a `Residual` or `ResidualProj` block.
fn in_residual(rows: &[LayerInfo], i: usize) -> bool {
    let mut depth = rows[i].depth;
    for row in rows[..i].iter().rev() {
        if row.depth < depth {
            if row.signature.starts_with("Residual") {
                return true;
            }
            depth = row.depth;
        }
    }
    false
}

/// Whether `name` is the `num_batches_tracked` of a BatchNorm layer of `rows`.
fn is_batches_tracked(rows: &[LayerInfo], name: &str) -> bool {
    name.strip_suffix(".num_batches_tracked")
        .is_some_and(|layer| {
            rows.iter()
                .any(|r| r.name == layer && r.signature.starts_with("BatchNorm2d"))
        })
}

/// Loads a PyTorch `state_dict` (saved with `safetensors.torch.save_file`) into `net`,
/// converting the layouts; see the [module docs](self). On error `net` is unchanged.
pub fn load_state_dict<T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    path: impl AsRef<Path>,
) -> Result<(), TorchError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| TorchError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file = SafeTensors::parse(&bytes).map_err(|e| TorchError::Format {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if file.metadata(LAYOUT_KEY) == Some(LAYOUT) {
        return Err(TorchError::ConstnetFile {
            path: path.to_path_buf(),
        });
    }
    let plan = torch_params(net)?;
    let mut values: Vec<Vec<T>> = Vec::with_capacity(plan.len());
    for p in &plan {
        let tensor = file.tensor(&p.name).ok_or_else(|| TorchError::Missing {
            path: path.to_path_buf(),
            name: p.name.clone(),
            expected: p.torch_shape.clone(),
        })?;
        if tensor.shape != p.torch_shape.as_slice() {
            return Err(TorchError::Shape {
                path: path.to_path_buf(),
                name: p.name.clone(),
                expected: p.torch_shape.clone(),
                found: tensor.shape.to_vec(),
            });
        }
        let torch = tensor.to_f64().map_err(|_| TorchError::Dtype {
            path: path.to_path_buf(),
            name: p.name.clone(),
            found: tensor.dtype,
        })?;
        values.push(
            p.layout
                .from_torch(&torch)
                .into_iter()
                .map(T::from_f64)
                .collect(),
        );
    }
    let rows = net.layers();
    let mut extra: Vec<&str> = file
        .names()
        .filter(|n| !plan.iter().any(|p| p.name == *n) && !is_batches_tracked(&rows, n))
        .collect();
    extra.sort_unstable();
    if let Some(name) = extra.first() {
        return Err(TorchError::Unexpected {
            path: path.to_path_buf(),
            name: name.to_string(),
        });
    }
    let mut index = 0;
    net.params_mut(&mut |_, p| {
        if let Some(v) = values.get(index)
            && v.len() == p.value.len()
        {
            p.value.copy_from_slice(v);
        }
        index += 1;
    });
    Ok(())
}

/// Writes `net`'s parameters as a PyTorch `state_dict` in safetensors (`F32`, or `F64` for an
/// `f64` network), for `model.load_state_dict(safetensors.torch.load_file(path))`; BatchNorm
/// layers get `num_batches_tracked` (`int64` 0). Written atomically (a temporary file, then a
/// rename). See the [module docs](self).
pub fn save_state_dict<T: Float, N: Network<T> + ?Sized>(
    net: &N,
    path: impl AsRef<Path>,
) -> Result<(), TorchError> {
    let path = path.as_ref();
    let plan = torch_params(net)?;
    let wide = T::NAME == "f64";
    let dtype = if wide { Dtype::F64 } else { Dtype::F32 };
    let mut tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    let mut index = 0;
    net.params(&mut |_, p| {
        let Some(plan) = plan.get(index) else { return };
        index += 1;
        let bytes = plan
            .layout
            .to_torch(p.value)
            .into_iter()
            .flat_map(|v| {
                if wide {
                    v.to_f64().to_le_bytes().to_vec()
                } else {
                    (v.to_f64() as f32).to_le_bytes().to_vec()
                }
            })
            .collect();
        tensors.push((plan.name.clone(), dtype, plan.torch_shape.clone(), bytes));
    });
    // num_batches_tracked after each BatchNorm's last parameter, as PyTorch orders them.
    for row in net.layers() {
        if !row.container && row.signature.starts_with("BatchNorm2d") {
            let prefix = format!("{}.", row.name);
            let last = tensors
                .iter()
                .rposition(|(name, ..)| name.starts_with(&prefix))
                .map_or(tensors.len(), |i| i + 1);
            tensors.insert(
                last,
                (
                    format!("{}num_batches_tracked", prefix),
                    Dtype::I64,
                    Vec::new(),
                    0i64.to_le_bytes().to_vec(),
                ),
            );
        }
    }
    let views = tensors.iter().map(|(name, dtype, shape, data)| TensorView {
        name,
        dtype: *dtype,
        shape,
        data,
    });
    let bytes =
        crate::safetensors::serialize(views, &[("format", "pt"), (LAYOUT_KEY, TORCH_LAYOUT)])
            .map_err(|e| TorchError::Encode {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
    crate::train::checkpoint::write_atomically(path, &bytes).map_err(|e| match e {
        crate::train::CheckpointError::Write { path, source } => TorchError::Write { path, source },
        other => TorchError::Encode {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    })
}
