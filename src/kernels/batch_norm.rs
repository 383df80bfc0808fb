//! BatchNorm kernels, vectorised over the channels (innermost in NHWC), `C` a const generic so
//! that each per-channel accumulator is a fixed array. For `f32` with `C` a multiple of 8 the
//! passes over the pixels run the hand-written vector kernels of
//! [`batch_norm_simd`](super::batch_norm_simd) (the `*_on` and `samples_*` functions choose),
//! which perform these functions' operations in the same order: LLVM compiled some channel
//! counts of the generic ones to scalar code (16 channels: 4-5x slower).
//!
//! # Statistics in a fixed order
//!
//! Each sample's per-channel sum, then its sum of squared deviations from its own mean, are
//! computed with four accumulators (pixels `p` with `p % 4 == j` go to accumulator `j`, the
//! last `pixels % 4` pixels to accumulator 0, then `(a0 + a1) + (a2 + a3)`). The samples' figures
//! are then combined in sample order (Chan et al.'s pairwise formula for the variance):
//!
//! * `mean = (Σ_i mean_i) / batch` (every sample has the same number of pixels)
//! * `M2 = Σ_i (M2_i + pixels * (mean_i - mean)²)`, `var = M2 / n`
//!
//! The backward pass's sums (`Σ dy` and `Σ dy * (x - mean)`) are formed the same way. Every
//! operation is per channel lane, so the vector width changes no bit; samples are split between
//! threads in any way (each sample's figures are its own), so the thread count changes none
//! either. Each sample's two passes read its values while they are still in the cache.
//!
//! The normalisation is `y = x * scale + shift` (one fused multiply-add) with
//! `scale = weight * inv_std` and `shift = bias - mean * scale`, in training with the batch's
//! statistics and in evaluation with the running ones: [`scale_shift`] computes both, so
//! `forward` in evaluation mode and `infer` give the same bits.
//!
//! # A fused ReLU
//!
//! With `RELU` (the layer `BatchNorm2dRelu`), the normalisation writes `relu(x * scale + shift)`
//! and the backward passes take as their `dy` the ReLU's gradient, `dy * 1` where the normalised
//! value is above 0 and `dy * 0` elsewhere. The normalised value is recomputed from `x` with the
//! forward pass's fused multiply-add (the same bits), so the ReLU costs neither a pass over
//! memory nor a buffer: the results are bit for bit those of `BatchNorm2d` then `Relu`.

use super::Isa;
use crate::Float;
use rayon::prelude::*;

/// Per-channel sums of the rows (`C` values each) of `x`, with four interleaved accumulators
/// combined as `(a0 + a1) + (a2 + a3)`; `f(row value, channel)` is the summand.
#[inline(always)]
fn sum_rows<T: Float, const C: usize>(x: &[T], f: impl Fn(T, usize) -> T) -> [T; C] {
    let mut acc = [[T::ZERO; C]; 4];
    let mut quads = x.chunks_exact(4 * C);
    for quad in &mut quads {
        for (a, row) in acc.iter_mut().zip(quad.chunks_exact(C)) {
            for c in 0..C {
                a[c] += f(row[c], c);
            }
        }
    }
    for row in quads.remainder().chunks_exact(C) {
        for c in 0..C {
            acc[0][c] += f(row[c], c);
        }
    }
    let mut out = [T::ZERO; C];
    for c in 0..C {
        out[c] = (acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c]);
    }
    out
}

/// One sample's statistics: `stats[..C]` its per-channel mean, `stats[C..2C]` its sum of
/// squared deviations from that mean (`x`: `pixels x C`).
#[inline(always)]
pub(crate) fn sample_stats<T: Float, const C: usize>(x: &[T], stats: &mut [T]) {
    let pixels = T::from_f64((x.len() / C) as f64);
    let sum = sum_rows::<T, C>(x, |v, _| v);
    let mut mean = [T::ZERO; C];
    for c in 0..C {
        mean[c] = sum[c] / pixels;
    }
    let m2 = sum_rows::<T, C>(x, |v, c| {
        let d = v - mean[c];
        d * d
    });
    stats[..C].copy_from_slice(&mean);
    stats[C..2 * C].copy_from_slice(&m2);
}

