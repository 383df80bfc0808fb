//! `AvgPool2d<K, S>`: `H x W x C` -> `((H - K) / S + 1) x ((W - K) / S + 1) x C`.
//!
//! The mean of each `K x K` window, per channel, with stride `S` and no padding. Windows may
//! overlap (`K > S`), so backward accumulates; each window pixel gets the output's gradient
//! divided by `K * K`. PyTorch equivalent: `nn.AvgPool2d(K, S)`.

use crate::kernels::{PoolDims, avg_pool};
use crate::layer::{Layer, Mode};
use crate::shape::{Misfit, PoolOut, check_window, upstream_failed};
use crate::{Float, Shape};
use std::marker::PhantomData;

/// Average pooling over `K x K` windows with stride `S`, per channel.
#[derive(Debug, Clone, Copy, Default)]
pub struct AvgPool2d<const K: usize, const S: usize, T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float, const K: usize, const S: usize> Layer<In, T> for AvgPool2d<K, S, T> {
    type Out = PoolOut<In, K, S>;
    const KIND: &'static str = "AvgPool2d";
    const ARGS: &'static [usize] = &[K, S];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else {
        check_window::<In>("AvgPool2d", &[K, S], K, S, 0)
    };

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, _mode: Mode) {
        avg_pool::forward_batch(Self::dims::<In>(), batch, input, output);
    }

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, _scratch: &mut [T]) {
        avg_pool::forward_batch(Self::dims::<In>(), batch, input, output);
    }

    fn backward(
        &mut self,
        _input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        let Some(grad_input) = grad_input else { return };
        avg_pool::backward_batch(Self::dims::<In>(), batch, grad_output, grad_input);
    }
}

impl<const K: usize, const S: usize, T: Float> AvgPool2d<K, S, T> {
    /// The run-time sizes of this pooling on input shape `In`.
    fn dims<In: Shape>() -> PoolDims {
        PoolDims {
            h: In::H,
            w: In::W,
            c: In::C,
            oh: <Self as Layer<In, T>>::Out::H,
            ow: <Self as Layer<In, T>>::Out::W,
            pool: K,
            s: S,
        }
    }
}

