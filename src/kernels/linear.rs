//! Fully connected kernels: forward, weight gradient, input gradient.

use crate::Float;
use rayon::prelude::*;

/// `y = x . W + b` for every sample of `x` (rows of `IN`). Blocks of `NB` samples share each
/// weight-row load; per output the sum runs in the reference order (bias, then `i`), so the
/// result is bit-identical to [`super::reference::linear_forward`].
#[inline(always)]
pub(crate) fn forward<T: Float, const IN: usize, const OUT: usize, const NB: usize>(
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    let (rows, _) = weight.as_chunks::<OUT>();
    let rows = &rows[..IN];
    let bias: [T; OUT] = bias.as_chunks::<OUT>().0[0];
    let (xs, _) = x.as_chunks::<IN>();
    let (ys, _) = y.as_chunks_mut::<OUT>();
    for (xb, yb) in xs.chunks(NB).zip(ys.chunks_mut(NB)) {
        if xb.len() == NB {
            let mut acc = [bias; NB];
            for (i, row) in rows.iter().enumerate() {
                let xv: [T; NB] = std::array::from_fn(|s| xb[s][i]);
                // Contiguous dimension outermost: see `conv::forward`.
                for o in 0..OUT {
                    for s in 0..NB {
                        acc[s][o] += xv[s] * row[o];
                    }
                }
            }
            yb.copy_from_slice(&acc);
        } else {
            for (xs, ys) in xb.iter().zip(yb) {
                let mut acc = bias;
                for (&xv, row) in xs.iter().zip(rows) {
                    for o in 0..OUT {
                        acc[o] += xv * row[o];
                    }
                }
                *ys = acc;
            }
        }
    }
}

/// Rows `i0 .. i0 + dw.len()` of the weight gradient, `dw[i][o] = sum over samples of
/// x[i] * dy[o]`, two rows at a time, each summed over the samples in order (bit-identical to
/// [`super::reference::linear_weight_grad_row`]).
#[inline(always)]
pub(crate) fn weight_grad_rows<T: Float, const IN: usize, const OUT: usize>(
    i0: usize,
    x: &[T],
    dy: &[T],
    dw: &mut [[T; OUT]],
) {
    let (xs, _) = x.as_chunks::<IN>();
    let (dys, _) = dy.as_chunks::<OUT>();
    let mut pairs = dw.chunks_exact_mut(2);
    let mut i = i0;
    for pair in &mut pairs {
        let mut acc = [[T::ZERO; OUT]; 2];
        for (x, d) in xs.iter().zip(dys) {
            let (a, b) = (x[i], x[i + 1]);
            for o in 0..OUT {
                acc[0][o] += a * d[o];
                acc[1][o] += b * d[o];
            }
        }
        pair.copy_from_slice(&acc);
        i += 2;
    }
    for row in pairs.into_remainder() {
        let mut acc = [T::ZERO; OUT];
        for (x, d) in xs.iter().zip(dys) {
            let a = x[i];
            for o in 0..OUT {
                acc[o] += a * d[o];
            }
        }
        *row = acc;
    }
}

/// Sum of `a[k] * b[k]` with 16 interleaved partial sums (vector lanes), added pairwise at the
/// end, then the tail: a fixed order, the same on every CPU.
#[inline(always)]
fn dot<T: Float, const N: usize>(a: &[T; N], b: &[T; N]) -> T {
    const L: usize = 16;
    let mut lanes = [T::ZERO; L];
    let (ac, at) = a.as_chunks::<L>();
    let (bc, bt) = b.as_chunks::<L>();
    for (x, y) in ac.iter().zip(bc) {
        for l in 0..L {
            lanes[l] += x[l] * y[l];
        }
    }
    let mut width = L / 2;
    while width > 0 {
        for l in 0..width {
            lanes[l] += lanes[l + width];
        }
        width /= 2;
    }
    let mut sum = lanes[0];
    for (&x, &y) in at.iter().zip(bt) {
        sum += x * y;
    }
    sum
}

/// Input gradient of every sample of `dy`: `dx[i] = W[i][:] . dy`. Blocks of `NB` samples
/// share each weight-row load.
#[inline(always)]
pub(crate) fn input_grad<T: Float, const IN: usize, const OUT: usize, const NB: usize>(
    dy: &[T],
    weight: &[T],
    dx: &mut [T],
) {
    let (rows, _) = weight.as_chunks::<OUT>();
    let rows = &rows[..IN];
    let (dys, _) = dy.as_chunks::<OUT>();
    let (dxs, _) = dx.as_chunks_mut::<IN>();
    for (db, xb) in dys.chunks(NB).zip(dxs.chunks_mut(NB)) {
        if db.len() == NB {
            for (i, row) in rows.iter().enumerate() {
                for s in 0..NB {
                    xb[s][i] = dot(row, &db[s]);
                }
            }
        } else {
            for (d, x) in db.iter().zip(xb) {
                for (g, row) in x.iter_mut().zip(rows) {
                    *g = dot(row, d);
                }
            }
        }
    }
}

/// `db[o] = sum over samples of dy[o]`, in order.
#[inline(always)]
pub(crate) fn bias_grad<T: Float, const OUT: usize>(dy: &[T], db: &mut [T]) {
    let mut acc = [T::ZERO; OUT];
    for d in dy.as_chunks::<OUT>().0 {
        for o in 0..OUT {
            acc[o] += d[o];
        }
    }
    db.copy_from_slice(&acc);
}

/// Forward pass of a batch, one run of samples per thread.
pub(crate) fn forward_batch<T: Float, const IN: usize, const OUT: usize>(
    batch: usize,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    let n = super::samples_per_task(batch);
    y.par_chunks_mut(n * OUT)
        .zip(x.par_chunks(n * IN))
        .for_each(|(y, x)| {
            super::run(
                #[inline(always)]
                || {
                    if OUT <= 32 {
                        forward::<T, IN, OUT, 8>(x, weight, bias, y)
                    } else if OUT <= 128 {
                        forward::<T, IN, OUT, 4>(x, weight, bias, y)
                    } else {
                        forward::<T, IN, OUT, 1>(x, weight, bias, y)
                    }
                },
            )
        });
}

/// The weight gradient: rows split into one even-sized run per thread; every row sums over
/// the batch in order, so the result does not depend on the thread count.
pub(crate) fn weight_grad_batch<T: Float, const IN: usize, const OUT: usize>(
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) {
    let (rows, _) = dw.as_chunks_mut::<OUT>();
    let per_task = IN
        .div_ceil(rayon::current_num_threads())
        .next_multiple_of(2)
        .max(2);
    rows.par_chunks_mut(per_task)
        .enumerate()
        .for_each(|(t, rows)| {
            super::run(
                #[inline(always)]
                || weight_grad_rows::<T, IN, OUT>(t * per_task, x, dy, rows),
            )
        });
}

/// The input gradient of a batch, one run of samples per thread.
pub(crate) fn input_grad_batch<T: Float, const IN: usize, const OUT: usize>(
    batch: usize,
    dy: &[T],
    weight: &[T],
    dx: &mut [T],
) {
    let n = super::samples_per_task(batch);
    dx.par_chunks_mut(n * IN)
        .zip(dy.par_chunks(n * OUT))
        .for_each(|(dx, dy)| {
            super::run(
                #[inline(always)]
                || input_grad::<T, IN, OUT, 4>(dy, weight, dx),
            )
        });
}
