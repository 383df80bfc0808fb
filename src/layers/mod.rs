//! The layers. Each file states its shape contract in its first line, holds forward and backward,
//! and its gradient checks.
//!
//! | layer | shape | PyTorch equivalent |
//! |---|---|---|
//! | [`Conv2d<IN_C, OUT_C, K, S, P>`](Conv2d) | `H x W x IN_C -> H' x W' x OUT_C` | `nn.Conv2d(IN_C, OUT_C, K, S, P)` |
//! | [`MaxPool2d<POOL, S>`](MaxPool2d) | `H x W x C -> H' x W' x C` | `nn.MaxPool2d(POOL, S)` |
//! | [`AvgPool2d<K, S>`](AvgPool2d) | `H x W x C -> H' x W' x C` | `nn.AvgPool2d(K, S)` |
//! | [`GlobalAvgPool2d`] | `H x W x C -> 1 x 1 x C` | `nn.AdaptiveAvgPool2d(1)` |
//! | [`BatchNorm2d<C>`](BatchNorm2d) | `H x W x C -> H x W x C` | `nn.BatchNorm2d(C)` |
//! | [`BatchNorm2dRelu<C>`](BatchNorm2dRelu) | `H x W x C -> H x W x C` | `nn.BatchNorm2d(C)`, `nn.ReLU()` |
//! | [`Flatten`] | `H x W x C -> 1 x 1 x HWC` | `nn.Flatten()` |
//! | [`Linear<IN, OUT>`](Linear) | `IN values -> 1 x 1 x OUT` | `nn.Linear(IN, OUT)` |
//! | [`Relu`], [`LeakyRelu`], [`Gelu`] | unchanged | `nn.ReLU()`, `nn.LeakyReLU()`, `nn.GELU(approximate="tanh")` |
//! | [`Sigmoid`], [`Tanh`] | unchanged | `nn.Sigmoid()`, `nn.Tanh()` |
//! | [`Dropout`] | unchanged | `nn.Dropout(p)` |
//! | [`Identity`] | unchanged | `nn.Identity()` |
//!
//! Combinators, which hold other layers (any layer, or a [`net!`](crate::net!) network):
//!
//! | combinator | computes | parameter names |
//! |---|---|---|
//! | [`Residual<F, A>`](Residual) | `A(F(x) + x)` | `F`'s, as the residual's own |
//! | [`ResidualProj<F, P, A>`](ResidualProj) | `A(F(x) + P(x))` | `F`'s, and `P`'s under `downsample` |
//! | [`Repeat<B, N>`](Repeat) | `B(B(...B(x)))`, `N` blocks | `0.`, `1.`, ... as `nn.Sequential` |

mod avg_pool2d;
mod batch_norm2d;
mod conv2d;
mod dropout;
mod flatten;
mod gelu;
mod global_avg_pool2d;
mod identity;
mod leaky_relu;
mod linear;
mod max_pool2d;
mod relu;
mod repeat;
mod residual;
mod residual_proj;
mod sigmoid;
mod sum;
mod tanh;

pub use avg_pool2d::AvgPool2d;
pub use batch_norm2d::{BatchNorm2d, BatchNorm2dRelu};
pub use conv2d::{Conv2d, Conv2dNoBias};
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use gelu::Gelu;
pub use global_avg_pool2d::GlobalAvgPool2d;
pub use identity::Identity;
pub use leaky_relu::LeakyRelu;
pub use linear::Linear;
pub use max_pool2d::MaxPool2d;
pub use relu::Relu;
pub use repeat::Repeat;
pub use residual::Residual;
pub use residual_proj::ResidualProj;
pub use sigmoid::Sigmoid;
pub use tanh::Tanh;

use crate::Float;
use rayon::prelude::*;

/// Below this many values an element-wise pass runs on one thread: smaller passes lose more to
/// handing work to another thread than they gain (a residual's add and ReLU on 40,960 values,
/// ResNet-20's 8x8x64 at batch 10, ran 0.8x as fast on two threads as on one in blocks of 16,384).
const ELEMENTWISE_MIN: usize = 1 << 16;

/// Values per parallel task of a larger element-wise pass: blocks, not one run per thread, so
/// that a thread the host slows down takes fewer of them.
const ELEMENTWISE_BLOCK: usize = 1 << 14;

/// Values per parallel task of an element-wise pass over `len` values (element-wise, so the
/// split changes no bit).
fn elementwise_chunk(len: usize) -> usize {
    if len < ELEMENTWISE_MIN {
        len.max(1)
    } else {
        ELEMENTWISE_BLOCK
    }
}

/// `output[i] = f(input[i])`, in parallel for large batches.
fn map_forward<T: Float>(input: &[T], output: &mut [T], f: impl Fn(T) -> T + Sync) {
    let chunk = elementwise_chunk(output.len());
    output
        .par_chunks_mut(chunk)
        .zip(input.par_chunks(chunk))
        .for_each(|(y, x)| {
            for (y, &x) in y.iter_mut().zip(x) {
                *y = f(x);
            }
        });
}

/// `grad_input[i] = grad_output[i] * derivative(input[i])`, in parallel for large batches.
fn map_backward<T: Float>(
    input: &[T],
    grad_output: &[T],
    grad_input: Option<&mut [T]>,
    derivative: impl Fn(T) -> T + Sync,
) {
    let Some(grad_input) = grad_input else { return };
    let chunk = elementwise_chunk(grad_input.len());
    grad_input
        .par_chunks_mut(chunk)
        .zip(input.par_chunks(chunk).zip(grad_output.par_chunks(chunk)))
        .for_each(|(dx, (x, dy))| {
            for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                *dx = dy * derivative(x);
            }
        });
}
