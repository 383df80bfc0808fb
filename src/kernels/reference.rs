//! The plain, obviously correct loops: the layers' original kernels, kept as the reference the
//! fast kernels are tested (and benchmarked) against. One sample or one gradient block at a
//! time, no blocking, no parallelism.

use super::ConvDims;
use crate::Float;

/// The input row (or column) under kernel offset `k` at output position `o`, if inside.
#[inline(always)]
fn source(o: usize, k: usize, s: usize, p: usize, len: usize) -> Option<usize> {
    (o * s + k).checked_sub(p).filter(|&i| i < len)
}

/// Direct convolution of one sample (`x`: `h x w x IC`, `y`: `oh x ow x OC`, NHWC; weight
/// `[K][K][IC][OC]`): for each output pixel, accumulate over the kernel window, innermost over
/// output channels.
pub fn conv_forward<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    for oh in 0..d.oh {
        for ow in 0..d.ow {
            let out = &mut y[(oh * d.ow + ow) * OC..][..OC];
            out.copy_from_slice(bias);
            for kh in 0..K {
                let Some(ih) = source(oh, kh, S, P, d.h) else {
                    continue;
                };
                for kw in 0..K {
                    let Some(iw) = source(ow, kw, S, P, d.w) else {
                        continue;
                    };
                    let pixel = &x[(ih * d.w + iw) * IC..][..IC];
                    let taps = &weight[(kh * K + kw) * IC * OC..][..IC * OC];
                    for (&xv, w_row) in pixel.iter().zip(taps.chunks_exact(OC)) {
                        for (o, &wv) in out.iter_mut().zip(w_row) {
                            *o = xv.mul_add(wv, *o);
                        }
                    }
                }
            }
        }
    }
}

/// Weight-gradient block of kernel position `(kh, kw)` (`IC * OC` values) over all samples of
/// `x` and `dy`: `dw[ic][oc] = sum over samples and output pixels of x[ih][iw][ic] * dy[oc]`.
#[allow(clippy::too_many_arguments)]
pub fn conv_weight_grad_block<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    kh: usize,
    kw: usize,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) {
    dw.fill(T::ZERO);
    for (xs, dys) in x
        .chunks_exact(d.in_len(IC))
        .zip(dy.chunks_exact(d.out_len(OC)))
    {
        for oh in 0..d.oh {
            let Some(ih) = source(oh, kh, S, P, d.h) else {
                continue;
            };
            for ow in 0..d.ow {
                let Some(iw) = source(ow, kw, S, P, d.w) else {
                    continue;
                };
                let pixel = &xs[(ih * d.w + iw) * IC..][..IC];
                let g = &dys[(oh * d.ow + ow) * OC..][..OC];
                for (&xv, dw_row) in pixel.iter().zip(dw.chunks_exact_mut(OC)) {
                    for (acc, &dv) in dw_row.iter_mut().zip(g) {
                        *acc = xv.mul_add(dv, *acc);
                    }
                }
            }
        }
    }
}

/// Input gradient of one sample: `dx[ih][iw][ic] = sum over output pixels and kernel taps that
/// read it of w * dy`.
pub fn conv_input_grad<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    dy: &[T],
    weight: &[T],
    dx: &mut [T],
) {
    dx.fill(T::ZERO);
    for oh in 0..d.oh {
        for ow in 0..d.ow {
            let g = &dy[(oh * d.ow + ow) * OC..][..OC];
            for kh in 0..K {
                let Some(ih) = source(oh, kh, S, P, d.h) else {
                    continue;
                };
                for kw in 0..K {
                    let Some(iw) = source(ow, kw, S, P, d.w) else {
                        continue;
                    };
                    let pixel = &mut dx[(ih * d.w + iw) * IC..][..IC];
                    let taps = &weight[(kh * K + kw) * IC * OC..][..IC * OC];
                    for (acc_out, w_row) in pixel.iter_mut().zip(taps.chunks_exact(OC)) {
                        let mut acc = T::ZERO;
                        for (&wv, &dv) in w_row.iter().zip(g) {
                            acc = wv.mul_add(dv, acc);
                        }
                        *acc_out += acc;
                    }
                }
            }
        }
    }
}

/// `db[oc] = sum over all pixels of all samples of dy[..][oc]`.
pub fn bias_grad<T: Float>(dy: &[T], db: &mut [T]) {
    db.fill(T::ZERO);
    for g in dy.chunks_exact(db.len()) {
        for (acc, &d) in db.iter_mut().zip(g) {
            *acc += d;
        }
    }
}

/// `y = x . W + b` for one sample (`x`: `IN`, weight `[IN][OUT]`, `y`: `OUT`).
pub fn linear_forward<T: Float, const IN: usize, const OUT: usize>(
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    y.copy_from_slice(bias);
    for (&xv, w_row) in x.iter().zip(weight.chunks_exact(OUT)) {
        for (o, &wv) in y.iter_mut().zip(w_row) {
            *o = xv.mul_add(wv, *o);
        }
    }
}

/// Row `i` of the linear weight gradient: `dw[o] = sum over samples of x[i] * dy[o]`.
pub fn linear_weight_grad_row<T: Float, const IN: usize, const OUT: usize>(
    i: usize,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) {
    dw.fill(T::ZERO);
    for (x, g) in x.chunks_exact(IN).zip(dy.chunks_exact(OUT)) {
        let xv = x[i];
        for (acc, &d) in dw.iter_mut().zip(g) {
            *acc = xv.mul_add(d, *acc);
        }
    }
}

