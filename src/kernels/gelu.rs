//! GELU (tanh approximation) for 4-byte floats with a fast, vectorisable `tanh`.
//!
//! `f32::tanh` is a libm call per value that the compiler cannot vectorise, and GELU after the
//! two convolutions of the SmallCnn evaluates it ~24,000 times per image (forward and again
//! backward). [`tanh_approx`] is a rational minimax approximation (the one Eigen and TensorFlow use
//! for `f32`): within a few units in the last place of `f32` (tested against `f64::tanh` below
//! 5e-7 absolute). `f64` keeps the exact libm path, so gradient checks in `f64` are unaffected.

use crate::Float;
use rayon::prelude::*;

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const CUBIC: f64 = 0.044_715;
/// As in `layers::gelu`: beyond this |x| GELU is exactly x or 0.
const SATURATION: f64 = 20.0;

/// `tanh(u)` to `f32` accuracy: `u P(u^2) / Q(u^2)` on `u` clamped to ±7.9988 (where the
/// approximation reaches ±1 in `f32`). Branch-free, so it vectorises.
#[inline(always)]
pub(crate) fn tanh_approx<T: Float>(u: T) -> T {
    let c = |v: f64| T::from_f64(v);
    // The smallest `f32` at which this evaluation (fused multiply-adds) gives exactly 1. Eigen's
    // 7.90531 is that point for separate multiplies and adds; with fused ones the result
    // there is 0.99999976, which would leave GELU's far negative tail at ~1e-7 instead of 0.
    let limit = c(7.998_811_721_801_758);
    let x = if u > limit {
        limit
    } else if u < -limit {
        -limit
    } else {
        u
    };
    let x2 = x * x;
    // Horner's rule, one fused multiply-add per coefficient.
    let p = c(-2.760_768_477_423_55e-16);
    let p = p.mul_add(x2, c(2.000_187_904_824_77e-13));
    let p = p.mul_add(x2, c(-8.604_671_522_137_35e-11));
    let p = p.mul_add(x2, c(5.122_297_090_371_14e-8));
    let p = p.mul_add(x2, c(1.485_722_357_179_79e-5));
    let p = p.mul_add(x2, c(6.372_619_288_754_36e-4));
    let p = p.mul_add(x2, c(4.893_524_558_917_86e-3));
    let q = c(1.198_258_394_667_02e-6);
    let q = q.mul_add(x2, c(1.185_347_056_866_54e-4));
    let q = q.mul_add(x2, c(2.268_434_632_439_00e-3));
    let q = q.mul_add(x2, c(4.893_525_185_543_85e-3));
    x * p / q
}

/// `sqrt(2/pi) (x + 0.044715 x^3)` for `x` clamped to ±[`SATURATION`] (so that `x^3` cannot
/// overflow; beyond the clamp the callers select the exact limits). GELU and its derivative
/// both use this one expression, so that computed together they give the same bits as apart.
#[inline(always)]
fn clamped_and_tanh_arg<T: Float>(x: T) -> (T, T) {
    let c = |v: f64| T::from_f64(v);
    let limit = c(SATURATION);
    let xc = if x > limit {
        limit
    } else if x < -limit {
        -limit
    } else {
        x
    };
    // sqrt(2/pi) x + sqrt(2/pi) 0.044715 x^3, as x (a x^2 + b): one fused multiply-add.
    let inner = (xc * xc).mul_add(c(SQRT_2_OVER_PI * CUBIC), c(SQRT_2_OVER_PI));
    (xc, xc * inner)
}

/// GELU from the clamped input and `t = tanh(u)`.
#[inline(always)]
fn gelu_from<T: Float>(x: T, xc: T, t: T) -> T {
    let limit = T::from_f64(SATURATION);
    if x > limit {
        x
    } else if x < -limit {
        T::ZERO
    } else {
        // 0.5 x (1 + t) as h t + h.
        let h = T::from_f64(0.5) * xc;
        h.mul_add(t, h)
    }
}

