//! `Sigmoid`: any shape -> the same shape, `1 / (1 + e^-x)` element-wise.
//!
//! Computed from `e^-|x|`, which never overflows: `1 / (1 + e^-x)` for `x >= 0` and
//! `e^x / (1 + e^x)` for `x < 0`, so large positive inputs give exactly 1, large negative ones
//! values with full relative precision down to 0, never NaN (except from a NaN input, which
//! passes through). Backward uses the output, as PyTorch: `dy * y (1 - y)`, exact to about an
//! ulp of 1 (so for large positive `x` the tiny derivative is right in absolute terms only).
//! PyTorch equivalent: `nn.Sigmoid()`.

use super::{map_backward, map_forward};
use crate::layer::{Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};
use std::marker::PhantomData;

/// The logistic sigmoid.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sigmoid<T: Float = f32>(PhantomData<T>);

/// The sigmoid of one value, without overflow for any input.
#[inline(always)]
pub(crate) fn sigmoid<T: Float>(x: T) -> T {
    let e = (-x.abs()).exp(); // in (0, 1]: 1 + e cannot overflow
    if x >= T::ZERO {
        T::ONE / (T::ONE + e)
    } else {
        e / (T::ONE + e)
    }
}

impl<In: Shape, T: Float> Layer<In, T> for Sigmoid<T> {
    type Out = In;
    const KIND: &'static str = "Sigmoid";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        map_forward(input, output, sigmoid);
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        map_forward(input, output, sigmoid);
    }

    fn backward(
        &mut self,
        _input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        // The derivative from the output, as PyTorch: no second `exp`.
        map_backward(output, grad_output, grad_input, |y| y * (T::ONE - y));
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Sigmoid<T> {
    type Layer = Sigmoid<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::{check_layer, numerical_gradient, rel_error};

    /// Forward, then backward with an upstream gradient of 1, of one sample.
    fn run<T: Float>(x: &[T]) -> (Vec<T>, Vec<T>) {
        type L<T> = Sigmoid<T>;
        let mut y = vec![T::ZERO; x.len()];
        let mut dx = vec![T::ZERO; x.len()];
        let ones = vec![T::ONE; x.len()];
        // The shape's length is not checked by the element-wise loops; one sample of 1x1x1
        // is enough to name a shape.
        <L<T> as Layer<Image<1, 1, 1>, T>>::forward(&mut L::default(), x, &mut y, 1, Mode::Train);
        <L<T> as Layer<Image<1, 1, 1>, T>>::backward(
            &mut L::default(),
            x,
            &y,
            &ones,
            Some(&mut dx),
            1,
        );
        (y, dx)
    }

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<3, 2, 5>, Sigmoid<f64>>(3, 1);
        check_layer::<Image<1, 1, 7>, Sigmoid<f64>>(4, 2);
    }

    #[test]
    fn matches_known_values() {
        let (y, dx) = run(&[0.0_f64, 2.0, -2.0, 1000.0, -1000.0, -100.0]);
        assert_eq!(y[0], 0.5);
        assert_eq!(dx[0], 0.25);
        // 1 / (1 + e^-2) = 0.8807970779778823; sigma' = sigma (1 - sigma) = 0.1049935854035065.
        assert!((y[1] - 0.880_797_077_977_882_3).abs() < 1e-15);
        assert!((y[2] - 0.119_202_922_022_117_57).abs() < 1e-15);
        assert!((dx[1] - 0.104_993_585_403_506_62).abs() < 1e-15);
        assert!((dx[2] - 0.104_993_585_403_506_62).abs() < 1e-15);
        // Saturated: exactly 1 and 0, with a zero (not NaN) derivative.
        assert_eq!(&y[3..5], [1.0, 0.0]);
        assert_eq!(&dx[3..5], [0.0, 0.0]);
        // Small outputs keep their relative precision: sigma(-100) = e^-100 / (1 + e^-100).
        assert!(rel_error(&[y[5]], &[3.720_075_976_020_836e-44]) < 1e-14);

        let (y, dx) = run(&[0.0_f32, 2.0, -2.0, 1000.0, -1000.0, f32::MAX, -f32::MAX]);
        assert_eq!((y[0], dx[0]), (0.5, 0.25));
        assert!((y[1] - 0.880_797_1).abs() < 1e-7);
        assert!((y[2] - 0.119_202_92).abs() < 1e-7);
        assert_eq!(&y[3..], [1.0, 0.0, 1.0, 0.0]);
        assert_eq!(&dx[3..], [0.0; 4]);
    }

    /// Against central differences where those are accurate, and against the closed form
    /// `e^-|x| / (1 + e^-|x|)^2` everywhere: from the output, the derivative is exact to about
    /// an ulp of 1 in absolute terms (as PyTorch's), so tiny derivatives at large positive
    /// inputs are right in absolute, not relative, terms.
    #[test]
    fn derivative_matches_numerical_and_closed_forms() {
        let xs = [-30.0, -12.0, -5.0, -0.7, 0.3, 2.0, 5.0];
        let (_, dx) = run(&xs);
        for (&x, &analytic) in xs.iter().zip(&dx) {
            let numeric = numerical_gradient(&mut [x], |v| sigmoid(v[0]), 1e-5)[0];
            assert!(
                rel_error(&[analytic], &[numeric]) < 1e-7,
                "x = {x}: {analytic} vs {numeric}"
            );
        }
        let xs: Vec<f64> = (-400..=400).map(|i| f64::from(i) * 0.1).collect();
        let (_, dx) = run(&xs);
        for (&x, &analytic) in xs.iter().zip(&dx) {
            let e = (-x.abs()).exp();
            let exact = e / ((1.0 + e) * (1.0 + e));
            assert!(
                (analytic - exact).abs() < 1e-15,
                "x = {x}: {analytic} vs {exact}"
            );
        }
    }

    #[test]
    fn nan_passes_through() {
        let (y, _) = run(&[f64::NAN, 1.0]);
        assert!(y[0].is_nan());
        assert!((y[1] - 0.731_058_578_630_004_9).abs() < 1e-15);
    }
}
