//! Direct NHWC convolution kernels: forward, weight gradient and input gradient.
//!
//! Every function is `#[inline(always)]` so that it is compiled inside the caller's
//! target-feature wrapper (see [`super::run`]).

pub use super::ConvDims;
use super::conv_strided;
use crate::Float;
use rayon::prelude::*;

/// Output rows or columns `lo..hi` whose input index `o * s + k - p` (for kernel offset `k`)
/// lies inside `0..len`.
#[inline(always)]
pub(super) fn valid_range(k: usize, s: usize, p: usize, len: usize, out: usize) -> (usize, usize) {
    // o * s + k >= p  <=>  o >= ceil((p - k) / s)
    let lo = p.saturating_sub(k).div_ceil(s);
    // o * s + k - p < len  <=>  o * s < len + p - k  <=>  o < ceil((len + p - k) / s)
    let hi = (len + p).saturating_sub(k).div_ceil(s).min(out);
    (lo, hi.max(lo))
}

/// Output columns `lo..hi` for which every kernel column `0..k` reads inside the input.
#[inline(always)]
pub(super) fn interior(k: usize, s: usize, p: usize, len: usize, out: usize) -> (usize, usize) {
    let lo = p.div_ceil(s);
    let hi = if len + p >= k {
        ((len + p - k) / s + 1).min(out)
    } else {
        0
    };
    (lo, hi.max(lo))
}

/// Forward pass of `x.len() / in_len` samples: `y = conv(x, weight) + bias`.
///
/// For each output row, blocks of `PB` interior output pixels share each weight load (their
/// accumulators `[[T; OC]; PB]` stay in registers); edge pixels take the checked path. Per pixel
/// the sum runs in the reference order (bias, then kh, kw, ic), so the result is bit-identical to
/// [`super::reference::conv_forward`].
#[inline(always)]
pub(crate) fn forward<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
>(
    d: ConvDims,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) {
    let (taps, _) = weight.as_chunks::<OC>();
    let bias: [T; OC] = bias.as_chunks::<OC>().0[0];
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        let (out_px, _) = y.as_chunks_mut::<OC>();
        for oh in 0..d.oh {
            let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
            let out_row = &mut out_px[oh * d.ow..][..d.ow];
            let mut ow = 0;
            while ow < d.ow {
                if ow >= ow_lo && ow + PB <= ow_hi {
                    let mut acc = [bias; PB];
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        let x_row = &x[ih * d.w * IC..][..d.w * IC];
                        for kw in 0..K {
                            let first = (ow * S + kw - P) * IC;
                            let window = &x_row[first..][..(PB - 1) * S * IC + IC];
                            let rows = &taps[(kh * K + kw) * IC..][..IC];
                            for (ic, row) in rows.iter().enumerate() {
                                // The contiguous dimension outermost, the register block
                                // innermost: the order that LLVM's SLP vectoriser turns into
                                // one vector operation per `p` (the reverse order vectorises
                                // across `p` with gathers).
                                for o in 0..OC {
                                    for p in 0..PB {
                                        acc[p][o] =
                                            window[p * S * IC + ic].mul_add(row[o], acc[p][o]);
                                    }
                                }
                            }
                        }
                    }
                    out_row[ow..ow + PB].copy_from_slice(&acc);
                    ow += PB;
                } else {
                    let mut acc = bias;
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        for kw in 0..K {
                            let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                                continue;
                            };
                            let px = &x[(ih * d.w + iw) * IC..][..IC];
                            let rows = &taps[(kh * K + kw) * IC..][..IC];
                            for (&xv, row) in px.iter().zip(rows) {
                                for o in 0..OC {
                                    acc[o] = xv.mul_add(row[o], acc[o]);
                                }
                            }
                        }
                    }
                    out_row[ow] = acc;
                    ow += 1;
                }
            }
        }
    }
}

/// Kernel rows `lo..hi` that read inside the input for output row `o`.
#[inline(always)]
pub(super) fn valid_range_k(o: usize, k: usize, s: usize, p: usize, len: usize) -> (usize, usize) {
    let lo = p.saturating_sub(o * s).min(k);
    let hi = (len + p).saturating_sub(o * s).min(k);
    (lo, hi.max(lo))
}