/// The batch's per-channel mean and biased variance from the samples' [`sample_stats`]
/// (`stats`: `batch x 2C`), combined in sample order; each sample has `pixels` pixels.
pub(crate) fn combine_stats<T: Float, const C: usize>(
    stats: &[T],
    pixels: usize,
    mean: &mut [T],
    var: &mut [T],
) {
    let batch = stats.len() / (2 * C);
    let n = T::from_f64((batch * pixels) as f64);
    let p = T::from_f64(pixels as f64);
    let mut total = [T::ZERO; C];
    for s in stats.chunks_exact(2 * C) {
        for c in 0..C {
            total[c] += s[c];
        }
    }
    let batch_t = T::from_f64(batch as f64);
    let mut m = [T::ZERO; C];
    for c in 0..C {
        // Σ_i mean_i * pixels / (batch * pixels) = Σ_i mean_i / batch.
        m[c] = total[c] / batch_t;
    }
    let mut m2 = [T::ZERO; C];
    for s in stats.chunks_exact(2 * C) {
        for c in 0..C {
            let d = s[c] - m[c];
            m2[c] += (p * d).mul_add(d, s[C + c]);
        }
    }
    for c in 0..C {
        mean[c] = m[c];
        var[c] = m2[c] / n;
    }
}

/// The batch statistics of `x` (`batch` samples of `pixels x C`): per-channel mean and biased
/// variance. `stats` is scratch of `2 * batch * C` values. Samples are split between threads;
/// the result does not depend on how.
pub(crate) fn batch_stats<T: Float, const C: usize>(
    x: &[T],
    batch: usize,
    stats: &mut [T],
    mean: &mut [T],
    var: &mut [T],
) {
    let sample = x.len() / batch.max(1);
    let n = super::samples_per_task(batch, 2 * sample);
    stats[..2 * batch * C]
        .par_chunks_mut(n * 2 * C)
        .zip(x.par_chunks(n * sample))
        .for_each(|(stats, x)| samples_stats::<T, C>(Isa::detected(), x, sample, stats));
    combine_stats::<T, C>(&stats[..2 * batch * C], sample / C, mean, var);
}

/// [`sample_stats`] of each sample of `x` (`sample` values each) into `stats` (`2C` values per
/// sample), compiled for `isa`: the vector kernel where it applies, else the generic one.
pub(crate) fn samples_stats<T: Float, const C: usize>(
    isa: Isa,
    x: &[T],
    sample: usize,
    stats: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::batch_norm_simd::samples_stats::<T, C>(isa, x, sample, stats) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || {
            for (s, x) in stats.chunks_exact_mut(2 * C).zip(x.chunks_exact(sample)) {
                sample_stats::<T, C>(x, s);
            }
        },
    )
}

/// `1 / sqrt(var + eps)` per channel.
pub(crate) fn inv_std<T: Float>(var: &[T], eps: T, out: &mut [T]) {
    for (s, &v) in out.iter_mut().zip(var) {
        *s = T::ONE / (v + eps).sqrt();
    }
}

/// The normalisation `[scale, shift]`, per channel: `scale = weight * inv_std`,
/// `shift = bias - mean * scale`.
pub(crate) fn scale_shift<T: Float, const C: usize>(
    weight: &[T],
    bias: &[T],
    mean: &[T],
    inv_std: &[T],
) -> [[T; C]; 2] {
    let mut scale = [T::ZERO; C];
    let mut shift = [T::ZERO; C];
    for c in 0..C {
        scale[c] = weight[c] * inv_std[c];
        shift[c] = (-mean[c]).mul_add(scale[c], bias[c]);
    }
    [scale, shift]
}

/// `relu(y)` (0 below 0; a NaN passes, as in `Relu`) when `RELU`, else `y`.
#[inline(always)]
pub(crate) fn relu_if<T: Float, const RELU: bool>(y: T) -> T {
    if RELU && y < T::ZERO { T::ZERO } else { y }
}

