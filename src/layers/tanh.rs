//! `Tanh`: any shape -> the same shape, `tanh(x)` element-wise.
//!
//! Backward uses the output, as PyTorch: `dy * (1 - y^2)`, finite for every input (0 where
//! `tanh` is exactly ±1), exact to about an ulp of 1. PyTorch equivalent: `nn.Tanh()`.

use super::{map_backward, map_forward};
use crate::layer::{Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};
use std::marker::PhantomData;

/// The hyperbolic tangent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tanh<T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float> Layer<In, T> for Tanh<T> {
    type Out = In;
    const KIND: &'static str = "Tanh";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        // The library `tanh` (correctly rounded to within an ulp, saturating to ±1, NaN in
        // NaN out), in f32 and f64 alike.
        map_forward(input, output, T::tanh);
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        map_forward(input, output, T::tanh);
    }

    fn backward(
        &mut self,
        _input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        // The derivative from the output, as PyTorch: no second `tanh`.
        map_backward(output, grad_output, grad_input, |y| T::ONE - y * y);
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Tanh<T> {
    type Layer = Tanh<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::{check_layer, numerical_gradient, rel_error};

    /// Forward, then backward with an upstream gradient of 1, of one sample.
    fn run<T: Float>(x: &[T]) -> (Vec<T>, Vec<T>) {
        let mut y = vec![T::ZERO; x.len()];
        let mut dx = vec![T::ZERO; x.len()];
        let ones = vec![T::ONE; x.len()];
        let mut layer = Tanh::<T>::default();
        // The element-wise loops do not depend on the shape; 1x1x1 names one.
        <Tanh<T> as Layer<Image<1, 1, 1>, T>>::forward(&mut layer, x, &mut y, 1, Mode::Train);
        <Tanh<T> as Layer<Image<1, 1, 1>, T>>::backward(&mut layer, x, &y, &ones, Some(&mut dx), 1);
        (y, dx)
    }

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<3, 2, 5>, Tanh<f64>>(3, 1);
        check_layer::<Image<1, 1, 7>, Tanh<f64>>(4, 2);
    }

    #[test]
    fn matches_known_values() {
        let (y, dx) = run(&[0.0_f64, 0.5, -1.0, 20.0, -1000.0]);
        assert_eq!((y[0], dx[0]), (0.0, 1.0));
        // tanh(0.5) = 0.46211715726000974, 1 - tanh(0.5)^2 = 0.7864477329659274.
        assert!((y[1] - 0.462_117_157_260_009_74).abs() < 1e-15);
        assert!((dx[1] - 0.786_447_732_965_927_4).abs() < 1e-15);
        assert!((y[2] + 0.761_594_155_955_764_9).abs() < 1e-15);
        assert!((dx[2] - 0.419_974_341_614_026_1).abs() < 1e-15);
        // Saturated: exactly ±1, with a zero (not NaN) derivative.
        assert_eq!(&y[3..], [1.0, -1.0]);
        assert_eq!(&dx[3..], [0.0, 0.0]);

        let (y, dx) = run(&[0.0_f32, 0.5, -1.0, f32::MAX, -f32::MAX]);
        assert_eq!((y[0], dx[0]), (0.0, 1.0));
        assert!((y[1] - 0.462_117_15).abs() < 1e-7);
        assert!((dx[1] - 0.786_447_7).abs() < 1e-6);
        assert!((y[2] + 0.761_594_2).abs() < 1e-7);
        assert_eq!(&y[3..], [1.0, -1.0]);
        assert_eq!(&dx[3..], [0.0, 0.0]);
    }

    /// Against central differences where those are accurate, and against the closed form
    /// `1 / cosh(x)^2` everywhere (to about an ulp of 1: the derivative comes from the output).
    #[test]
    fn derivative_matches_numerical_and_closed_forms() {
        let xs = [-4.0, -3.0, -0.2, 0.0, 1.5, 3.0, 4.0];
        let (_, dx) = run(&xs);
        for (&x, &analytic) in xs.iter().zip(&dx) {
            let numeric = numerical_gradient(&mut [x], |v| v[0].tanh(), 1e-5)[0];
            assert!(
                rel_error(&[analytic], &[numeric]) < 1e-7,
                "x = {x}: {analytic} vs {numeric}"
            );
        }
        let xs: Vec<f64> = (-400..=400).map(|i| f64::from(i) * 0.1).collect();
        let (_, dx) = run(&xs);
        for (&x, &analytic) in xs.iter().zip(&dx) {
            let exact = 1.0 / (x.cosh() * x.cosh());
            assert!(
                (analytic - exact).abs() < 1e-15,
                "x = {x}: {analytic} vs {exact}"
            );
        }
    }

    #[test]
    fn nan_passes_through() {
        let (y, _) = run(&[f64::NAN]);
        assert!(y[0].is_nan());
    }
}