/// Gradient rows `first_row .. first_row + dw.len()` of the weight gradient seen as rows
/// `[kh][kw][ic]` of `OC` values (`first_row` and `dw.len()` multiples of `ICB`, which divides
/// `IC`): `dw[ic][oc] = sum over samples and output pixels of x[ih][iw][ic] * dy[oh][ow][oc]`.
///
/// Samples and output rows are the outer loops and the task's gradient rows the inner one, so
/// each input and output-gradient row is read from memory once per task (not once per kernel
/// position) and reused from L1; each block of `ICB` gradient rows is loaded into registers,
/// updated from the output row's pixels and stored back. Every gradient value is one chain of
/// fused multiply-adds over the samples, then rows, then pixels in order, as in
/// [`super::reference::conv_weight_grad_block`] (so the two agree bit for bit): the result
/// depends neither on how the rows are split into tasks (the thread count) nor on the CPU.
#[inline(always)]
pub(crate) fn weight_grad_rows<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const ICB: usize,
>(
    d: ConvDims,
    first_row: usize,
    x: &[T],
    dy: &[T],
    dw: &mut [[T; OC]],
) {
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    for row in dw.iter_mut() {
        *row = [T::ZERO; OC];
    }
    let (blocks, _) = dw.as_chunks_mut::<ICB>();
    for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
        let (dy_px, _) = dy.as_chunks::<OC>();
        for oh in 0..d.oh {
            let dy_row = &dy_px[oh * d.ow..][..d.ow];
            for (b, block) in blocks.iter_mut().enumerate() {
                let row = first_row + b * ICB;
                let (tap, ic) = (row / IC, row % IC);
                let (kh, kw) = (tap / K, tap % K);
                let (oh_lo, oh_hi) = valid_range(kh, S, P, d.h, d.oh);
                if oh < oh_lo || oh >= oh_hi {
                    continue;
                }
                let (ow_lo, ow_hi) = valid_range(kw, S, P, d.w, d.ow);
                let ih = oh * S + kh - P;
                let x_row = &x[ih * d.w * IC..][..d.w * IC];
                let mut acc = *block;
                for (ow, dv) in dy_row.iter().enumerate().take(ow_hi).skip(ow_lo) {
                    let xv = &x_row[(ow * S + kw - P) * IC + ic..][..ICB];
                    // Contiguous dimension outermost: see `forward`.
                    for o in 0..OC {
                        for i in 0..ICB {
                            acc[i][o] = xv[i].mul_add(dv[o], acc[i][o]);
                        }
                    }
                }
                *block = acc;
            }
        }
    }
}

/// Weight gradient of the samples in `x` and `dy`, written to `dw` (rows `[kh][kw][ic]` of
/// `OC` values), for convolutions whose whole kernel row of gradients fits in registers (few
/// input channels, like a first layer on RGB images).
///
/// For an interior output pixel, the `K * IC` input values under one kernel row are contiguous,
/// so one output-gradient load serves `K * IC` multiply-adds into accumulators
/// `[[[T; OC]; IC]; K]` kept in registers along the output row. Edge pixels (where some kernel
/// columns fall in the padding) update `dw` directly, before and after the interior run. Every
/// gradient value sums the samples, output rows and pixels in a fixed order.
#[inline(always)]
pub(crate) fn weight_grad_window<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    x: &[T],
    dy: &[T],
    dw: &mut [[T; OC]],
) {
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    for row in dw.iter_mut() {
        *row = [T::ZERO; OC];
    }
    for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
        let (dy_px, _) = dy.as_chunks::<OC>();
        for oh in 0..d.oh {
            let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
            let dy_row = &dy_px[oh * d.ow..][..d.ow];
            for kh in kh_lo..kh_hi {
                let ih = oh * S + kh - P;
                let x_row = &x[ih * d.w * IC..][..d.w * IC];
                let rows = &mut dw[kh * K * IC..][..K * IC];
                let edge = |ow: usize, rows: &mut [[T; OC]]| {
                    for kw in 0..K {
                        let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                            continue;
                        };
                        for ic in 0..IC {
                            let xv = x_row[iw * IC + ic];
                            let row = &mut rows[kw * IC + ic];
                            for o in 0..OC {
                                row[o] = xv.mul_add(dy_row[ow][o], row[o]);
                            }
                        }
                    }
                };
                for ow in 0..ow_lo.min(d.ow) {
                    edge(ow, rows);
                }
                let mut acc = [[[T::ZERO; OC]; IC]; K];
                for kw in 0..K {
                    for ic in 0..IC {
                        acc[kw][ic] = rows[kw * IC + ic];
                    }
                }
                for ow in ow_lo..ow_hi {
                    let window = &x_row[(ow * S - P) * IC..][..K * IC];
                    let dv = &dy_row[ow];
                    // Contiguous dimension outermost: see `forward`.
                    for o in 0..OC {
                        for kw in 0..K {
                            for ic in 0..IC {
                                acc[kw][ic][o] =
                                    window[kw * IC + ic].mul_add(dv[o], acc[kw][ic][o]);
                            }
                        }
                    }
                }
                for kw in 0..K {
                    for ic in 0..IC {
                        rows[kw * IC + ic] = acc[kw][ic];
                    }
                }
                for ow in ow_hi.max(ow_lo)..d.ow {
                    edge(ow, rows);
                }
            }
        }
    }
}

