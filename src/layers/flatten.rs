//! `Flatten`: `H x W x C` -> `1 x 1 x (H * W * C)`, index `(h * W + w) * C + c`.
//!
//! Row-major over (H, W, C), so the values do not move. PyTorch equivalent: `nn.Flatten()` on an
//! NHWC tensor (PyTorch's own NCHW order differs: its index is `(c * H + h) * W + w`).

use crate::layer::{Layer, Mode};
use crate::shape::{Flat, Misfit};
use crate::{Float, Shape};
use std::marker::PhantomData;

/// Flattens each sample into a vector of features.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten<T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float> Layer<In, T> for Flatten<T> {
    type Out = Flat<In>;
    const KIND: &'static str = "Flatten";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        output.copy_from_slice(input);
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        output.copy_from_slice(input);
    }

    fn backward(
        &mut self,
        _: &[T],
        _: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        if let Some(grad_input) = grad_input {
            grad_input.copy_from_slice(grad_output);
        }
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Flatten<T> {
    type Layer = Flatten<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    #[test]
    fn keeps_row_major_hwc_order() {
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let mut y = vec![0.0; 12];
        <Flatten<f64> as Layer<Image<2, 2, 3>, f64>>::forward(
            &mut Flatten::default(),
            &x,
            &mut y,
            1,
            Mode::Eval,
        );
        // (h=1, w=0, c=2) is at (1 * 2 + 0) * 3 + 2 = 8.
        assert_eq!(y[8], 8.0);
        check_layer::<Image<2, 3, 2>, Flatten<f64>>(2, 1);
    }
}
