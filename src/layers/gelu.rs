//! `Gelu`: any shape -> the same shape, `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
//!
//! The tanh approximation, as the notebook. PyTorch equivalent: `nn.GELU(approximate="tanh")`.
//! The derivative is finite for every finite input (the notebook's overflowed in `cosh`).

use super::{map_backward, map_forward};
use crate::kernels;
use crate::layer::{Layer, Mode};
use crate::network::resize_fresh;
use crate::shape::Misfit;
use crate::{Float, Shape};

/// The Gaussian error linear unit, tanh approximation.
///
/// In training mode (`f32`) the forward pass also keeps each value's derivative, which the
/// backward pass multiplies by the output gradient instead of evaluating `tanh` again.
#[derive(Clone, Default)]
pub struct Gelu<T: Float = f32> {
    /// The derivative at each input of the last training-mode forward pass (`f32` only).
    derivative: Vec<T>,
    /// Whether `derivative` belongs to the last forward pass (an evaluation-mode pass does not
    /// fill it).
    derivative_is_current: bool,
}

impl<T: Float> std::fmt::Debug for Gelu<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The derivative buffer is a cache, not state worth printing.
        f.write_str("Gelu")
    }
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const CUBIC: f64 = 0.044_715;
/// Beyond this |x|, tanh of the argument is exactly ±1 in f32 and f64, so GELU is exactly x or 0
/// and its derivative exactly 1 or 0; cutting off here also keeps x^3 from overflowing.
const SATURATION: f64 = 20.0;

/// GELU of one value.
#[inline(always)]
pub(crate) fn gelu<T: Float>(x: T) -> T {
    let saturation = T::from_f64(SATURATION);
    if x > saturation {
        x
    } else if x < -saturation {
        T::ZERO
    } else {
        let u = T::from_f64(SQRT_2_OVER_PI) * (x + T::from_f64(CUBIC) * x * x * x);
        T::from_f64(0.5) * x * (T::ONE + u.tanh())
    }
}

/// The derivative of GELU at `x`: `0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)`
/// with `t = tanh(u)`. Using `1 - t^2` instead of `1 / cosh^2` keeps it finite.
#[inline(always)]
pub(crate) fn gelu_derivative<T: Float>(x: T) -> T {
    let saturation = T::from_f64(SATURATION);
    if x > saturation {
        T::ONE
    } else if x < -saturation {
        T::ZERO
    } else {
        let x2 = x * x;
        let t = (T::from_f64(SQRT_2_OVER_PI) * (x + T::from_f64(CUBIC) * x2 * x)).tanh();
        let half = T::from_f64(0.5);
        half * (T::ONE + t)
            + half
                * x
                * (T::ONE - t * t)
                * T::from_f64(SQRT_2_OVER_PI)
                * (T::ONE + T::from_f64(3.0 * CUBIC) * x2)
    }
}

