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
//!     /// The seed's SmallCnn.
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
//! Change `Linear<1568, 100>` to `Linear<1567, 100>` and `cargo check` says:
//!
//! ```text
//! error[E0080]: evaluation panicked: layer `fc1`: Linear<1567, 100> expects 1567 input features, but its input is 7x7x32 = 1568
//! ```
//!
//! ## Architecture in two minutes
//!
//! * [`shape`]: the shape machinery. A per-sample shape is a type ([`Image<H, W, C>`](Image));
//!   layers compute their output shape as associated constants, and a `const` check per layer
//!   reports a misfit at compile time. The module docs explain why this design (and not
//!   typenum or `generic_const_exprs`).
//! * [`Layer`] ([`layer`]): the trait every layer implements for an input shape and an element
//!   type ([`Float`]: `f32` or `f64`): output shape, fit check, `forward`, `backward`, and its
//!   parameters. Batches travel as flat NHWC slices owned by the network and reused.
//! * [`layers`]: one file per layer, each with its shape contract on its first line, its
//!   PyTorch equivalent, forward and backward, and its gradient checks: [`Conv2d`](layers::Conv2d), [`MaxPool2d`](layers::MaxPool2d),
//!   [`BatchNorm2d`](layers::BatchNorm2d), [`Flatten`](layers::Flatten),
//!   [`Linear`](layers::Linear), [`Relu`](layers::Relu), [`LeakyRelu`](layers::LeakyRelu),
//!   [`Gelu`](layers::Gelu), [`Dropout`](layers::Dropout).
//! * [`kernels`]: the fast kernels behind the layers (monomorphised, vectorised loops with
//!   run-time CPU dispatch, hand-written AVX-512/AVX2 for the hot `f32` convolutions, rayon from a
//!   pool thread) and the plain reference loops they are tested against.
//! * [`net!`]: the macro that writes a network struct from named layers, with its
//!   [`Network`] impl (forward, backward, parameters by PyTorch-style name, summary).
//! * [`models`]: the seed's networks written with `net!`: `TestCnn`, `SmallCnn`, `SmallCnnBn`.
//! * [`Tensor`]: a batch of samples of a compile-time shape, the network's input type.
//! * [`grad_check`]: numerical gradients and `rel_error`, as the seed's `grad_check`.
//! * [`train`]: the loss, optimisers, the training loop, checkpoints and metrics.
//! * [`data`]: CIFAR-100 (Matlab files) and a synthetic stand-in, split, normalised, batched.
//! * [`plot`]: the run's pictures (curves, filters, feature maps, samples, confusion matrix) as
//!   PNG files, drawn with an embedded font.
//! * [`report`]: the run's self-contained HTML report.
//!
//! ## Conventions
//!
//! NHWC tensors; convolution weights `[K][K][IN_C][OUT_C]`; linear weights `[IN][OUT]`;
//! flatten order `(h * W + w) * C + c`; parameter names `"<layer>.weight"` / `"<layer>.bias"`.
//! `backward` sets gradients (it does not accumulate into them).
#![warn(missing_docs)]

pub mod data;
#[cfg(feature = "distributed")]
pub mod distributed;
pub mod float;
pub mod grad_check;
pub mod kernels;
pub mod layer;
pub mod layers;
pub mod models;
mod net_macro;
pub mod network;
pub mod plot;
pub mod report;
pub mod shape;
pub mod tensor;
pub mod train;

pub use float::Float;
pub use layer::{Init, Layer, Mode, Param, ParamKind, ParamMut};
pub use network::{LayerInfo, Network, ParamError, Summary};
pub use shape::{Image, Misfit, Shape};
pub use tensor::Tensor;

/// The README's code, compiled and run as a doctest so that it stays true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