/// `weight_t[kh][kw][oc][ic] = weight[kh][kw][ic][oc]`: the layout the input gradient reads.
#[inline(always)]
pub(crate) fn transpose_taps<T: Float, const IC: usize, const OC: usize>(
    weight: &[T],
    weight_t: &mut [T],
) {
    for (w, wt) in weight
        .chunks_exact(IC * OC)
        .zip(weight_t.chunks_exact_mut(IC * OC))
    {
        transpose_tap::<T, IC, OC>(w, wt);
    }
}

/// `wt[oc][ic] = w[ic][oc]` for one kernel tap, in blocks of 8 x 8 values. Row by row, the
/// writes of 128 or more input channels (512 bytes apart and more) fall into the same few L1
/// cache sets: the taps of a 128->128 3x3 layer took 353 µs that way and 44 µs in blocks, 256->256
/// 1,569 against 162 µs (one thread, Zen 5); at 16-64 channels both take 0.5-19 µs.
#[inline(always)]
fn transpose_tap<T: Float, const IC: usize, const OC: usize>(w: &[T], wt: &mut [T]) {
    const BLOCK: usize = 8;
    for ic0 in (0..IC).step_by(BLOCK) {
        for oc0 in (0..OC).step_by(BLOCK) {
            for oc in oc0..(oc0 + BLOCK).min(OC) {
                for ic in ic0..(ic0 + BLOCK).min(IC) {
                    wt[oc * IC + ic] = w[ic * OC + oc];
                }
            }
        }
    }
}

/// Input gradient of `dy.len() / out_len` samples: `dx[ih][iw][ic] = sum over output pixels and
/// taps reading it of weight[kh][kw][ic][:] . dy[oh][ow][:]`, from the transposed weights
/// (`[kh][kw][oc][ic]`, see [`transpose_taps`]) so that the inner loop runs over `ic`.
///
/// For each output pixel and kernel row, the `K` taps' contributions are summed over `oc` in
/// registers (`[[[T; IC]; K]; PB]` for `PB` adjacent interior output pixels), then added to
/// `dx`. Every index into the accumulators is a compile-time constant (edge pixels take a
/// separate one-pixel path): a run-time bound would keep them on the stack.
#[inline(always)]
pub(crate) fn input_grad<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
>(
    d: ConvDims,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) {
    let (taps_t, _) = weight_t.as_chunks::<IC>();
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    for (dy, dx) in dy.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
        dx.fill(T::ZERO);
        let (dx_px, _) = dx.as_chunks_mut::<IC>();
        let (dy_px, _) = dy.as_chunks::<OC>();
        for oh in 0..d.oh {
            let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
            let dy_row = &dy_px[oh * d.ow..][..d.ow];
            let mut ow = 0;
            while ow < d.ow {
                if ow >= ow_lo && ow + PB <= ow_hi {
                    let dy_block = &dy_row[ow..ow + PB];
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        let rows = &taps_t[kh * K * OC..][..K * OC];
                        let mut acc = [[[T::ZERO; IC]; K]; PB];
                        for oc in 0..OC {
                            let mut dv = [T::ZERO; PB];
                            for p in 0..PB {
                                dv[p] = dy_block[p][oc];
                            }
                            // Contiguous dimension (`i`) outermost: see `forward`.
                            for i in 0..IC {
                                for kw in 0..K {
                                    let w = rows[kw * OC + oc][i];
                                    for p in 0..PB {
                                        acc[p][kw][i] = dv[p].mul_add(w, acc[p][kw][i]);
                                    }
                                }
                            }
                        }
                        // Interior pixels: every tap reads inside the row, and every index
                        // into `acc` is a constant after unrolling (a run-time bound here
                        // would force `acc` onto the stack and spill it in the loop above).
                        let dx_row = &mut dx_px[ih * d.w..][..d.w];
                        let first = ow * S - P;
                        for p in 0..PB {
                            for kw in 0..K {
                                let px = &mut dx_row[first + p * S + kw];
                                for i in 0..IC {
                                    px[i] += acc[p][kw][i];
                                }
                            }
                        }
                    }
                    ow += PB;
                } else {
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        let rows = &taps_t[kh * K * OC..][..K * OC];
                        let mut acc = [[T::ZERO; IC]; K];
                        for oc in 0..OC {
                            let dv = dy_row[ow][oc];
                            for kw in 0..K {
                                let row = &rows[kw * OC + oc];
                                for i in 0..IC {
                                    acc[kw][i] = dv.mul_add(row[i], acc[kw][i]);
                                }
                            }
                        }
                        let dx_row = &mut dx_px[ih * d.w..][..d.w];
                        for (kw, a) in acc.iter().enumerate() {
                            let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                                continue;
                            };
                            for i in 0..IC {
                                dx_row[iw][i] += a[i];
                            }
                        }
                    }
                    ow += 1;
                }
            }
        }
    }
}