impl<In: Shape, T: Float> Layer<In, T> for Gelu<T> {
    type Out = In;
    const KIND: &'static str = "Gelu";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, mode: Mode) {
        // 4-byte floats take the vectorised kernel with a fast, f32-accurate tanh; f64 keeps
        // the exact libm tanh (its gradient checks and seed parity need it).
        self.derivative_is_current = false;
        if size_of::<T>() == 4 {
            if mode == Mode::Train {
                // Sized once per batch size: no allocation from the second step on.
                resize_fresh(&mut self.derivative, input.len());
                kernels::gelu::forward_with_derivative(input, output, &mut self.derivative);
                self.derivative_is_current = true;
            } else {
                kernels::gelu::forward(input, output);
            }
        } else {
            map_forward(input, output, gelu);
        }
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        if size_of::<T>() == 4 {
            kernels::gelu::forward(input, output);
        } else {
            map_forward(input, output, gelu);
        }
    }

    fn backward(
        &mut self,
        input: &[T],
        _: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        match grad_input {
            Some(grad_input) if self.derivative_is_current => {
                kernels::gelu::backward_from_derivative(&self.derivative, grad_output, grad_input)
            }
            Some(grad_input) if size_of::<T>() == 4 => {
                kernels::gelu::backward(input, grad_output, grad_input)
            }
            grad_input => map_backward(input, grad_output, grad_input, gelu_derivative),
        }
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Gelu<T> {
    type Layer = Gelu<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::{check_layer, numerical_gradient, rel_error};

    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<3, 2, 5>, Gelu<f64>>(3, 1);
    }

    #[test]
    fn derivative_is_finite_and_right_at_large_inputs() {
        for x in [-50.0, -25.0, -19.5, -5.0, 0.0, 3.0, 19.5, 25.0, 50.0] {
            let analytic = gelu_derivative(x);
            let numeric = numerical_gradient(&mut [x], |v| gelu(v[0]), 1e-5)[0];
            assert!(analytic.is_finite());
            assert!(
                rel_error(&[analytic], &[numeric]) < 1e-6,
                "x = {x}: {analytic} vs {numeric}"
            );
        }
        for x in [f32::MAX, -f32::MAX, 1e20, -1e20, 50.0, -50.0] {
            assert!(
                gelu_derivative(x).is_finite() && gelu(x).is_finite(),
                "x = {x}"
            );
        }
        assert_eq!(gelu_derivative(50.0_f32), 1.0);
        assert_eq!(gelu_derivative(-50.0_f64), 0.0);
    }

    /// The derivative kept by a training-mode forward pass gives the same bits as evaluating
    /// it in backward, and an evaluation-mode pass (which keeps none) is not mistaken for one.
    #[test]
    fn kept_derivative_gives_the_recomputed_gradient() {
        type S = Image<1, 1, 5000>;
        let x: Vec<f32> = (0..5000).map(|i| (i as f32 - 2500.0) / 100.0).collect();
        let x2: Vec<f32> = x.iter().map(|v| v * 0.5 + 1.0).collect();
        let dy: Vec<f32> = (0..5000)
            .map(|i| ((i * 37) % 19) as f32 / 9.0 - 1.0)
            .collect();
        let mut y = vec![0.0; 5000];
        let gradient = |input: &[f32], layer: &mut Gelu<f32>| {
            let mut dx = vec![0.0; 5000];
            <Gelu<f32> as Layer<S, f32>>::backward(layer, input, &[], &dy, Some(&mut dx), 1);
            dx
        };
        // Backward without a forward pass evaluates the derivative from the input.
        let recomputed = gradient(&x, &mut Gelu::default());
        let recomputed2 = gradient(&x2, &mut Gelu::default());
        assert_ne!(recomputed, recomputed2);

        let mut layer = Gelu::default();
        <Gelu<f32> as Layer<S, f32>>::forward(&mut layer, &x, &mut y, 1, Mode::Train);
        assert_eq!(gradient(&x, &mut layer), recomputed);
        // An evaluation pass on other inputs: backward must use those, not the kept values.
        <Gelu<f32> as Layer<S, f32>>::forward(&mut layer, &x2, &mut y, 1, Mode::Eval);
        assert_eq!(gradient(&x2, &mut layer), recomputed2);
        // The outputs of both forward modes agree.
        let mut y_train = vec![0.0; 5000];
        <Gelu<f32> as Layer<S, f32>>::forward(&mut layer, &x2, &mut y_train, 1, Mode::Train);
        assert_eq!(y_train, y);
    }

    #[test]
    fn matches_known_values() {
        // 0.5 * 1 * (1 + tanh(0.7978845608 * 1.044715)) = 0.8411919906
        assert!((gelu(1.0_f64) - 0.841_191_990_6).abs() < 1e-9);
        assert!((gelu(-1.0_f64) + 0.158_808_009_4).abs() < 1e-9);
    }
}
