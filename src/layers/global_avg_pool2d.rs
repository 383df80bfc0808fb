//! `GlobalAvgPool2d`: `H x W x C` -> `1 x 1 x C`, the mean of each channel over the whole map.
//!
//! The usual head of a residual network, before its `Linear` classifier (through `Flatten`, or
//! directly: a `1 x 1 x C` sample is `C` features). Backward spreads each channel's gradient,
//! divided by `H * W`, evenly over the map. PyTorch equivalent: `nn.AdaptiveAvgPool2d(1)`
//! (followed by `torch.flatten(x, 1)`, which is the identity on constnet's `1 x 1 x C`).

use crate::kernels::avg_pool;
use crate::layer::{Layer, Mode};
use crate::shape::{GlobalPoolOut, Misfit};
use crate::{Float, Shape};
use std::marker::PhantomData;

/// Average pooling of each channel over all `H x W` positions.
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalAvgPool2d<T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float> Layer<In, T> for GlobalAvgPool2d<T> {
    type Out = GlobalPoolOut<In>;
    const KIND: &'static str = "GlobalAvgPool2d";
    const ARGS: &'static [usize] = &[];
    /// Any map fits: there is no window to be too large. (A map with a 0 in it is the network
    /// input's error, or an upstream layer's, and gives an empty output.)
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, _mode: Mode) {
        avg_pool::global_forward_batch(In::H * In::W, In::C, batch, input, output);
    }

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, _scratch: &mut [T]) {
        avg_pool::global_forward_batch(In::H * In::W, In::C, batch, input, output);
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
        avg_pool::global_backward_batch(In::H * In::W, In::C, batch, grad_output, grad_input);
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for GlobalAvgPool2d<T> {
    type Layer = GlobalAvgPool2d<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;
    use crate::shape::dims;

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<4, 4, 3>, GlobalAvgPool2d<f64>>(3, 1);
        check_layer::<Image<3, 5, 17>, GlobalAvgPool2d<f64>>(2, 2);
        check_layer::<Image<1, 1, 4>, GlobalAvgPool2d<f64>>(2, 3);
    }

    #[test]
    fn output_is_one_value_per_channel() {
        type Out = <GlobalAvgPool2d as Layer<Image<8, 6, 64>, f32>>::Out;
        assert_eq!(dims::<Out>(), [1, 1, 64]);
    }

    /// A 2x3 map of 2 channels, two samples, in f32 and f64.
    #[test]
    fn matches_hand_computed_values() {
        fn check<T: Float>() {
            type In = Image<2, 3, 2>;
            let v = |v: &[f64]| v.iter().map(|&v| T::from_f64(v)).collect::<Vec<T>>();
            // Sample 0: channel 0 is 1..6, channel 1 is 10, 20, ..., 60.
            // Sample 1: channel 0 is all -3, channel 1 is 0, 0, 0, 0, 0, 12.
            #[rustfmt::skip]
            let x = v(&[
                1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0, 5.0, 50.0, 6.0, 60.0,
                -3.0, 0.0, -3.0, 0.0, -3.0, 0.0, -3.0, 0.0, -3.0, 0.0, -3.0, 12.0,
            ]);
            let mut pool = GlobalAvgPool2d::<T>::default();
            let mut y = vec![T::ZERO; 4];
            <GlobalAvgPool2d<T> as Layer<In, T>>::forward(&mut pool, &x, &mut y, 2, Mode::Eval);
            assert_eq!(y, v(&[3.5, 35.0, -3.0, 2.0]));

            let dy = v(&[6.0, -12.0, 3.0, 0.0]);
            let mut dx = vec![T::from_f64(7.0); x.len()];
            <GlobalAvgPool2d<T> as Layer<In, T>>::backward(
                &mut pool,
                &x,
                &y,
                &dy,
                Some(&mut dx),
                2,
            );
            let mut want = [1.0, -2.0].repeat(6);
            want.extend([0.5, 0.0].repeat(6));
            assert_eq!(dx, v(&want));
        }
        check::<f32>();
        check::<f64>();
    }
}