/// `db[oc] = sum over samples and pixels of dy[..][oc]`: four interleaved partial sums (pixel
/// index mod 4, so that four additions are in flight instead of one chain through every pixel
/// of the batch), combined as `(s0 + s1) + (s2 + s3)`: a fixed order, the same on every CPU.
#[inline(always)]
pub(crate) fn bias_grad<T: Float, const OC: usize>(dy: &[T], db: &mut [T]) {
    let mut acc = [[T::ZERO; OC]; 4];
    let (quads, rest) = dy.as_chunks::<OC>().0.as_chunks::<4>();
    for quad in quads {
        for j in 0..4 {
            for o in 0..OC {
                acc[j][o] += quad[j][o];
            }
        }
    }
    for (j, px) in rest.iter().enumerate() {
        for o in 0..OC {
            acc[j][o] += px[o];
        }
    }
    for o in 0..OC {
        db[o] = (acc[0][o] + acc[1][o]) + (acc[2][o] + acc[3][o]);
    }
}

/// Working memory (values) that [`forward_batch`], [`weight_grad_batch`] and
/// [`input_grad_batch`] of a `Conv2d<IC, OC, K, S, P>` in `T` need: Winograd's transformed
/// weights, and for the weight gradient two sets of transformed sums (see
/// [`super::winograd`]); none for the direct kernels.
pub(crate) const fn scratch_len<T>(ic: usize, oc: usize, k: usize, s: usize, p: usize) -> usize {
    2 * forward_scratch_len::<T>(ic, oc, k, s, p)
}

/// The part of [`scratch_len`] that [`forward_batch`] uses: the transformed weights.
pub(crate) const fn forward_scratch_len<T>(
    ic: usize,
    oc: usize,
    k: usize,
    s: usize,
    p: usize,
) -> usize {
    if super::winograd::applies::<T>(ic, oc, k, s, p) {
        super::winograd::transformed_len(ic, oc)
    } else {
        0
    }
}