impl<const K: usize, const S: usize, T: Float, U: Float> crate::layer::WithFloat<U>
    for AvgPool2d<K, S, T>
{
    type Layer = AvgPool2d<K, S, U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;
    use crate::shape::Problem;

    /// Forward and backward of one sample of shape `In` in element type `T`.
    fn run<In: Shape, const K: usize, const S: usize, T: Float>(
        x: &[T],
        dy: &[T],
    ) -> (Vec<T>, Vec<T>) {
        let mut pool = AvgPool2d::<K, S, T>::default();
        let mut y = vec![T::ZERO; dy.len()];
        <AvgPool2d<K, S, T> as Layer<In, T>>::forward(&mut pool, x, &mut y, 1, Mode::Train);
        let mut dx = vec![T::ZERO; x.len()];
        <AvgPool2d<K, S, T> as Layer<In, T>>::backward(&mut pool, x, &y, dy, Some(&mut dx), 1);
        (y, dx)
    }

    fn values<T: Float>(v: &[f64]) -> Vec<T> {
        v.iter().map(|&v| T::from_f64(v)).collect()
    }

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<8, 8, 3>, AvgPool2d<4, 2, f64>>(3, 1);
        check_layer::<Image<7, 7, 2>, AvgPool2d<3, 2, f64>>(2, 2);
        check_layer::<Image<6, 6, 4>, AvgPool2d<2, 2, f64>>(2, 3);
        check_layer::<Image<7, 5, 1>, AvgPool2d<2, 3, f64>>(2, 4);
        check_layer::<Image<5, 5, 17>, AvgPool2d<5, 1, f64>>(2, 5);
    }

    /// 1..16 in a 4x4 map: disjoint 2x2 windows, and overlapping 3x3 windows with stride 1
    /// (whose gradients add up where the windows overlap), in f32 and f64.
    #[test]
    fn matches_hand_computed_values() {
        fn check<T: Float>() {
            let x: Vec<T> = values(&(1..=16).map(f64::from).collect::<Vec<_>>());

            // Windows [1 2 5 6], [3 4 7 8], [9 10 13 14], [11 12 15 16].
            let (y, dx) = run::<Image<4, 4, 1>, 2, 2, T>(&x, &values(&[4.0, 8.0, -4.0, 2.0]));
            assert_eq!(y, values::<T>(&[3.5, 5.5, 11.5, 13.5]));
            #[rustfmt::skip]
            let want = [
                1.0, 1.0, 2.0, 2.0,
                1.0, 1.0, 2.0, 2.0,
                -1.0, -1.0, 0.5, 0.5,
                -1.0, -1.0, 0.5, 0.5,
            ];
            assert_eq!(dx, values::<T>(&want));

            // (1+2+3+5+6+7+9+10+11) / 9 = 6, and so on; each window passes dy / 9 = 1, 2, 3, 4.
            let (y, dx) = run::<Image<4, 4, 1>, 3, 1, T>(&x, &values(&[9.0, 18.0, 27.0, 36.0]));
            assert_eq!(y, values::<T>(&[6.0, 7.0, 10.0, 11.0]));
            #[rustfmt::skip]
            let want = [
                1.0, 3.0, 3.0, 2.0,
                4.0, 10.0, 10.0, 6.0,
                4.0, 10.0, 10.0, 6.0,
                3.0, 7.0, 7.0, 4.0,
            ];
            assert_eq!(dx, values::<T>(&want));

            // Channels are pooled separately: 2x2x2 with channel 1 ten times channel 0.
            let x = values(&[1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]);
            let (y, dx) = run::<Image<2, 2, 2>, 2, 2, T>(&x, &values(&[4.0, -8.0]));
            assert_eq!(y, values::<T>(&[2.5, 25.0]));
            assert_eq!(
                dx,
                values::<T>(&[1.0, -2.0, 1.0, -2.0, 1.0, -2.0, 1.0, -2.0])
            );
        }
        check::<f32>();
        check::<f64>();
    }

    /// A stride larger than the window skips pixels, whose gradient is 0.
    #[test]
    fn skipped_pixels_get_no_gradient() {
        let x: Vec<f32> = (0..5).map(|v| v as f32).collect();
        let (y, dx) = run::<Image<1, 5, 1>, 1, 3, f32>(&x, &[1.0, 2.0]);
        assert_eq!(y, [0.0, 3.0]);
        assert_eq!(dx, [1.0, 0.0, 0.0, 2.0, 0.0]);
    }

    #[test]
    fn fit_check_reports_each_problem() {
        fn fit<In: Shape, const K: usize, const S: usize>() -> Result<(), Problem> {
            <AvgPool2d<K, S> as Layer<In, f32>>::FIT.map_err(|m| m.problem)
        }
        assert_eq!(fit::<Image<4, 4, 8>, 4, 2>(), Ok(()));
        assert_eq!(
            fit::<Image<3, 5, 8>, 4, 2>(),
            Err(Problem::WindowTooLarge {
                window: 4,
                padding: 0
            })
        );
        assert_eq!(fit::<Image<4, 4, 8>, 2, 0>(), Err(Problem::ZeroStride));
        assert_eq!(
            fit::<Image<4, 4, 8>, 0, 1>(),
            Err(Problem::ZeroSize {
                what: "window size"
            })
        );
        // An empty input means an upstream layer already failed: no second error.
        assert_eq!(fit::<PoolOut<Image<3, 3, 8>, 4, 2>, 2, 2>(), Ok(()));
        let message = <AvgPool2d<4, 2> as Layer<Image<3, 3, 8>, f32>>::FIT
            .expect_err("a 4x4 window on 3x3")
            .within("pool")
            .report();
        assert_eq!(
            message.to_str(),
            "layer `pool`: AvgPool2d<4, 2> has a 4x4 window, larger than its input 3x3 with \
             padding 0 (3x3)"
        );
    }
}