/// The gradient that reaches the normalisation: `dy`, or when `RELU` the fused ReLU's backward
/// at the normalised value `x * scale + shift` (`Relu`'s `dy * 1` above 0, `dy * 0` elsewhere).
#[inline(always)]
pub(crate) fn grad_through_relu<T: Float, const RELU: bool>(x: T, dy: T, scale: T, shift: T) -> T {
    if RELU {
        dy * if x.mul_add(scale, shift) > T::ZERO {
            T::ONE
        } else {
            T::ZERO
        }
    } else {
        dy
    }
}

/// The fewest pixels a thread takes in the element-wise passes.
const CHUNK_PIXELS: usize = 1 << 10;

/// `y = x * scale + shift` per channel (rows of `C`), then the ReLU if `RELU`.
#[inline(always)]
pub(crate) fn normalize<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    y: &mut [T],
    scale: &[T; C],
    shift: &[T; C],
) {
    for (y, x) in y.chunks_exact_mut(C).zip(x.chunks_exact(C)) {
        for c in 0..C {
            y[c] = relu_if::<T, RELU>(x[c].mul_add(scale[c], shift[c]));
        }
    }
}

/// [`normalize`] in parallel (blocks of pixels; element-wise, so the split changes no bit).
pub(crate) fn normalize_batch<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    y: &mut [T],
    scale: &[T; C],
    shift: &[T; C],
) {
    let block = if super::tasks_for(x.len()) == 1 {
        x.len().max(C)
    } else {
        (x.len() / C)
            .div_ceil(rayon::current_num_threads())
            .max(CHUNK_PIXELS)
            * C
    };
    y.par_chunks_mut(block)
        .zip(x.par_chunks(block))
        .for_each(|(y, x)| normalize_on::<T, C, RELU>(Isa::detected(), x, y, scale, shift));
}

/// [`normalize`] compiled for `isa`: the vector kernel where it applies, else the generic one.
pub(crate) fn normalize_on<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    y: &mut [T],
    scale: &[T; C],
    shift: &[T; C],
) {
    #[cfg(target_arch = "x86_64")]
    if super::batch_norm_simd::normalize::<T, C, RELU>(isa, x, y, scale, shift) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || normalize::<T, C, RELU>(x, y, scale, shift),
    )
}

/// One sample's backward sums: `sums[..C]` = `Σ dy`, `sums[C..2C]` = `Σ dy * (x - mean)`, with
/// `dy` through the fused ReLU if `RELU` (`[scale, shift]`: the forward pass's normalisation).
#[inline(always)]
pub(crate) fn sample_grad_sums<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    dy: &[T],
    mean: &[T; C],
    [scale, shift]: &[[T; C]; 2],
    sums: &mut [T],
) {
    // Both sums in one pass over the sample, each with its own four interleaved accumulators
    // in `sum_rows`'s order (the same bits as two passes).
    let mut a_dy = [[T::ZERO; C]; 4];
    let mut a_dyx = [[T::ZERO; C]; 4];
    let mut qx = x.chunks_exact(4 * C);
    let mut qdy = dy.chunks_exact(4 * C);
    for (qx, qdy) in (&mut qx).zip(&mut qdy) {
        for j in 0..4 {
            let (rx, rdy) = (&qx[j * C..][..C], &qdy[j * C..][..C]);
            for c in 0..C {
                let g = grad_through_relu::<T, RELU>(rx[c], rdy[c], scale[c], shift[c]);
                a_dy[j][c] += g;
                a_dyx[j][c] = (rx[c] - mean[c]).mul_add(g, a_dyx[j][c]);
            }
        }
    }
    for (rx, rdy) in qx
        .remainder()
        .chunks_exact(C)
        .zip(qdy.remainder().chunks_exact(C))
    {
        for c in 0..C {
            let g = grad_through_relu::<T, RELU>(rx[c], rdy[c], scale[c], shift[c]);
            a_dy[0][c] += g;
            a_dyx[0][c] = (rx[c] - mean[c]).mul_add(g, a_dyx[0][c]);
        }
    }
    for c in 0..C {
        sums[c] = (a_dy[0][c] + a_dy[1][c]) + (a_dy[2][c] + a_dy[3][c]);
        sums[C + c] = (a_dyx[0][c] + a_dyx[1][c]) + (a_dyx[2][c] + a_dyx[3][c]);
    }
}