/// The whole forward pass of a batch: samples split into one run per thread, each run compiled
/// for the CPU's best instruction set. The pixel block grows as `OC` shrinks, to keep the
/// accumulators (`PB * OC` values) in registers; the blocks were measured on the SmallCnn
/// (AVX-512, f32: 16 pixels for conv1, 8 for conv2). `scratch` holds at least
/// [`forward_scratch_len`] values (Winograd's transformed weights; their contents on entry do
/// not matter).
pub(crate) fn forward_batch<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    batch: usize,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
    scratch: &mut [T],
) {
    let n = super::samples_per_task(batch, d.out_len(OC) * K * K * IC);
    if const { super::winograd::applies::<T>(IC, OC, K, S, P) } {
        // The weights transformed once per call, shared by the tasks.
        let u = super::winograd::transformed_mut::<T, IC, OC>(scratch);
        super::winograd::transform_weights::<T, IC, OC>(weight, u);
        let u = &*u;
        y.par_chunks_mut(n * d.out_len(OC))
            .zip(x.par_chunks(n * d.in_len(IC)))
            .for_each(|(y, x)| {
                #[cfg(target_arch = "x86_64")]
                if super::simd::winograd_forward::<T, IC, OC>(
                    super::Isa::detected(),
                    d,
                    x,
                    u,
                    bias,
                    y,
                ) {
                    return;
                }
                super::run(
                    #[inline(always)]
                    || {
                        super::winograd::forward::<T, IC, OC>(
                            d,
                            x,
                            u,
                            bias,
                            y,
                            &super::winograd::Generic,
                        )
                    },
                )
            });
        return;
    }
    y.par_chunks_mut(n * d.out_len(OC))
        .zip(x.par_chunks(n * d.in_len(IC)))
        .for_each(|(y, x)| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::conv_forward::<T, IC, OC, K, S, P>(
                super::Isa::detected(),
                d,
                x,
                weight,
                bias,
                y,
            ) {
                return;
            }
            super::run(
                #[inline(always)]
                || {
                    if const { OC <= 16 } {
                        forward::<T, IC, OC, K, S, P, 16>(d, x, weight, bias, y)
                    } else if const { OC <= 32 } {
                        forward::<T, IC, OC, K, S, P, 8>(d, x, weight, bias, y)
                    } else if const { OC <= 64 } {
                        forward::<T, IC, OC, K, S, P, 3>(d, x, weight, bias, y)
                    } else {
                        forward::<T, IC, OC, K, S, P, 1>(d, x, weight, bias, y)
                    }
                },
            )
        });
}

/// `half(x, dy, out)` on the batch's two fixed halves (the first takes the odd sample), each
/// with its own `out`, on two threads when the work (`work_per_sample` multiply-adds per output
/// value) is worth it. The split does not depend on the thread count, so neither do the sums.
fn on_batch_halves<T: Float, O: Send>(
    d: ConvDims,
    (x, in_c): (&[T], usize),
    (dy, out_c): (&[T], usize),
    work_per_sample: usize,
    (out0, out1): (O, O),
    half: impl Fn(&[T], &[T], O) + Sync,
) {
    let batch = x.len() / d.in_len(in_c);
    let first = batch.div_ceil(2);
    let (x0, x1) = x.split_at(first * d.in_len(in_c));
    let (dy0, dy1) = dy.split_at(first * d.out_len(out_c));
    if super::tasks_for(batch * d.out_len(out_c) * work_per_sample) > 1 {
        rayon::join(|| half(x0, dy0, out0), || half(x1, dy1, out1));
    } else {
        half(x0, dy0, out0);
        half(x1, dy1, out1);
    }
}

