//! The input gradient of a convolution with stride `S > 1`, gathered by phase: each input
//! value's sum is formed in registers and written once.
//!
//! Input row `ih` is reached by the kernel rows `kh ≡ ih + P (mod S)`, each from output row
//! `oh = (ih + P - kh) / S`; columns likewise. So the columns of an input row fall into `S`
//! phases (`iw mod S`): every column of one phase is reached by the same kernel columns, and
//! consecutive columns of a phase read consecutive output pixels. Away from the edges, a block
//! of `PB` columns of one phase therefore shares every weight load, as the forward pass's pixel
//! blocks do, and `dx` is only written (scattering output pixel by output pixel instead adds
//! each kernel tap's contribution to `dx` in memory: a read, an add and a write per tap).
//!
//! Each input value is one chain of fused multiply-adds from zero over the kernel rows, then
//! the kernel columns (both ascending), then the output channels: the same order for edge and
//! interior columns, here and in the vector kernel (`simd.rs`), so every instruction set and
//! thread count gives the same bits. The reference sums output pixel by output pixel, so the
//! two are compared within a tolerance.
//!
//! It runs for 32 or more input channels (see [`gathers`]). With fewer, one register holds
//! a pixel's channels, and each broadcast output-gradient value feeds one multiply-add here
//! against `K` in the scatter kernel ([`super::conv::input_grad`]), which is then faster.

use super::ConvDims;
use crate::Float;
use rayon::prelude::*;

/// Whether the input gradient of a strided convolution with `ic` input channels gathers by
/// phase (here) rather than scattering ([`super::conv::input_grad`]). It depends on the layer
/// alone, so that every instruction set sums in the same order. One Zen 5 core, batch 64,
/// AVX-512: 32->64 3x3 stride 2 @16x16 ~930 -> ~665 µs; 16->32 @32x32 ~750 -> ~820 µs (so 16
/// channels stay with the scatter kernel).
pub(crate) const fn gathers(ic: usize) -> bool {
    ic.is_multiple_of(32)
}

/// The kernel taps along one dimension that reach the input indices `b + S * j` of one phase
/// `b < S`: taps `first + S * t` for `t in 0..count`, tap `t` reading output index
/// `j + base - t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase {
    /// The lowest kernel index that reaches the phase.
    pub first: usize,
    /// How many kernel indices reach it (`first`, `first + S`, ...; 0 if none does).
    pub count: usize,
    /// The output index the first tap reads for `j = 0`.
    pub base: usize,
}

impl Phase {
    /// The taps of a kernel of size `k`, stride `s` and padding `p` that reach the input indices
    /// `i ≡ b (mod s)`.
    pub(crate) const fn new(b: usize, k: usize, s: usize, p: usize) -> Phase {
        let first = (b + p) % s;
        let count = if first < k {
            (k - first).div_ceil(s)
        } else {
            0
        };
        Phase {
            first,
            count,
            base: (b + p) / s,
        }
    }

    /// The output index that tap `t` reads for the phase's input index `j`, if it is one of the
    /// `out` output indices.
    #[inline(always)]
    pub(crate) fn source(self, j: usize, t: usize, out: usize) -> Option<usize> {
        (j + self.base).checked_sub(t).filter(|&o| o < out)
    }

    /// The phase's input indices `j in lo..hi` (of its `n`) whose every tap reads one of the
    /// `out` output indices (all of them if no tap reaches the phase).
    #[inline(always)]
    pub(crate) fn interior(self, n: usize, out: usize) -> (usize, usize) {
        if self.count == 0 {
            return (0, n);
        }
        let lo = (self.count - 1).saturating_sub(self.base);
        let hi = n.min(out.saturating_sub(self.base));
        (lo, hi.max(lo))
    }
}

/// How many of the indices `0..len` are in phase `b` (`≡ b mod s`).
#[inline(always)]
pub(crate) fn phase_len(b: usize, s: usize, len: usize) -> usize {
    len.saturating_sub(b).div_ceil(s)
}

/// The kernel rows that reach input row `ih`, ascending, each with the output row it reads:
/// the first `.1` entries of `.0`.
#[inline(always)]
pub(crate) fn row_taps<const K: usize, const S: usize, const P: usize>(
    ih: usize,
    oh_len: usize,
) -> ([(usize, usize); K], usize) {
    let phase = Phase::new(ih % S, K, S, P);
    let mut taps = [(0, 0); K];
    let mut n = 0;
    for t in 0..phase.count {
        if let Some(oh) = phase.source(ih / S, t, oh_len) {
            taps[n] = (phase.first + S * t, oh);
            n += 1;
        }
    }
    (taps, n)
}

/// One input pixel's gradient (phase `col`, index `j` in it), with every tap's bounds checked:
/// `Σ_kh Σ_kw Σ_oc dy[oh][ow][oc] * weight_t[kh][kw][oc][..]` in that order. `rows`:
/// [`row_taps`]' entries; `dy_px`: one sample's output-gradient pixels; `taps`: the rows
/// `[kh][kw][oc]` of the transposed weights.
#[inline(always)]
pub(crate) fn pixel<T: Float, const IC: usize, const OC: usize, const K: usize, const S: usize>(
    rows: &[(usize, usize)],
    col: Phase,
    j: usize,
    ow_len: usize,
    dy_px: &[[T; OC]],
    taps: &[[T; IC]],
) -> [T; IC] {
    let mut acc = [T::ZERO; IC];
    for &(kh, oh) in rows {
        for t in 0..col.count {
            let Some(ow) = col.source(j, t, ow_len) else {
                continue;
            };
            let g = &dy_px[oh * ow_len + ow];
            let w = &taps[(kh * K + col.first + S * t) * OC..][..OC];
            for oc in 0..OC {
                let dv = g[oc];
                for i in 0..IC {
                    acc[i] = dv.mul_add(w[oc][i], acc[i]);
                }
            }
        }
    }
    acc
}