/// [`sample_grad_sums`] of each sample of `x` and `dy` (`sample` values each) into `sums` (`2C`
/// values per sample), compiled for `isa`: the vector kernel where it applies, else the
/// generic one.
pub(crate) fn samples_grad_sums<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    sample: usize,
    mean: &[T; C],
    normalization: &[[T; C]; 2],
    sums: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::batch_norm_simd::samples_grad_sums::<T, C, RELU>(
        isa,
        x,
        dy,
        sample,
        mean,
        normalization,
        sums,
    ) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || {
            for ((s, x), dy) in sums
                .chunks_exact_mut(2 * C)
                .zip(x.chunks_exact(sample))
                .zip(dy.chunks_exact(sample))
            {
                sample_grad_sums::<T, C, RELU>(x, dy, mean, normalization, s);
            }
        },
    )
}

/// The gradients of BatchNorm's `weight` and `bias` (set, not accumulated): `bias_grad = Σ dy`,
/// `weight_grad = inv_std * Σ dy * (x - mean)`, per channel over the batch (samples' sums in
/// sample order), `dy` through the fused ReLU if `RELU`. `sums` is scratch of `2 * batch * C`
/// values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn param_grads<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    dy: &[T],
    batch: usize,
    mean: &[T],
    inv_std: &[T],
    normalization: &[[T; C]; 2],
    sums: &mut [T],
    weight_grad: &mut [T],
    bias_grad: &mut [T],
) {
    let sample = x.len() / batch.max(1);
    let mut m = [T::ZERO; C];
    m.copy_from_slice(&mean[..C]);
    let n = super::samples_per_task(batch, 2 * sample);
    sums[..2 * batch * C]
        .par_chunks_mut(n * 2 * C)
        .zip(x.par_chunks(n * sample).zip(dy.par_chunks(n * sample)))
        .for_each(|(sums, (x, dy))| {
            samples_grad_sums::<T, C, RELU>(Isa::detected(), x, dy, sample, &m, normalization, sums)
        });
    let mut sdy = [T::ZERO; C];
    let mut sdyx = [T::ZERO; C];
    for s in sums[..2 * batch * C].chunks_exact(2 * C) {
        for c in 0..C {
            sdy[c] += s[c];
            sdyx[c] += s[C + c];
        }
    }
    for c in 0..C {
        bias_grad[c] = sdy[c];
        weight_grad[c] = sdyx[c] * inv_std[c];
    }
}

/// The input gradient's per-channel coefficients: `dx = a * dy + (b * x + k)`.
///
/// With the batch's statistics (training), `dx = weight * inv_std * (dy - Σdy / n - x̂ Σ(dy x̂) / n)`
/// with `x̂ = (x - mean) * inv_std`: `a = weight * inv_std`,
/// `b = -a * inv_std * weight_grad / n`, `k = -a * bias_grad / n - b * mean`. With fixed
/// (running) statistics, `dx = a * dy`: `b = k = 0`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn input_grad_coefficients<T: Float, const C: usize>(
    weight: &[T],
    mean: &[T],
    inv_std: &[T],
    weight_grad: &[T],
    bias_grad: &[T],
    count: usize,
    batch_statistics: bool,
) -> [[T; C]; 3] {
    let n = T::from_f64(count as f64);
    let mut out = [[T::ZERO; C]; 3];
    for c in 0..C {
        let a = weight[c] * inv_std[c];
        out[0][c] = a;
        if batch_statistics {
            let b = -(a * inv_std[c] * weight_grad[c] / n);
            out[1][c] = b;
            out[2][c] = (-b).mul_add(mean[c], -(a * bias_grad[c] / n));
        }
    }
    out
}

