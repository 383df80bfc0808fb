//! `MaxPool2d<POOL, S>`: `H x W x C` -> `((H - POOL) / S + 1) x ((W - POOL) / S + 1) x C`.
//!
//! No padding. Windows may overlap (`POOL > S`), so backward accumulates; on ties the gradient
//! goes to the first maximum in row-major window order. PyTorch equivalent:
//! `nn.MaxPool2d(POOL, S)`.

use crate::kernels::{PoolDims, pool};
use crate::layer::{Layer, Mode};
use crate::shape::{Misfit, PoolOut, check_window, upstream_failed};
use crate::{Float, Shape};
use std::marker::PhantomData;

/// Max pooling over `POOL x POOL` windows with stride `S`, per channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaxPool2d<const POOL: usize, const S: usize, T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float, const POOL: usize, const S: usize> Layer<In, T>
    for MaxPool2d<POOL, S, T>
{
    type Out = PoolOut<In, POOL, S>;
    const KIND: &'static str = "MaxPool2d";
    const ARGS: &'static [usize] = &[POOL, S];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else {
        check_window::<In>("MaxPool2d", &[POOL, S], POOL, S, 0)
    };

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, _mode: Mode) {
        pool::forward_batch(Self::dims::<In>(), batch, input, output);
    }

    fn backward(
        &mut self,
        input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        let Some(grad_input) = grad_input else { return };
        pool::backward_batch(Self::dims::<In>(), batch, input, grad_output, grad_input);
    }
}

impl<const POOL: usize, const S: usize, T: Float> MaxPool2d<POOL, S, T> {
    /// The run-time sizes of this pooling on input shape `In`.
    fn dims<In: Shape>() -> PoolDims {
        PoolDims {
            h: In::H,
            w: In::W,
            c: In::C,
            oh: <Self as Layer<In, T>>::Out::H,
            ow: <Self as Layer<In, T>>::Out::W,
            pool: POOL,
            s: S,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<8, 8, 3>, MaxPool2d<4, 2, f64>>(3, 1);
        check_layer::<Image<7, 7, 2>, MaxPool2d<3, 2, f64>>(2, 2);
        check_layer::<Image<6, 6, 4>, MaxPool2d<2, 2, f64>>(2, 3);
        check_layer::<Image<7, 5, 1>, MaxPool2d<2, 3, f64>>(2, 4);
    }

    #[test]
    fn ties_send_the_gradient_to_the_first_maximum() {
        let mut pool = MaxPool2d::<2, 2, f64>::default();
        let x = [1.0, 1.0, 1.0, 1.0];
        let mut y = [0.0];
        <MaxPool2d<2, 2, f64> as Layer<Image<2, 2, 1>, f64>>::forward(
            &mut pool,
            &x,
            &mut y,
            1,
            Mode::Train,
        );
        let mut dx = [0.0; 4];
        <MaxPool2d<2, 2, f64> as Layer<Image<2, 2, 1>, f64>>::backward(
            &mut pool,
            &x,
            &y,
            &[5.0],
            Some(&mut dx),
            1,
        );
        assert_eq!(dx, [5.0, 0.0, 0.0, 0.0]);
    }
}
