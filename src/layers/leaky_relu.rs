//! `LeakyRelu`: any shape -> the same shape, `x` for `x > 0`, else `slope * x`.
//!
//! PyTorch equivalent: `nn.LeakyReLU(negative_slope=0.01)`. The slope is given where the layer
//! is declared, `act: LeakyRelu = LeakyRelu::new(0.2)` (const generics cannot be floats).

use super::{map_backward, map_forward};
use crate::layer::{Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};

/// The leaky rectified linear unit, with the slope for negative inputs 0.01 by default (as
/// PyTorch) or given by [`LeakyRelu::new`] in the declaration.
#[derive(Debug, Clone, Copy)]
pub struct LeakyRelu<T: Float = f32> {
    slope: T,
}

impl<T: Float> LeakyRelu<T> {
    /// A leaky ReLU with `slope` for negative inputs.
    pub fn new(slope: f64) -> Self {
        LeakyRelu {
            slope: T::from_f64(slope),
        }
    }

    /// The slope for negative inputs.
    pub fn slope(&self) -> T {
        self.slope
    }
}

impl<T: Float> Default for LeakyRelu<T> {
    fn default() -> Self {
        LeakyRelu {
            slope: T::from_f64(0.01),
        }
    }
}

impl<In: Shape, T: Float> Layer<In, T> for LeakyRelu<T> {
    type Out = In;
    const KIND: &'static str = "LeakyRelu";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn signature(&self) -> String {
        format!("LeakyRelu(slope = {})", self.slope.to_f64())
    }

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        let slope = self.slope;
        map_forward(input, output, |x| if x > T::ZERO { x } else { slope * x });
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        let slope = self.slope;
        map_forward(input, output, |x| if x > T::ZERO { x } else { slope * x });
    }

    fn backward(
        &mut self,
        input: &[T],
        _: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        let slope = self.slope;
        map_backward(input, grad_output, grad_input, |x| {
            if x > T::ZERO { T::ONE } else { slope }
        });
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for LeakyRelu<T> {
    type Layer = LeakyRelu<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<2, 3, 4>, LeakyRelu<f64>>(3, 1);
    }

    #[test]
    fn negative_inputs_are_scaled() {
        let mut y = [0.0; 2];
        <LeakyRelu<f64> as Layer<Image<1, 1, 2>, f64>>::forward(
            &mut LeakyRelu::default(),
            &[-2.0, 3.0],
            &mut y,
            1,
            Mode::Eval,
        );
        assert_eq!(y, [-0.02, 3.0]);
    }
}