/// GELU's derivative from the clamped input and `t = tanh(u)`.
#[inline(always)]
fn derivative_from<T: Float>(x: T, xc: T, t: T) -> T {
    let c = |v: f64| T::from_f64(v);
    let limit = c(SATURATION);
    let half = c(0.5);
    // 0.5 (1 + t) + 0.5 sqrt(2/pi) x (1 - t^2) (1 + 3 * 0.044715 x^2), in fused multiply-adds.
    let one_minus_t2 = (-t).mul_add(t, T::ONE);
    let slope = (xc * xc).mul_add(c(3.0 * CUBIC), T::ONE);
    let d = (c(0.5 * SQRT_2_OVER_PI) * xc * one_minus_t2).mul_add(slope, half.mul_add(t, half));
    if x > limit {
        T::ONE
    } else if x < -limit {
        T::ZERO
    } else {
        d
    }
}

/// GELU with [`tanh_approx`].
#[inline(always)]
pub(crate) fn gelu_approx<T: Float>(x: T) -> T {
    let (xc, u) = clamped_and_tanh_arg(x);
    gelu_from(x, xc, tanh_approx(u))
}

/// The derivative of GELU with [`tanh_approx`]; finite for every finite input.
#[inline(always)]
pub(crate) fn gelu_derivative_approx<T: Float>(x: T) -> T {
    let (xc, u) = clamped_and_tanh_arg(x);
    derivative_from(x, xc, tanh_approx(u))
}

/// Values per parallel task: the slice split into one run per thread, at least this many.
const MIN_TASK: usize = 8192;

fn task_len(len: usize) -> usize {
    len.div_ceil(rayon::current_num_threads()).max(MIN_TASK)
}

/// `y[i] = gelu_approx(x[i])`, in parallel, vectorised.
pub(crate) fn forward<T: Float>(x: &[T], y: &mut [T]) {
    let n = task_len(x.len());
    y.par_chunks_mut(n).zip(x.par_chunks(n)).for_each(|(y, x)| {
        super::run(
            #[inline(always)]
            || {
                for (y, &x) in y.iter_mut().zip(x) {
                    *y = gelu_approx(x);
                }
            },
        )
    });
}

/// `y[i] = gelu_approx(x[i])` and `derivative[i] = gelu_derivative_approx(x[i])` from one
/// `tanh` per value, in parallel, vectorised: training keeps the derivative for
/// [`backward_from_derivative`] instead of evaluating `tanh` again in backward.
pub(crate) fn forward_with_derivative<T: Float>(x: &[T], y: &mut [T], derivative: &mut [T]) {
    let n = task_len(x.len());
    y.par_chunks_mut(n)
        .zip(derivative.par_chunks_mut(n))
        .zip(x.par_chunks(n))
        .for_each(|((y, derivative), x)| {
            super::run(
                #[inline(always)]
                || {
                    for ((y, d), &x) in y.iter_mut().zip(derivative.iter_mut()).zip(x) {
                        let (xc, u) = clamped_and_tanh_arg(x);
                        let t = tanh_approx(u);
                        *y = gelu_from(x, xc, t);
                        *d = derivative_from(x, xc, t);
                    }
                },
            )
        });
}

/// `dx[i] = dy[i] * gelu_derivative_approx(x[i])`, in parallel, vectorised.
pub(crate) fn backward<T: Float>(x: &[T], dy: &[T], dx: &mut [T]) {
    let n = task_len(x.len());
    dx.par_chunks_mut(n)
        .zip(x.par_chunks(n).zip(dy.par_chunks(n)))
        .for_each(|(dx, (x, dy))| {
            super::run(
                #[inline(always)]
                || {
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        *dx = dy * gelu_derivative_approx(x);
                    }
                },
            )
        });
}

/// `dx[i] = dy[i] * derivative[i]` with the derivative kept by [`forward_with_derivative`]:
/// the same values as [`backward`].
pub(crate) fn backward_from_derivative<T: Float>(derivative: &[T], dy: &[T], dx: &mut [T]) {
    let n = task_len(derivative.len());
    dx.par_chunks_mut(n)
        .zip(derivative.par_chunks(n).zip(dy.par_chunks(n)))
        .for_each(|(dx, (derivative, dy))| {
            super::run(
                #[inline(always)]
                || {
                    for ((dx, &d), &dy) in dx.iter_mut().zip(derivative).zip(dy) {
                        *dx = dy * d;
                    }
                },
            )
        });
}