/// Linear input gradient of one sample: `dx[i] = W[i][:] . dy`.
pub fn linear_input_grad<T: Float, const IN: usize, const OUT: usize>(
    dy: &[T],
    weight: &[T],
    dx: &mut [T],
) {
    for (g, w_row) in dx.iter_mut().zip(weight.chunks_exact(OUT)) {
        let mut acc = T::ZERO;
        for (&wv, &d) in w_row.iter().zip(dy) {
            acc = wv.mul_add(d, acc);
        }
        *g = acc;
    }
}

/// Geometry of a max pooling: input `h x w x c`, output `oh x ow x c`, window `pool`, stride `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolDims {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Channels.
    pub c: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
    /// Window size.
    pub pool: usize,
    /// Stride.
    pub s: usize,
}

/// Index (in the sample) and value of the first maximum of the window at output `(oh, ow)`,
/// channel `c`, in row-major window order; if the window holds a NaN, its last NaN (PyTorch's
/// rule, so that a NaN input is not silently dropped).
#[inline(always)]
pub fn pool_argmax<T: Float>(d: PoolDims, x: &[T], oh: usize, ow: usize, c: usize) -> (usize, T) {
    let mut best = (oh * d.s * d.w + ow * d.s) * d.c + c;
    let mut max = x[best];
    for ph in 0..d.pool {
        for pw in 0..d.pool {
            let at = ((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c + c;
            // PyTorch's rule: a NaN wins over any number (and a later NaN over an earlier one),
            // so a window with a NaN gives NaN and its gradient goes there.
            if x[at] > max || x[at].is_nan() {
                max = x[at];
                best = at;
            }
        }
    }
    (best, max)
}

/// Max pooling of one sample.
pub fn pool_forward<T: Float>(d: PoolDims, x: &[T], y: &mut [T]) {
    for oh in 0..d.oh {
        for ow in 0..d.ow {
            for c in 0..d.c {
                y[(oh * d.ow + ow) * d.c + c] = pool_argmax(d, x, oh, ow, c).1;
            }
        }
    }
}

/// Max-pooling input gradient of one sample: each output's gradient goes to its window's first
/// maximum (accumulated, as windows may overlap).
pub fn pool_backward<T: Float>(d: PoolDims, x: &[T], dy: &[T], dx: &mut [T]) {
    dx.fill(T::ZERO);
    for oh in 0..d.oh {
        for ow in 0..d.ow {
            for c in 0..d.c {
                let (at, _) = pool_argmax(d, x, oh, ow, c);
                dx[at] += dy[(oh * d.ow + ow) * d.c + c];
            }
        }
    }
}

/// BatchNorm forward with the batch's statistics, the layer's original loops: per channel over
/// all pixels of `x` (rows of `c` values), `mean = Σx / n`, `var = Σ(x - mean)² / n` (biased),
/// `y = weight * (x - mean) / sqrt(var + eps) + bias`. Returns `(mean, var)`.
pub fn batch_norm_forward<T: Float>(
    c: usize,
    x: &[T],
    weight: &[T],
    bias: &[T],
    eps: T,
    y: &mut [T],
) -> (Vec<T>, Vec<T>) {
    let n = T::from_f64((x.len() / c) as f64);
    let mut mean = vec![T::ZERO; c];
    for row in x.chunks_exact(c) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![T::ZERO; c];
    for row in x.chunks_exact(c) {
        for ((v, &x), &m) in var.iter_mut().zip(row).zip(&mean) {
            *v += (x - m) * (x - m);
        }
    }
    var.iter_mut().for_each(|v| *v /= n);
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for k in 0..c {
            yr[k] = weight[k] * (xr[k] - mean[k]) / (var[k] + eps).sqrt() + bias[k];
        }
    }
    (mean, var)
}

/// BatchNorm backward, the layer's original loops: `weight_grad = Σ dy * x̂`, `bias_grad = Σ dy`
/// with `x̂ = (x - mean) * inv_std`, and, if `dx` is given, the input gradient: with the batch's
/// statistics (`batch_statistics`) `weight * inv_std / n * (n dy - bias_grad - x̂ weight_grad)`,
/// otherwise `weight * inv_std * dy`.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward<T: Float>(
    c: usize,
    x: &[T],
    dy: &[T],
    weight: &[T],
    mean: &[T],
    inv_std: &[T],
    batch_statistics: bool,
    weight_grad: &mut [T],
    bias_grad: &mut [T],
    dx: Option<&mut [T]>,
) {
    weight_grad.fill(T::ZERO);
    bias_grad.fill(T::ZERO);
    for (xr, gr) in x.chunks_exact(c).zip(dy.chunks_exact(c)) {
        for k in 0..c {
            let x_hat = (xr[k] - mean[k]) * inv_std[k];
            weight_grad[k] += gr[k] * x_hat;
            bias_grad[k] += gr[k];
        }
    }
    let Some(dx) = dx else { return };
    let n = T::from_f64((x.len() / c) as f64);
    for ((dr, xr), gr) in dx
        .chunks_exact_mut(c)
        .zip(x.chunks_exact(c))
        .zip(dy.chunks_exact(c))
    {
        for k in 0..c {
            let scale = weight[k] * inv_std[k];
            dr[k] = if batch_statistics {
                let x_hat = (xr[k] - mean[k]) * inv_std[k];
                scale / n * (n * gr[k] - bias_grad[k] - x_hat * weight_grad[k])
            } else {
                scale * gr[k]
            };
        }
    }
}
