//! `MaxPool2d<POOL, S>`: `H x W x C` -> `((H - POOL) / S + 1) x ((W - POOL) / S + 1) x C`.
//!
//! No padding. Windows may overlap (`POOL > S`), so backward accumulates; on ties the gradient
//! goes to the first maximum in row-major window order. A window holding a NaN gives NaN, and
//! its gradient goes to the (last) NaN, as in PyTorch. PyTorch equivalent:
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

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, _scratch: &mut [T]) {
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

impl<const POOL: usize, const S: usize, T: Float, U: Float> crate::layer::WithFloat<U>
    for MaxPool2d<POOL, S, T>
{
    type Layer = MaxPool2d<POOL, S, U>;
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

    /// As PyTorch: a NaN anywhere in the window is the output, and takes the gradient (the
    /// last NaN if there are several); windows without NaN are unaffected. 16 channels take the
    /// vectorised path, 1 channel the scalar one.
    #[test]
    fn a_nan_in_the_window_propagates() {
        fn run<const C: usize>(x: &[f32]) -> (Vec<f32>, Vec<f32>) {
            type Pool = MaxPool2d<2, 2, f32>;
            let mut pool = Pool::default();
            let mut y = vec![0.0; 2 * C];
            <Pool as Layer<Image<2, 4, C>, f32>>::forward(&mut pool, x, &mut y, 1, Mode::Train);
            let mut dx = vec![0.0; x.len()];
            let dy = vec![5.0; 2 * C];
            <Pool as Layer<Image<2, 4, C>, f32>>::backward(&mut pool, x, &y, &dy, Some(&mut dx), 1);
            (y, dx)
        }
        // One channel, rows [1, NaN, 7, 2] and [3, NaN, 4, 9]: the first window holds two NaNs.
        let nan = f32::NAN;
        let x = [1.0, nan, 7.0, 2.0, 3.0, nan, 4.0, 9.0];
        for (y, dx) in [run::<1>(&x), {
            // The same values in each of 16 channels.
            let wide: Vec<f32> = x.iter().flat_map(|&v| [v; 16]).collect();
            let (y, dx) = run::<16>(&wide);
            (
                y.iter().step_by(16).copied().collect(),
                dx.iter().step_by(16).copied().collect(),
            )
        }] {
            assert!(y[0].is_nan());
            assert_eq!(y[1], 9.0);
            assert_eq!(dx, [0.0, 0.0, 0.0, 0.0, 0.0, 5.0, 0.0, 5.0]);
        }
    }
}
