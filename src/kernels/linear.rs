//! Fully connected kernels: forward, weight gradient, input gradient.

use super::Isa;
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
                let mut xv = [T::ZERO; NB];
                for s in 0..NB {
                    xv[s] = xb[s][i];
                }
                // Contiguous dimension outermost: see `conv::forward`.
                for o in 0..OUT {
                    for s in 0..NB {
                        acc[s][o] = xv[s].mul_add(row[o], acc[s][o]);
                    }
                }
            }
            yb.copy_from_slice(&acc);
        } else {
            for (xs, ys) in xb.iter().zip(yb) {
                let mut acc = bias;
                for (&xv, row) in xs.iter().zip(rows) {
                    for o in 0..OUT {
                        acc[o] = xv.mul_add(row[o], acc[o]);
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
                acc[0][o] = a.mul_add(d[o], acc[0][o]);
                acc[1][o] = b.mul_add(d[o], acc[1][o]);
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
                acc[o] = a.mul_add(d[o], acc[o]);
            }
        }
        *row = acc;
    }
}

/// `weight_t[o][i] = weight[i][o]`, for the output rows `o0 .. o0 + weight_t.len() / IN`.
#[inline(always)]
pub(crate) fn transpose_rows<T: Float, const IN: usize, const OUT: usize>(
    o0: usize,
    weight: &[T],
    weight_t: &mut [T],
) {
    let (rows, _) = weight.as_chunks::<OUT>();
    let (rows_t, _) = weight_t.as_chunks_mut::<IN>();
    for (i, row) in rows[..IN].iter().enumerate() {
        for (o, row_t) in rows_t.iter_mut().enumerate() {
            row_t[i] = row[o0 + o];
        }
    }
}

/// Columns `i0 .. i0 + IW` of the input gradient of `NB` samples, from the transposed weights:
/// `dx[s][i] = sum over o of dy[s][o] * weight_t[o][i]`, summed over `o` in order (so the
/// result does not depend on `NB`, `IW` or the CPU). The `NB x IW` accumulators stay in
/// registers; each weight vector serves `NB` samples.
#[inline(always)]
fn input_grad_block<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const IW: usize,
>(
    i0: usize,
    dys: &[[T; OUT]],
    rows_t: &[[T; IN]],
    dxs: &mut [[T; IN]],
) {
    let mut acc = [[T::ZERO; IW]; NB];
    for (o, row_t) in rows_t[..OUT].iter().enumerate() {
        let w: &[T; IW] = row_t[i0..][..IW].try_into().expect("IW values");
        let mut dv = [T::ZERO; NB];
        for s in 0..NB {
            dv[s] = dys[s][o];
        }
        // Contiguous dimension outermost: see `conv::forward`.
        for i in 0..IW {
            for s in 0..NB {
                acc[s][i] = dv[s].mul_add(w[i], acc[s][i]);
            }
        }
    }
    for s in 0..NB {
        dxs[s][i0..][..IW].copy_from_slice(&acc[s]);
    }
}

/// All columns of the input gradient of `NB` samples: blocks of `IW` columns, then of 16, then
/// single columns.
#[inline(always)]
fn input_grad_samples<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const IW: usize,
>(
    dys: &[[T; OUT]],
    rows_t: &[[T; IN]],
    dxs: &mut [[T; IN]],
) {
    let mut i0 = 0;
    while i0 + IW <= IN {
        input_grad_block::<T, IN, OUT, NB, IW>(i0, dys, rows_t, dxs);
        i0 += IW;
    }
    while i0 + 16 <= IN {
        input_grad_block::<T, IN, OUT, NB, 16>(i0, dys, rows_t, dxs);
        i0 += 16;
    }
    while i0 < IN {
        input_grad_block::<T, IN, OUT, NB, 1>(i0, dys, rows_t, dxs);
        i0 += 1;
    }
}