/// The whole weight gradient: one task per thread, each a run of gradient rows summed over the
/// whole batch in order (so the result does not depend on the thread count). `scratch`: see
/// [`scratch_len`].
pub(crate) fn weight_grad_batch<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
    partial: &mut [T],
    scratch: &mut [T],
) {
    if const { super::winograd::applies::<T>(IC, OC, K, S, P) } {
        // Winograd: sums over the tiles in the transformed domain, one set per fixed half of
        // the batch, added at the end.
        let half = |x: &[T], dy: &[T], m: &mut super::winograd::Transformed<T, IC, OC>| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::winograd_weight_grad::<T, IC, OC>(super::Isa::detected(), d, x, dy, m) {
                return;
            }
            super::run(
                #[inline(always)]
                || {
                    super::winograd::weight_grad_transformed::<T, IC, OC>(
                        d,
                        x,
                        dy,
                        m,
                        &super::winograd::Generic,
                    )
                },
            )
        };
        let len = super::winograd::transformed_len(IC, OC);
        let (m0, m1) = scratch[..2 * len].split_at_mut(len);
        m0.fill(T::ZERO);
        m1.fill(T::ZERO);
        let m0 = super::winograd::transformed_mut::<T, IC, OC>(m0);
        let m1 = super::winograd::transformed_mut::<T, IC, OC>(m1);
        on_batch_halves(d, (x, IC), (dy, OC), K * K * IC, (&mut *m0, &mut *m1), half);
        super::winograd::weight_grad_from_transformed::<T, IC, OC>(m0, m1, dw);
        return;
    }
    if const { K * IC * OC * size_of::<T>() <= 1024 } {
        // Few input channels: whole kernel rows in registers, one sum per fixed half of the
        // batch, added in order.
        let half = |x: &[T], dy: &[T], dw: &mut [T]| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::conv_weight_grad_window::<T, IC, OC, K, S, P>(
                super::Isa::detected(),
                d,
                x,
                dy,
                dw,
            ) {
                return;
            }
            super::run(
                #[inline(always)]
                || weight_grad_window::<T, IC, OC, K, S, P>(d, x, dy, dw.as_chunks_mut::<OC>().0),
            )
        };
        on_batch_halves(
            d,
            (x, IC),
            (dy, OC),
            K * K * IC,
            (&mut *dw, &mut *partial),
            half,
        );
        for (g, p) in dw.iter_mut().zip(partial.iter()) {
            *g += *p;
        }
    } else if const { IC.is_multiple_of(4) && OC.is_multiple_of(8) }
        && T::as_f32(&[]).is_some()
        && super::Isa::detected() != super::Isa::Portable
    {
        // The hand-written kernel (`simd::conv_weight_grad_rows`) for any `OC` a multiple of
        // the vector width, in tasks of whole blocks of 8 rows where `IC` allows (its tiles
        // of 8 rows), else 4 (any block size gives the same bits).
        if const { IC.is_multiple_of(8) } {
            weight_grad_blocks::<T, IC, OC, K, S, P, 8>(d, x, dy, dw)
        } else {
            weight_grad_blocks::<T, IC, OC, K, S, P, 4>(d, x, dy, dw)
        }
    } else if const { IC.is_multiple_of(4) && OC <= 32 } {
        // AVX2 has half AVX-512's registers: four rows' accumulators spill there (conv2 of the
        // SmallCnn under AVX2: ~2.1 ms per batch of 64 with four rows, ~1.47 ms with two).
        if super::Isa::detected() == super::Isa::Avx2 {
            weight_grad_blocks::<T, IC, OC, K, S, P, 2>(d, x, dy, dw)
        } else {
            weight_grad_blocks::<T, IC, OC, K, S, P, 4>(d, x, dy, dw)
        }
    } else if const { IC.is_multiple_of(3) && OC <= 32 } {
        weight_grad_blocks::<T, IC, OC, K, S, P, 3>(d, x, dy, dw)
    } else if const { IC.is_multiple_of(2) && OC <= 64 } {
        weight_grad_blocks::<T, IC, OC, K, S, P, 2>(d, x, dy, dw)
    } else {
        weight_grad_blocks::<T, IC, OC, K, S, P, 1>(d, x, dy, dw)
    }
}

fn weight_grad_blocks<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const ICB: usize,
>(
    d: ConvDims,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) {
    // One task per thread, each a contiguous run of whole `ICB`-row blocks (any split gives
    // the same result, see `weight_grad_rows`).
    let blocks = K * K * IC / ICB;
    let work = x.len() / d.in_len(IC) * d.out_len(OC) * K * K * IC;
    let rows_per_task = blocks.div_ceil(super::tasks_for(work)).max(1) * ICB;
    let (rows, _) = dw.as_chunks_mut::<OC>();
    rows.par_chunks_mut(rows_per_task)
        .enumerate()
        .for_each(|(task, rows)| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::conv_weight_grad_rows::<T, IC, OC, K, S, P, ICB>(
                super::Isa::detected(),
                d,
                task * rows_per_task,
                x,
                dy,
                rows.as_flattened_mut(),
            ) {
                return;
            }
            super::run(
                #[inline(always)]
                || {
                    weight_grad_rows::<T, IC, OC, K, S, P, ICB>(
                        d,
                        task * rows_per_task,
                        x,
                        dy,
                        rows,
                    )
                },
            )
        });
}

/// Whether the input gradient of a `Conv2d<IN_C, _, K, S, P>` runs as a forward convolution
/// (see [`input_grad_batch`]): stride 1, a padding smaller than the kernel (and `K - 1 - P` at
/// most 6), and more than one input channel.
pub(crate) const fn input_grad_as_forward(in_c: usize, k: usize, s: usize, p: usize) -> bool {
    // One input channel would make a forward pass with one output channel, which has nothing
    // to vectorise: LeNet's 1->8 5x5 input gradient took 4.6 ms per batch of 64 that way
    // against 2.5 ms with `input_grad` (AVX2, one thread).
    s == 1 && p < k && k - 1 - p <= 6 && in_c > 1
}

