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

/// `tanh(u)` to `f32` accuracy: `u P(u^2) / Q(u^2)` on `u` clamped to ±7.905 (where the
/// approximation reaches ±1 in `f32`). Branch-free, so it vectorises.
#[inline(always)]
pub(crate) fn tanh_approx<T: Float>(u: T) -> T {
    let c = |v: f64| T::from_f64(v);
    let limit = c(7.905_311_107_635_498);
    let x = if u > limit {
        limit
    } else if u < -limit {
        -limit
    } else {
        u
    };
    let x2 = x * x;
    let p = c(-2.760_768_477_423_55e-16);
    let p = p * x2 + c(2.000_187_904_824_77e-13);
    let p = p * x2 + c(-8.604_671_522_137_35e-11);
    let p = p * x2 + c(5.122_297_090_371_14e-8);
    let p = p * x2 + c(1.485_722_357_179_79e-5);
    let p = p * x2 + c(6.372_619_288_754_36e-4);
    let p = p * x2 + c(4.893_524_558_917_86e-3);
    let q = c(1.198_258_394_667_02e-6);
    let q = q * x2 + c(1.185_347_056_866_54e-4);
    let q = q * x2 + c(2.268_434_632_439_00e-3);
    let q = q * x2 + c(4.893_525_185_543_85e-3);
    x * p / q
}

/// GELU with [`tanh_approx`].
#[inline(always)]
pub(crate) fn gelu_approx<T: Float>(x: T) -> T {
    let c = |v: f64| T::from_f64(v);
    let u = c(SQRT_2_OVER_PI) * (x + c(CUBIC) * x * x * x);
    let y = c(0.5) * x * (T::ONE + tanh_approx(u));
    if x > c(SATURATION) {
        x
    } else if x < -c(SATURATION) {
        T::ZERO
    } else {
        y
    }
}

/// The derivative of GELU with [`tanh_approx`]; finite for every finite input.
#[inline(always)]
pub(crate) fn gelu_derivative_approx<T: Float>(x: T) -> T {
    let c = |v: f64| T::from_f64(v);
    // Clamped so that x^3 cannot overflow; outside the clamp the result is chosen below.
    let limit = c(SATURATION);
    let xc = if x > limit {
        limit
    } else if x < -limit {
        -limit
    } else {
        x
    };
    let x2 = xc * xc;
    let t = tanh_approx(c(SQRT_2_OVER_PI) * (xc + c(CUBIC) * x2 * xc));
    let half = c(0.5);
    let d = half * (T::ONE + t)
        + half * xc * (T::ONE - t * t) * c(SQRT_2_OVER_PI) * (T::ONE + c(3.0 * CUBIC) * x2);
    if x > limit {
        T::ONE
    } else if x < -limit {
        T::ZERO
    } else {
        d
    }
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
