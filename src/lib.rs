//! # constnet
//!
//! Convolutional neural networks whose layer shapes are computed and checked by the compiler,
//! on stable Rust.
//!
//! ```
//! use constnet::layers::{Conv2d, Flatten, Gelu, Linear, MaxPool2d};
//! use constnet::{Image, Mode, Network, Tensor, net};
//!
//! net! {
//!     /// The notebook's SmallCnn.
//!     pub struct SmallCnn {
//!         input: Image<32, 32, 3>,
//!         conv1: Conv2d<3, 16, 3, 1, 1>,   // 32x32x16
//!         gelu1: Gelu,
//!         conv2: Conv2d<16, 32, 3, 2, 0>,  // 15x15x32
//!         gelu2: Gelu,
//!         pool: MaxPool2d<2, 2>,           // 7x7x32
//!         flatten: Flatten,                // 1x1x1568
//!         fc1: Linear<1568, 100>,
//!         gelu3: Gelu,
//!         fc2: Linear<100, 20>,
//!     }
//! }
//!
//! let mut net = SmallCnn::<f32>::new(123);
//! let images = Tensor::<Image<32, 32, 3>>::zeros(10);
//! let scores = net.forward(&images, Mode::Eval);
//! assert_eq!(scores.len(), 10 * 20);
//! println!("{}", net.summary());
//! ```
//!
//! Change `Linear<1568, 100>` to `Linear<1567, 100>` and `cargo check` says (the
//! `ui-tests/fail/linear_features` snapshot, which `tests/ui.rs` checks this quote against):
//!
//! ```text
//! error[E0080]: evaluation panicked: layer `fc1`: Linear<1567, 100> expects 1567 input features, but its input is 1x1x1568 = 1568
//! ```
//!
//! ## Cargo features
//!
//! The core (`default-features = false`) has the shapes, layers, `net!`, kernels, training,
//! safetensors checkpoints, PyTorch weights in and out, and the synthetic data set; its dependencies are `rand`,
//! `rand_distr`, `rayon`, `thiserror` and `const_panic`. The default features add:
//!
//! | feature | what | crates |
//! |---|---|---|
//! | `plot` | `constnet::plot`: the run's PNG pictures, text in an embedded font | plotters, png, ab_glyph |
//! | `report` | `constnet::report`: the run's self-contained HTML report (implies `plot`) | |
//! | `mat` | `constnet::data::load_cifar100`: CIFAR-100's Matlab files, and a MAT writer for tests | matfile, flate2 |
//! | `gzip` | reading gzip-compressed data files | flate2 |
//! | `image-folder` | decoding PNG images: the image-folder data set, `constnet::data::read_png` | png |
//!
//! ## Architecture in two minutes
//!
//! * [`shape`]: the shape machinery. A per-sample shape is a type ([`Image<H, W, C>`](Image));
//!   layers compute their output shape as associated constants, and a `const` check per layer
//!   reports a misfit at compile time. The module docs explain why this design (and not
//!   typenum or `generic_const_exprs`).
//! * [`Layer`] ([`layer`]): the trait every layer implements for an input shape and an element
//!   type ([`Float`]: `f32` or `f64`): output shape, fit check, `forward`, `backward`, and its
//!   parameters. Batches travel as flat NHWC slices owned by the network and reused; the
//!   gradients between the layers inside containers live in a [`GradPool`] that all the
//!   containers of a network share during the backward pass.
//! * [`layers`]: one file per layer, each with its shape contract on its first line, its
//!   PyTorch equivalent, forward and backward, and its gradient checks:
//!   [`Conv2d`](layers::Conv2d), [`Conv2dNoBias`](layers::Conv2dNoBias),
//!   [`MaxPool2d`](layers::MaxPool2d),
//!   [`AvgPool2d`](layers::AvgPool2d), [`GlobalAvgPool2d`](layers::GlobalAvgPool2d),
//!   [`BatchNorm2d`](layers::BatchNorm2d) (and [`BatchNorm2dRelu`](layers::BatchNorm2dRelu),
//!   BatchNorm then ReLU in the same passes), [`Flatten`](layers::Flatten),
//!   [`Linear`](layers::Linear), [`Relu`](layers::Relu), [`LeakyRelu`](layers::LeakyRelu),
//!   [`Gelu`](layers::Gelu), [`Sigmoid`](layers::Sigmoid), [`Tanh`](layers::Tanh),
//!   [`Dropout`](layers::Dropout), [`Identity`](layers::Identity).
//! * [`kernels`]: the fast kernels behind the layers (monomorphised, vectorised loops with
//!   run-time CPU dispatch, hand-written AVX-512/AVX2 for the hot `f32` convolutions, fully
//!   connected layers, BatchNorm and max pooling, Winograd's F(2x2, 3x3) for 3x3 stride-1
//!   layers of 16-128 channels, rayon from a pool thread) and the plain reference loops they are
//!   tested against.
//! * [`net!`]: the macro (a procedural macro in the workspace crate `constnet-macros`) that
//!   writes a network struct from named layers. The network is itself a [`Layer`] (so networks
//!   nest, with dotted parameter paths such as `layer2.0.conv1.weight`), may take const
//!   parameters, and, given an input shape, implements [`Network`] (forward, backward,
//!   parameters by name, summary). Combinators in [`layers`]: [`Residual`](layers::Residual),
//!   [`ResidualProj`](layers::ResidualProj), [`Repeat`](layers::Repeat).
//! * [`models`]: networks written with `net!`: the notebook's `TestCnn`, `SmallCnn`,
//!   `SmallCnnBn`, and `LeNet5` and `ResNet20<CLASSES>` (with its blocks).
//! * [`Tensor`]: a batch of samples of a compile-time shape, the network's input type.
//! * [`infer`]: inference through `&self` with a reusable [`Workspace`] (a large batch runs
//!   in passes whose intermediate outputs stay in the cache): [`Network::predict`] and
//!   [`Network::predict_batch`] (classes and softmax probabilities),
//!   [`Network::activation`] (a named layer's output). The `predict` example uses them on PNG
//!   files.
//! * [`grad_check`]: numerical gradients and `rel_error`, as the notebook's `grad_check`.
//! * [`train`]: the loss, optimisers, the training loop, checkpoints (tagged with their layout
//!   and carrying the model name, class names and normalisation) and metrics.
//! * [`safetensors`]: a small, strict reader and writer of the safetensors format (checkpoints).
//! * [`torch`]: PyTorch `state_dict`s in and out: weights converted between PyTorch's layouts
//!   (NCHW, `[OUT][IN][K][K]`) and constnet's, names matched one to one.
//! * [`data`]: datasets of any image shape, loaders for MNIST IDX, CIFAR-10/100 (binary, and
//!   Matlab with feature `mat`) and PNG folders (feature `image-folder`, which also reads one
//!   PNG image), a synthetic stand-in; split, normalised, augmented, batched.
//! * `plot` (feature `plot`): the run's pictures (curves, filters, feature maps, samples,
//!   confusion matrix) as PNG files, drawn with an embedded font.
//! * `report` (feature `report`): the run's self-contained HTML report.
//! * `distributed` (feature `distributed`): data-parallel training over MPI, one replica per
//!   rank, gradients summed in a fixed order: the same RNG seed and rank count give the same bits.
//!
//! The library prints nothing and never exits. The programs (`small_cnn`, `train`, `predict`,
//! the benchmarks) live in `examples/`, with their shared code in `examples/common/`; their
//! command lines and files are documented in `examples/README.md`.
//!
//! ## Conventions
//!
//! The notebook's numbers depend on every one of these; PyTorch's differ where noted.
//!
//! | what | convention |
//! |---|---|
//! | tensor layout | NHWC: batch, height, width, channels; row-major (PyTorch: NCHW) |
//! | `Conv2d` weight | `[K][K][IN_C][OUT_C]`; bias `[OUT_C]` (PyTorch: `[OUT_C][IN_C][K][K]`) |
//! | convolution | cross-correlation (no kernel flip); zero padding of P on every side; output size `(H + 2P - K) / S + 1`, rounded down |
//! | `MaxPool2d` | window POOL x POOL, stride S, no padding; output size `(H - POOL) / S + 1`; windows may overlap, so backward accumulates; on ties the gradient goes to the first maximum in row-major window order |
//! | `Flatten` | row-major over (H, W, C): index `(h * W + w) * C + c` |
//! | `Linear` weight | `[IN][OUT]`, `y = x . W + b` (PyTorch: `[OUT][IN]`) |
//! | GELU | tanh approximation `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`, with a derivative that is finite for every finite `x` |
//! | loss | softmax cross-entropy, mean over the batch; gradient `(softmax - onehot) / N` |
//! | initialisation | He normal from an RNG seed (`new(seed)`); [`Init::NOTEBOOK`] is the notebook's: weights N(0, 0.02^2), biases zero |
//! | regularization | `none`, `l1` (`+ lambda * sum |w|`), `l2` (`+ lambda * sum w^2`), weights only; the reported loss includes it |
//! | learning-rate decay | after every `lr_decay_every` epochs, `lr <- lr * lr_decay` |
//! | parameter names | PyTorch-style `"<layer>.weight"`, `"<layer>.bias"`, `"<layer>.running_mean"`, with dotted paths in nested networks (`"layer2.0.downsample.0.weight"`) |
//!
//! `backward` sets gradients (it does not accumulate into them). "The notebook" is the homework
//! notebook constnet started from (README.md); "seed" always means an RNG seed.
#![warn(missing_docs)]

// The code that `net!` writes names this crate `::constnet`, also inside it.
extern crate self as constnet;

pub mod data;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod float;
pub mod grad_check;
pub mod infer;
pub mod kernels;
pub mod layer;
pub mod layers;
pub mod models;
mod net_macro;
pub mod network;
#[cfg(feature = "plot")]
pub mod plot;
#[cfg(feature = "report")]
pub mod report;
pub mod safetensors;
pub mod shape;
pub mod tensor;
pub mod torch;
pub mod train;

#[doc(hidden)]
pub use constnet_macros::net as __net_proc_macro;
pub use float::Float;
pub use infer::{Activation, InferError, Prediction, Predictions, Ranked, Workspace};
pub use layer::{Init, Layer, Mode, NamePath, Param, ParamKind, ParamMut, WithFloat};
pub use network::{GradPool, LayerInfo, Network, ParamError, Summary};
pub use shape::{Image, Misfit, Shape};
pub use tensor::{Tensor, TensorView};

/// The README's code, compiled and run as a doctest so that it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