/// `PB` interior input pixels of phase `col`, from index `j`: [`pixel`]'s sums, every weight
/// load shared by the block.
#[inline(always)]
fn block<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const PB: usize,
>(
    rows: &[(usize, usize)],
    col: Phase,
    j: usize,
    ow_len: usize,
    dy_px: &[[T; OC]],
    taps: &[[T; IC]],
) -> [[T; IC]; PB] {
    let mut acc = [[T::ZERO; IC]; PB];
    for &(kh, oh) in rows {
        for t in 0..col.count {
            let g = &dy_px[oh * ow_len + j + col.base - t..][..PB];
            let w = &taps[(kh * K + col.first + S * t) * OC..][..OC];
            for oc in 0..OC {
                let mut dv = [T::ZERO; PB];
                for p in 0..PB {
                    dv[p] = g[p][oc];
                }
                for i in 0..IC {
                    for p in 0..PB {
                        acc[p][i] = dv[p].mul_add(w[oc][i], acc[p][i]);
                    }
                }
            }
        }
    }
    acc
}

/// The input gradient of `dy.len() / out_len` samples by phase (see the module docs), from
/// the transposed weights (`[kh][kw][oc][ic]`, see [`super::conv::transpose_taps`]); blocks of
/// `PB` interior pixels of a phase, one pixel at a time elsewhere.
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
    let (taps, _) = weight_t.as_chunks::<IC>();
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    for (dy, dx) in dy.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
        let (dy_px, _) = dy.as_chunks::<OC>();
        let (dx_px, _) = dx.as_chunks_mut::<IC>();
        for ih in 0..d.h {
            let (rows, n_rows) = row_taps::<K, S, P>(ih, d.oh);
            let rows = &rows[..n_rows];
            let dx_row = &mut dx_px[ih * d.w..][..d.w];
            for b in 0..S.min(d.w) {
                let col = Phase::new(b, K, S, P);
                let n = phase_len(b, S, d.w);
                let (lo, hi) = col.interior(n, d.ow);
                let mut j = 0;
                while j < n {
                    if j >= lo && j + PB <= hi {
                        let sums = block::<T, IC, OC, K, S, PB>(rows, col, j, d.ow, dy_px, taps);
                        for (p, sum) in sums.into_iter().enumerate() {
                            dx_row[b + S * (j + p)] = sum;
                        }
                        j += PB;
                    } else {
                        dx_row[b + S * j] =
                            pixel::<T, IC, OC, K, S>(rows, col, j, d.ow, dy_px, taps);
                        j += 1;
                    }
                }
            }
        }
    }
}

/// The whole input gradient of a batch by phase, one run of samples per thread, each on the
/// CPU's vector kernel where it applies (`f32` on AVX-512 or AVX2; `IC` is a multiple of 32
/// here, see [`gathers`]), else on [`input_grad`].
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
) {
    let n = super::samples_per_task(batch, d.out_len(OC) * K * K * IC);
    dx.par_chunks_mut(n * d.in_len(IC))
        .zip(dy.par_chunks(n * d.out_len(OC)))
        .for_each(|(dx, dy)| {
            #[cfg(target_arch = "x86_64")]
            if super::simd::conv_input_grad_strided::<T, IC, OC, K, S, P>(
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
                    // As many pixels per block as keep the accumulators (`PB * IC` values)
                    // within 8 AVX-512 registers.
                    if const { IC * size_of::<T>() <= 128 } {
                        input_grad::<T, IC, OC, K, S, P, 4>(d, dy, weight_t, dx)
                    } else if const { IC * size_of::<T>() <= 256 } {
                        input_grad::<T, IC, OC, K, S, P, 2>(d, dy, weight_t, dx)
                    } else {
                        input_grad::<T, IC, OC, K, S, P, 1>(d, dy, weight_t, dx)
                    }
                },
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (input index, tap) pair that the phases name is one the convolution has, and
    /// every pair the convolution has is named exactly once, with `interior` exact.
    #[test]
    fn phases_name_every_tap_once() {
        let cases: [(usize, usize, usize); 6] = [
            (3, 2, 1),
            (3, 2, 0),
            (1, 2, 0),
            (4, 2, 3),
            (5, 3, 2),
            (2, 3, 0),
        ];
        for (k, s, p) in cases {
            for len in 1..12 {
                let out = (len + 2 * p).saturating_sub(k) / s + 1;
                if len + 2 * p < k {
                    continue;
                }
                let mut expected = Vec::new();
                for o in 0..out {
                    for kk in 0..k {
                        if let Some(i) = (o * s + kk).checked_sub(p).filter(|&i| i < len) {
                            expected.push((i, kk, o));
                        }
                    }
                }
                let mut named = Vec::new();
                for b in 0..s.min(len) {
                    let phase = Phase::new(b, k, s, p);
                    let n = phase_len(b, s, len);
                    let (lo, hi) = phase.interior(n, out);
                    for j in 0..n {
                        let sources: Vec<_> =
                            (0..phase.count).map(|t| phase.source(j, t, out)).collect();
                        let all_inside = sources.iter().all(Option::is_some);
                        assert_eq!(all_inside, (lo..hi).contains(&j), "k{k} s{s} p{p} len{len}");
                        for (t, o) in sources.into_iter().enumerate() {
                            if let Some(o) = o {
                                named.push((b + s * j, phase.first + s * t, o));
                            }
                        }
                    }
                }
                expected.sort_unstable();
                named.sort_unstable();
                assert_eq!(named, expected, "k{k} s{s} p{p} len{len}");
            }
        }
    }
}
