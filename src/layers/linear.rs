//! `Linear<IN, OUT>`: `1 x 1 x IN` (any shape of `IN` values) -> `1 x 1 x OUT`.
//!
//! `y = x . W + b` with weight `[IN][OUT]` and bias `[OUT]`. PyTorch equivalent:
//! `nn.Linear(IN, OUT)` (whose weight is laid out `[OUT][IN]`).

use crate::kernels::{self, linear};
use crate::layer::{
    Init, Layer, Mode, Param, ParamMut, fill_normal, visit_weight_and_bias,
    visit_weight_and_bias_mut,
};
use crate::shape::{Misfit, Problem, dims, upstream_failed};
use crate::{Float, Image, Shape};
use rand::rngs::StdRng;

/// A fully connected layer from `IN` features to `OUT`.
///
/// ```
/// use constnet::layers::Linear;
/// let fc = Linear::<1568, 100>::default();
/// assert_eq!(fc.weight.len(), 156_800);
/// ```
#[derive(Debug, Clone)]
pub struct Linear<const IN: usize, const OUT: usize, T: Float = f32> {
    /// `[IN][OUT]`, row-major.
    pub weight: Vec<T>,
    /// `[OUT]`.
    pub bias: Vec<T>,
    /// Gradient of `weight` from the last backward pass.
    pub weight_grad: Vec<T>,
    /// Gradient of `bias` from the last backward pass.
    pub bias_grad: Vec<T>,
    /// The weights as `[OUT][IN]`, rewritten by each backward pass for the input gradient's
    /// inner loop; kept here so that backward does not allocate.
    weight_transposed: Vec<T>,
}

impl<const IN: usize, const OUT: usize, T: Float> Linear<IN, OUT, T> {
    const WEIGHT_SHAPE: &'static [usize] = &[IN, OUT];
    const BIAS_SHAPE: &'static [usize] = &[OUT];
}

impl<const IN: usize, const OUT: usize, T: Float> Default for Linear<IN, OUT, T> {
    fn default() -> Self {
        Linear {
            weight: vec![T::ZERO; IN * OUT],
            bias: vec![T::ZERO; OUT],
            weight_grad: vec![T::ZERO; IN * OUT],
            bias_grad: vec![T::ZERO; OUT],
            weight_transposed: vec![T::ZERO; IN * OUT],
        }
    }
}

impl<In: Shape, T: Float, const IN: usize, const OUT: usize> Layer<In, T> for Linear<IN, OUT, T> {
    type Out = Image<1, 1, OUT>;
    const KIND: &'static str = "Linear";
    const ARGS: &'static [usize] = &[IN, OUT];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() || In::LEN == IN {
        if OUT == 0 {
            Err(Misfit::new(
                "Linear",
                &[IN, OUT],
                dims::<In>(),
                Problem::ZeroSize {
                    what: "output feature count",
                },
            ))
        } else {
            Ok(())
        }
    } else {
        Err(Misfit::new(
            "Linear",
            &[IN, OUT],
            dims::<In>(),
            Problem::Features { expected: IN },
        ))
    };

    fn init(&mut self, init: Init, rng: &mut StdRng) {
        fill_normal(&mut self.weight, init.std(IN), rng);
        self.bias.fill(T::ZERO);
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, _mode: Mode) {
        linear::forward_batch::<T, IN, OUT>(batch, input, &self.weight, &self.bias, output);
    }

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, _scratch: &mut [T]) {
        linear::forward_batch::<T, IN, OUT>(batch, input, &self.weight, &self.bias, output);
    }

    fn backward(
        &mut self,
        input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        let bias_grad = &mut self.bias_grad;
        kernels::run(
            #[inline(always)]
            || linear::bias_grad::<T, OUT>(grad_output, bias_grad),
        );
        // Row i of the weight gradient is sum over samples of x[i] * dy: rows are independent,
        // and each sums over the batch in order (the same result for any thread count).
        linear::weight_grad_batch::<T, IN, OUT>(input, grad_output, &mut self.weight_grad);
        if let Some(grad_input) = grad_input {
            linear::transpose_batch::<T, IN, OUT>(&self.weight, &mut self.weight_transposed);
            linear::input_grad_batch::<T, IN, OUT>(
                batch,
                grad_output,
                &self.weight_transposed,
                grad_input,
            );
        }
    }

    fn params<'a>(&'a self, f: &mut dyn FnMut(Param<'a, T>)) {
        visit_weight_and_bias(
            f,
            [Self::WEIGHT_SHAPE, Self::BIAS_SHAPE],
            [&self.weight, &self.weight_grad, &self.bias, &self.bias_grad],
        );
    }

    fn params_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, T>)) {
        visit_weight_and_bias_mut(
            f,
            [Self::WEIGHT_SHAPE, Self::BIAS_SHAPE],
            [
                &mut self.weight,
                &mut self.weight_grad,
                &mut self.bias,
                &mut self.bias_grad,
            ],
        );
    }
}

impl<const IN: usize, const OUT: usize, T: Float, U: Float> crate::layer::WithFloat<U>
    for Linear<IN, OUT, T>
{
    type Layer = Linear<IN, OUT, U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::check_layer;

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<1, 1, 7>, Linear<7, 3, f64>>(4, 1);
        // A Linear accepts any shape with IN values (an implicit flatten).
        check_layer::<Image<2, 3, 2>, Linear<12, 5, f64>>(3, 2);
    }

    #[test]
    fn fit_counts_all_input_values() {
        let misfit = <Linear<1567, 100> as Layer<Image<7, 7, 32>, f32>>::FIT.unwrap_err();
        assert_eq!(misfit.problem, Problem::Features { expected: 1567 });
        assert!(<Linear<1568, 100> as Layer<Image<7, 7, 32>, f32>>::FIT.is_ok());
    }
}
