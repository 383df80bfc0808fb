//! Max-pooling kernels, vectorised over channels (innermost in NHWC).

use super::{Isa, PoolDims};
use crate::Float;
use rayon::prelude::*;

/// Max pooling of every sample of `x`. Per output pixel, the window's pixels are compared in
/// row-major order with a strict `>` (or NaN), so the value is the reference's (first maximum,
/// or NaN).
#[inline(always)]
pub(crate) fn forward<T: Float>(d: PoolDims, x: &[T], y: &mut [T]) {
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        for oh in 0..d.oh {
            for ow in 0..d.ow {
                let out = &mut y[(oh * d.ow + ow) * d.c..][..d.c];
                let pixel = |ph: usize, pw: usize| {
                    &x[((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c..][..d.c]
                };
                out.copy_from_slice(pixel(0, 0));
                for ph in 0..d.pool {
                    for pw in 0..d.pool {
                        for (m, &v) in out.iter_mut().zip(pixel(ph, pw)) {
                            if v > *m || v.is_nan() {
                                *m = v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Input gradient of every sample: each output's gradient goes to the first maximum of its
/// window (row-major), accumulated since windows may overlap.
///
/// Channels go in groups of `L`: the window is scanned once to find each lane's winning
/// position (strict `>`, so the first maximum; or the last NaN), then every window position gets the gradient
/// where it won and `+0` elsewhere, as whole vectors instead of one scattered value per
/// channel. `dx` starts at `+0` and is never `-0`, so adding `+0` changes no bit: the result
/// is the reference's. Leftover channels (`c % L`) take the reference's scalar path. When the
/// windows do not overlap (stride at least the window), each covered position is stored once
/// instead of zeroed and then added to.
#[inline(always)]
pub(crate) fn backward<T: Float>(d: PoolDims, x: &[T], dy: &[T], dx: &mut [T]) {
    const L: usize = 16;
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    let groups = d.c / L;
    for ((x, dy), dx) in x
        .chunks_exact(in_len)
        .zip(dy.chunks_exact(out_len))
        .zip(dx.chunks_exact_mut(in_len))
    {
        let disjoint = zero_uncovered(d, dx, groups * L == d.c);
        for oh in 0..d.oh {
            for ow in 0..d.ow {
                let at = |ph: usize, pw: usize| ((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c;
                let g = &dy[(oh * d.ow + ow) * d.c..][..d.c];
                for group in 0..groups {
                    let c0 = group * L;
                    let lanes = |ph: usize, pw: usize| -> [T; L] {
                        x[at(ph, pw) + c0..][..L].try_into().expect("L values")
                    };
                    let mut best = lanes(0, 0);
                    let mut winner = [0u32; L];
                    for ph in 0..d.pool {
                        for pw in 0..d.pool {
                            let v = lanes(ph, pw);
                            let position = (ph * d.pool + pw) as u32;
                            for l in 0..L {
                                if v[l] > best[l] || v[l].is_nan() {
                                    best[l] = v[l];
                                    winner[l] = position;
                                }
                            }
                        }
                    }
                    let g: &[T; L] = g[c0..][..L].try_into().expect("L values");
                    for ph in 0..d.pool {
                        for pw in 0..d.pool {
                            let position = (ph * d.pool + pw) as u32;
                            let out: &mut [T; L] = (&mut dx[at(ph, pw) + c0..][..L])
                                .try_into()
                                .expect("L values");
                            if disjoint {
                                // `0 + g`, as the reference's `+=` into zeros (which turns a
                                // gradient of -0 into +0).
                                for l in 0..L {
                                    out[l] = T::ZERO
                                        + if winner[l] == position { g[l] } else { T::ZERO };
                                }
                            } else {
                                for l in 0..L {
                                    out[l] += if winner[l] == position { g[l] } else { T::ZERO };
                                }
                            }
                        }
                    }
                }
                for (c, &gv) in g.iter().enumerate().skip(groups * L) {
                    let (at, _) = super::reference::pool_argmax(d, x, oh, ow, c);
                    dx[at] += gv;
                }
            }
        }
    }
}

/// Zeros in one sample's input gradient `dx` where the window loop will add to it, and whether
/// that loop may store instead of add (the result). With disjoint windows (stride at least the
/// window) whose channels all go in whole vector groups (`whole_groups`), every position a
/// window covers is written exactly once, so only the others get zeros; otherwise all of `dx`.
pub(crate) fn zero_uncovered<T: Float>(d: PoolDims, dx: &mut [T], whole_groups: bool) -> bool {
    let disjoint = d.s >= d.pool && whole_groups;
    if disjoint {
        let covered = |i: usize, outs: usize| i % d.s < d.pool && i / d.s < outs;
        for (ih, row) in dx.chunks_exact_mut(d.w * d.c).enumerate() {
            for (iw, px) in row.chunks_exact_mut(d.c).enumerate() {
                if !(covered(ih, d.oh) && covered(iw, d.ow)) {
                    px.fill(T::ZERO);
                }
            }
        }
    } else {
        dx.fill(T::ZERO);
    }
    disjoint
}

/// [`backward`] of every sample of `x`, compiled for `isa`: the vector kernel where it applies
/// (`f32`, channels a multiple of 8), else the generic one.
pub(crate) fn backward_on<T: Float>(isa: Isa, d: PoolDims, x: &[T], dy: &[T], dx: &mut [T]) {
    #[cfg(target_arch = "x86_64")]
    if super::pool_simd::backward(isa, d, x, dy, dx) {
        return;
    }
    super::run_on(
        isa,
        #[inline(always)]
        || backward(d, x, dy, dx),
    )
}

/// Forward pass of a batch, one run of samples per thread.
pub(crate) fn forward_batch<T: Float>(d: PoolDims, batch: usize, x: &[T], y: &mut [T]) {
    let n = super::samples_per_task(batch, d.oh * d.ow * d.c * d.pool * d.pool);
    y.par_chunks_mut(n * d.oh * d.ow * d.c)
        .zip(x.par_chunks(n * d.h * d.w * d.c))
        .for_each(|(y, x)| {
            super::run(
                #[inline(always)]
                || forward(d, x, y),
            )
        });
}

/// Input gradient of a batch, one run of samples per thread.
pub(crate) fn backward_batch<T: Float>(d: PoolDims, batch: usize, x: &[T], dy: &[T], dx: &mut [T]) {
    let n = super::samples_per_task(batch, d.oh * d.ow * d.c * d.pool * d.pool);
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    dx.par_chunks_mut(n * in_len)
        .zip(x.par_chunks(n * in_len).zip(dy.par_chunks(n * out_len)))
        .for_each(|(dx, (x, dy))| backward_on(Isa::detected(), d, x, dy, dx));
}
