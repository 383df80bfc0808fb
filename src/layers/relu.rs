//! `Relu`: any shape -> the same shape, `max(0, x)` element-wise.
//!
//! PyTorch equivalent: `nn.ReLU()`. The derivative at 0 is taken as 0.

use super::{map_backward, map_forward};
use crate::layer::{Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};
use std::marker::PhantomData;

/// The rectified linear unit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Relu<T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float> Layer<In, T> for Relu<T> {
    type Out = In;
    const KIND: &'static str = "Relu";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        // `x < 0` (not `x > 0`) so that a NaN passes through, as in PyTorch, and is noticed.
        map_forward(input, output, |x| if x < T::ZERO { T::ZERO } else { x });
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        map_forward(input, output, |x| if x < T::ZERO { T::ZERO } else { x });
    }

    fn backward(
        &mut self,
        input: &[T],
        _: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        map_backward(input, grad_output, grad_input, |x| {
            if x > T::ZERO { T::ONE } else { T::ZERO }
        });
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Relu<T> {
    type Layer = Relu<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<3, 3, 4>, Relu<f64>>(3, 1);
    }

    #[test]
    fn nan_passes_through() {
        let mut y = [0.0; 3];
        <Relu<f64> as Layer<Image<1, 1, 3>, f64>>::forward(
            &mut Relu::default(),
            &[f64::NAN, -1.0, 2.0],
            &mut y,
            1,
            Mode::Eval,
        );
        assert!(y[0].is_nan());
        assert_eq!(&y[1..], [0.0, 2.0]);
    }
}