/// Input gradient of every sample of `dy`, `dx = dy . W^T`, from the transposed weights
/// (`[OUT][IN]`, see [`transpose_rows`]): blocks of `NB` samples times `IW` columns.
#[inline(always)]
pub(crate) fn input_grad<
    T: Float,
    const IN: usize,
    const OUT: usize,
    const NB: usize,
    const IW: usize,
>(
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) {
    let (rows_t, _) = weight_t.as_chunks::<IN>();
    let (dys, _) = dy.as_chunks::<OUT>();
    let (dxs, _) = dx.as_chunks_mut::<IN>();
    for (db, xb) in dys.chunks(NB).zip(dxs.chunks_mut(NB)) {
        if db.len() == NB {
            input_grad_samples::<T, IN, OUT, NB, IW>(db, rows_t, xb);
        } else {
            for (d, x) in db.chunks(1).zip(xb.chunks_mut(1)) {
                input_grad_samples::<T, IN, OUT, 1, IW>(d, rows_t, x);
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
    let n = super::samples_per_task(batch, IN * OUT);
    y.par_chunks_mut(n * OUT)
        .zip(x.par_chunks(n * IN))
        .for_each(|(y, x)| forward_on::<T, IN, OUT>(Isa::detected(), x, weight, bias, y));
}

/// [`forward`] of every sample of `x` compiled for `isa`: the vector kernel where it applies
/// (`f32`), else the generic one.
pub(crate) fn forward_on<T: Float, const IN: usize, const OUT: usize>(
    isa: Isa,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::linear_simd::forward::<T, IN, OUT>(isa, x, weight, bias, y) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || {
            if const { OUT <= 32 } {
                forward::<T, IN, OUT, 8>(x, weight, bias, y)
            } else if const { OUT <= 128 } {
                forward::<T, IN, OUT, 4>(x, weight, bias, y)
            } else {
                forward::<T, IN, OUT, 1>(x, weight, bias, y)
            }
        },
    )
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
        .div_ceil(super::tasks_for(x.len() * OUT))
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

/// `weight_t = weight` transposed (`[OUT][IN]`), the rows split into one run per thread.
pub(crate) fn transpose_batch<T: Float, const IN: usize, const OUT: usize>(
    weight: &[T],
    weight_t: &mut [T],
) {
    let per_task = OUT.div_ceil(super::tasks_for(IN * OUT)).max(1);
    weight_t
        .par_chunks_mut(per_task * IN)
        .enumerate()
        .for_each(|(t, rows_t)| {
            super::run(
                #[inline(always)]
                || transpose_rows::<T, IN, OUT>(t * per_task, weight, rows_t),
            )
        });
}

/// The input gradient of a batch from the transposed weights (see [`transpose_batch`]), one
/// run of samples per thread. Blocks of 4 samples times 256 bytes of columns (16 AVX-512
/// accumulators).
pub(crate) fn input_grad_batch<T: Float, const IN: usize, const OUT: usize>(
    batch: usize,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) {
    let n = super::samples_per_task(batch, IN * OUT);
    dx.par_chunks_mut(n * IN)
        .zip(dy.par_chunks(n * OUT))
        .for_each(|(dx, dy)| input_grad_on::<T, IN, OUT>(Isa::detected(), dy, weight_t, dx));
}

/// [`input_grad`] of every sample of `dy` compiled for `isa`: the vector kernel where it
/// applies (`f32`), else the generic one.
pub(crate) fn input_grad_on<T: Float, const IN: usize, const OUT: usize>(
    isa: Isa,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) {
    #[cfg(target_arch = "x86_64")]
    if super::linear_simd::input_grad::<T, IN, OUT>(isa, dy, weight_t, dx) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || {
            if const { size_of::<T>() == 4 } {
                input_grad::<T, IN, OUT, 4, 64>(dy, weight_t, dx)
            } else {
                input_grad::<T, IN, OUT, 4, 32>(dy, weight_t, dx)
            }
        },
    )
}