/// `dx = a * dy + (b * x + k)` per channel (rows of `C`), with [`input_grad_coefficients`] and
/// `dy` through the fused ReLU if `RELU`.
#[inline(always)]
pub(crate) fn input_grad<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    coef: &[[T; C]; 3],
    [scale, shift]: &[[T; C]; 2],
) {
    for ((dx, x), dy) in dx
        .chunks_exact_mut(C)
        .zip(x.chunks_exact(C))
        .zip(dy.chunks_exact(C))
    {
        for c in 0..C {
            let g = grad_through_relu::<T, RELU>(x[c], dy[c], scale[c], shift[c]);
            dx[c] = coef[0][c].mul_add(g, coef[1][c].mul_add(x[c], coef[2][c]));
        }
    }
}

/// [`input_grad`] in parallel (blocks of pixels; element-wise, so the split changes no bit).
pub(crate) fn input_grad_batch<T: Float, const C: usize, const RELU: bool>(
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    coef: &[[T; C]; 3],
    normalization: &[[T; C]; 2],
) {
    let block = if super::tasks_for(x.len()) == 1 {
        x.len().max(C)
    } else {
        (x.len() / C)
            .div_ceil(rayon::current_num_threads())
            .max(CHUNK_PIXELS)
            * C
    };
    dx.par_chunks_mut(block)
        .zip(x.par_chunks(block).zip(dy.par_chunks(block)))
        .for_each(|(dx, (x, dy))| {
            input_grad_on::<T, C, RELU>(Isa::detected(), x, dy, dx, coef, normalization)
        });
}

/// [`input_grad`] compiled for `isa`: the vector kernel where it applies, else the generic one.
pub(crate) fn input_grad_on<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    coef: &[[T; C]; 3],
    normalization: &[[T; C]; 2],
) {
    #[cfg(target_arch = "x86_64")]
    if super::batch_norm_simd::input_grad::<T, C, RELU>(isa, x, dy, dx, coef, normalization) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || input_grad::<T, C, RELU>(x, dy, dx, coef, normalization),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass [`sample_grad_sums`] adds in the module's documented order: pixel `p` of
    /// the whole quads into accumulator `p % 4`, the last `pixels % 4` into accumulator 0, then
    /// `(a0 + a1) + (a2 + a3)`, each sum on its own.
    #[test]
    fn backward_sums_follow_the_documented_order() {
        const C: usize = 5;
        let pixels = 11; // two quads and a remainder of 3
        let x: Vec<f32> = (0..pixels * C)
            .map(|i| (i as f32 * 0.37).sin() + 2.0)
            .collect();
        let dy: Vec<f32> = (0..pixels * C).map(|i| (i as f32 * 0.91).cos()).collect();
        let mean = [1.9f32, 2.1, 2.0, 1.8, 2.2];
        let mut sums = [0.0f32; 2 * C];
        sample_grad_sums::<f32, C, false>(&x, &dy, &mean, &[[1.0; C], [0.0; C]], &mut sums);
        let whole = pixels / 4 * 4;
        for c in 0..C {
            let (mut a_dy, mut a_dyx) = ([0.0f32; 4], [0.0f32; 4]);
            for p in 0..pixels {
                let j = if p < whole { p % 4 } else { 0 };
                let (xv, g) = (x[p * C + c], dy[p * C + c]);
                a_dy[j] += g;
                a_dyx[j] = (xv - mean[c]).mul_add(g, a_dyx[j]);
            }
            assert_eq!(
                sums[c],
                (a_dy[0] + a_dy[1]) + (a_dy[2] + a_dy[3]),
                "Σ dy, {c}"
            );
            assert_eq!(
                sums[C + c],
                (a_dyx[0] + a_dyx[1]) + (a_dyx[2] + a_dyx[3]),
                "Σ dy (x - mean), {c}"
            );
        }
        assert_eq!(sum_rows::<f32, C>(&dy, |g, _| g), sums[..C]);
    }
}