/// The weights [`input_grad_batch`] reads, written from `weight` (`[kh][kw][ic][oc]`): with
/// [`input_grad_as_forward`], the kernel turned by 180 degrees with its channels swapped,
/// `[K-1-kh][K-1-kw][oc][ic]`; otherwise [`transpose_taps`]'s `[kh][kw][oc][ic]`.
pub(crate) fn input_grad_weights<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    weight: &[T],
    weight_t: &mut [T],
) {
    if const { !input_grad_as_forward(IC, K, S, P) } {
        return transpose_taps::<T, IC, OC>(weight, weight_t);
    }
    // Taps `[kh][kw]` in row-major order: reversing their order turns the kernel by 180 degrees.
    let taps = K * K;
    for (t, wt) in weight_t.chunks_exact_mut(IC * OC).enumerate() {
        transpose_tap::<T, IC, OC>(&weight[(taps - 1 - t) * IC * OC..][..IC * OC], wt);
    }
}

/// The whole input gradient of a batch, one run of samples per thread, from the weights
/// written by [`input_grad_weights`].
///
/// With stride 1 and `P < K` (see [`input_grad_as_forward`]), `dx[ih][iw][ic] = sum over kh, kw,
/// oc of dy[ih + P - kh][iw + P - kw][oc] * weight[kh][kw][ic][oc]` is the forward convolution
/// of `dy` (`OC` channels) with the turned kernel (`IC` output channels, no bias) and padding
/// `K - 1 - P`: it runs the forward kernels, the fastest in this module (on AVX2 ~1.6-2x the
/// dedicated input-gradient kernel's throughput at 16-64 channels, which reads each weight
/// once per output pixel instead of once per block of pixels). Other strides gather each input
/// pixel's sum by phase ([`conv_strided`]) with 32 or more input channels, and otherwise
/// scatter each output pixel's contributions with [`input_grad`]. `scratch`: see
/// [`scratch_len`].
pub(crate) fn input_grad_batch<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    batch: usize,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
    scratch: &mut [T],
) {
    if const { input_grad_as_forward(IC, K, S, P) } {
        let turned = ConvDims {
            h: d.oh,
            w: d.ow,
            oh: d.h,
            ow: d.w,
        };
        let no_bias = [T::ZERO; IC];
        // The padding `K - 1 - P` as a const argument: stable Rust cannot compute one from
        // `K` and `P`, so pick the literal (`input_grad_as_forward` keeps it within 0..=6).
        // A run-time padding instead cost the forward kernels up to 18 % (3->16 @32x32 on
        // AVX2).
        macro_rules! turned_forward {
            ($($pad:literal)*) => {$(
                if const { (K - 1).saturating_sub(P) == $pad } {
                    return forward_batch::<T, OC, IC, K, 1, $pad>(
                        turned, batch, dy, weight_t, &no_bias, dx, scratch,
                    );
                }
            )*};
        }
        turned_forward!(0 1 2 3 4 5 6);
    }
    if const { conv_strided::gathers(IC) } {
        return conv_strided::input_grad_batch::<T, IC, OC, K, S, P>(d, batch, dy, weight_t, dx);
    }
    let n = super::samples_per_task(batch, d.out_len(OC) * K * K * IC);
    dx.par_chunks_mut(n * d.in_len(IC))
        .zip(dy.par_chunks(n * d.out_len(OC)))
        .for_each(|(dx, dy)| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::conv_input_grad::<T, IC, OC, K, S, P>(
                super::Isa::detected(),
                d,
                dy,
                weight_t,
                dx,
            ) {
                return;
            }
            super::run(
                #[inline(always)]
                || {
                    // As many output pixels per block as keep the accumulators (`PB * K *
                    // IC` values) within 24 AVX-512 registers: on conv2 of the SmallCnn, 8
                    // pixels took ~1.0 ms per batch of 64 against ~1.2 ms for 4, ~1.7 ms for 2
                    // (alternated `bench_train --layers` runs).
                    if const { K * IC * size_of::<T>() <= 192 } {
                        input_grad::<T, IC, OC, K, S, P, 8>(d, dy, weight_t, dx)
                    } else if const { K * IC * size_of::<T>() <= 384 } {
                        input_grad::<T, IC, OC, K, S, P, 4>(d, dy, weight_t, dx)
                    } else if const { K * IC * size_of::<T>() <= 768 } {
                        input_grad::<T, IC, OC, K, S, P, 2>(d, dy, weight_t, dx)
                    } else {
                        input_grad::<T, IC, OC, K, S, P, 1>(d, dy, weight_t, dx)
                    }
                },
            )
        });
}
