//! Hand-written AVX-512 kernels for `f32` convolutions whose channel counts are multiples of 16
//! (the SmallCnn's conv1 forward and conv2 forward and input gradient).
//!
//! The generic kernels in [`super::conv`] leave register allocation to LLVM, which keeps large
//! accumulator blocks (`[[f32; 16]; 24]` and up) on the stack: every multiply-add then loads and
//! stores its accumulator (seen in the disassembly of conv2's input gradient). Here the
//! accumulators are arrays of `__m512`, one value per register. Each kernel performs, for every
//! output value, the same multiplies and adds in the same order as its generic twin (no fused
//! multiply-add), so the two are bit-identical; the tests assert exactly that.
//!
//! Each entry point returns `false` without doing anything when it does not apply (not `f32`,
//! no AVX-512, or channel counts it does not cover); the caller then runs the generic kernel.

use super::ConvDims;
use super::Isa;
use super::conv::{interior, valid_range_k};
use crate::Float;
use std::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps,
};

/// `f32` values per AVX-512 register.
const LANES: usize = 16;

#[inline]
#[target_feature(enable = "avx512f")]
fn load(v: &[f32; LANES]) -> __m512 {
    // SAFETY: `v` is 16 readable `f32` (64 bytes); `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_ps(v.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn store(v: &mut [f32; LANES], value: __m512) {
    // SAFETY: `v` is 16 writable `f32` (64 bytes); `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_ps(v.as_mut_ptr(), value) }
}

/// `acc + a * b`, rounded twice (multiply, then add), as the generic kernels compute it.
#[inline]
#[target_feature(enable = "avx512f")]
fn mul_add(acc: __m512, a: __m512, b: __m512) -> __m512 {
    _mm512_add_ps(acc, _mm512_mul_ps(a, b))
}

/// Whether the explicit kernels can run: `f32` data on a CPU with AVX-512.
fn applies<T: Float>() -> bool {
    T::as_f32(&[]).is_some() && Isa::detected() == Isa::Avx512
}

/// [`super::conv::forward`] for `OC` in 16, 32, 48 or 64; `false` if it does not apply.
pub(crate) fn conv_forward<
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
) -> bool {
    if !applies::<T>() {
        return false;
    }
    let (Some(x), Some(weight), Some(bias), Some(y)) = (
        T::as_f32(x),
        T::as_f32(weight),
        T::as_f32(bias),
        T::as_f32_mut(y),
    ) else {
        return false;
    };
    // Pixels per block: as many as keep `PB * OC / 16` accumulators within 24 registers.
    // SAFETY (each call): `applies` checked that this CPU has AVX-512 F.
    unsafe {
        match OC {
            16 => conv_forward_f32::<IC, OC, K, S, P, 16, 1>(d, x, weight, bias, y),
            32 => conv_forward_f32::<IC, OC, K, S, P, 12, 2>(d, x, weight, bias, y),
            48 => conv_forward_f32::<IC, OC, K, S, P, 8, 3>(d, x, weight, bias, y),
            64 => conv_forward_f32::<IC, OC, K, S, P, 6, 4>(d, x, weight, bias, y),
            _ => return false,
        }
    }
    true
}

/// The forward pass with `OV = OC / 16` registers per output pixel and blocks of `PB` interior
/// pixels; per pixel the sum runs bias, then kh, kw, ic, as in the generic kernel.
#[target_feature(enable = "avx512f")]
pub(crate) fn conv_forward_f32<
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const OV: usize,
>(
    d: ConvDims,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    assert_eq!(OC, OV * LANES, "OV registers per pixel");
    let (taps, _) = weight.as_chunks::<LANES>();
    let (bias, _) = bias.as_chunks::<LANES>();
    let mut bias_v = [_mm512_setzero_ps(); OV];
    for v in 0..OV {
        bias_v[v] = load(&bias[v]);
    }
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        let (out, _) = y.as_chunks_mut::<LANES>();
        for oh in 0..d.oh {
            let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
            let mut ow = 0;
            while ow < d.ow {
                if ow >= ow_lo && ow + PB <= ow_hi {
                    let mut acc = [bias_v; PB];
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        let x_row = &x[ih * d.w * IC..][..d.w * IC];
                        for kw in 0..K {
                            let first = (ow * S + kw - P) * IC;
                            let window = &x_row[first..][..(PB - 1) * S * IC + IC];
                            let rows = &taps[(kh * K + kw) * IC * OV..][..IC * OV];
                            for ic in 0..IC {
                                let mut w = [_mm512_setzero_ps(); OV];
                                for v in 0..OV {
                                    w[v] = load(&rows[ic * OV + v]);
                                }
                                for p in 0..PB {
                                    let xv = _mm512_set1_ps(window[p * S * IC + ic]);
                                    for v in 0..OV {
                                        acc[p][v] = mul_add(acc[p][v], xv, w[v]);
                                    }
                                }
                            }
                        }
                    }
                    let block = &mut out[(oh * d.ow + ow) * OV..][..PB * OV];
                    for p in 0..PB {
                        for v in 0..OV {
                            store(&mut block[p * OV + v], acc[p][v]);
                        }
                    }
                    ow += PB;
                } else {
                    let mut acc = bias_v;
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        for kw in 0..K {
                            let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                                continue;
                            };
                            let px = &x[(ih * d.w + iw) * IC..][..IC];
                            let rows = &taps[(kh * K + kw) * IC * OV..][..IC * OV];
                            for ic in 0..IC {
                                let xv = _mm512_set1_ps(px[ic]);
                                for v in 0..OV {
                                    acc[v] = mul_add(acc[v], xv, load(&rows[ic * OV + v]));
                                }
                            }
                        }
                    }
                    let pixel = &mut out[(oh * d.ow + ow) * OV..][..OV];
                    for v in 0..OV {
                        store(&mut pixel[v], acc[v]);
                    }
                    ow += 1;
                }
            }
        }
    }
}

/// [`super::conv::input_grad`] for `IC` of 16 or 32; `false` if it does not apply.
pub(crate) fn conv_input_grad<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    d: ConvDims,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) -> bool {
    if !applies::<T>() {
        return false;
    }
    let (Some(dy), Some(weight_t), Some(dx)) =
        (T::as_f32(dy), T::as_f32(weight_t), T::as_f32_mut(dx))
    else {
        return false;
    };
    // Pixels per block: as many as keep `PB * K * IC / 16` accumulators within 24 registers.
    // SAFETY (each call): `applies` checked that this CPU has AVX-512 F.
    unsafe {
        if const { IC == 16 && K <= 3 } {
            conv_input_grad_f32::<IC, OC, K, S, P, 8, 1>(d, dy, weight_t, dx)
        } else if const { IC == 16 && K <= 6 } {
            conv_input_grad_f32::<IC, OC, K, S, P, 4, 1>(d, dy, weight_t, dx)
        } else if const { IC == 32 && K <= 3 } {
            conv_input_grad_f32::<IC, OC, K, S, P, 4, 2>(d, dy, weight_t, dx)
        } else {
            return false;
        }
    }
    true
}

/// The input gradient with `IV = IC / 16` registers per input pixel and blocks of `PB` interior
/// output pixels; the same sums in the same order as the generic kernel.
#[target_feature(enable = "avx512f")]
pub(crate) fn conv_input_grad_f32<
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const IV: usize,
>(
    d: ConvDims,
    dy: &[f32],
    weight_t: &[f32],
    dx: &mut [f32],
) {
    assert_eq!(IC, IV * LANES, "IV registers per pixel");
    let (taps_t, _) = weight_t.as_chunks::<LANES>();
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    for (dy, dx) in dy.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
        dx.fill(0.0);
        let (dx_v, _) = dx.as_chunks_mut::<LANES>();
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
                        let rows = &taps_t[kh * K * OC * IV..][..K * OC * IV];
                        let mut acc = [[[_mm512_setzero_ps(); IV]; K]; PB];
                        for oc in 0..OC {
                            let mut w = [[_mm512_setzero_ps(); IV]; K];
                            for kw in 0..K {
                                for v in 0..IV {
                                    w[kw][v] = load(&rows[(kw * OC + oc) * IV + v]);
                                }
                            }
                            for p in 0..PB {
                                let dv = _mm512_set1_ps(dy_block[p][oc]);
                                for kw in 0..K {
                                    for v in 0..IV {
                                        acc[p][kw][v] = mul_add(acc[p][kw][v], dv, w[kw][v]);
                                    }
                                }
                            }
                        }
                        let dx_row = &mut dx_v[ih * d.w * IV..][..d.w * IV];
                        let first = ow * S - P;
                        for p in 0..PB {
                            for kw in 0..K {
                                let px = &mut dx_row[(first + p * S + kw) * IV..][..IV];
                                for v in 0..IV {
                                    let sum = _mm512_add_ps(load(&px[v]), acc[p][kw][v]);
                                    store(&mut px[v], sum);
                                }
                            }
                        }
                    }
                    ow += PB;
                } else {
                    for kh in kh_lo..kh_hi {
                        let ih = oh * S + kh - P;
                        let rows = &taps_t[kh * K * OC * IV..][..K * OC * IV];
                        let mut acc = [[_mm512_setzero_ps(); IV]; K];
                        for oc in 0..OC {
                            let dv = _mm512_set1_ps(dy_row[ow][oc]);
                            for kw in 0..K {
                                for v in 0..IV {
                                    let w = load(&rows[(kw * OC + oc) * IV + v]);
                                    acc[kw][v] = mul_add(acc[kw][v], dv, w);
                                }
                            }
                        }
                        let dx_row = &mut dx_v[ih * d.w * IV..][..d.w * IV];
                        for (kw, a) in acc.iter().enumerate() {
                            let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                                continue;
                            };
                            for v in 0..IV {
                                let sum = _mm512_add_ps(load(&dx_row[iw * IV + v]), a[v]);
                                store(&mut dx_row[iw * IV + v], sum);
                            }
                        }
                    }
                    ow += 1;
                }
            }
        }
    }
}

/// [`super::conv::weight_grad_window`] for `OC` of 16 or 32; `false` if it does not apply.
pub(crate) fn conv_weight_grad_window<
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
) -> bool {
    if !applies::<T>() {
        return false;
    }
    let (Some(x), Some(dy), Some(dw)) = (T::as_f32(x), T::as_f32(dy), T::as_f32_mut(dw)) else {
        return false;
    };
    // SAFETY (each call): `applies` checked that this CPU has AVX-512 F.
    unsafe {
        if const { OC == 16 && K * IC <= 24 } {
            conv_weight_grad_window_f32::<IC, OC, K, S, P, 1>(d, x, dy, dw)
        } else if const { OC == 32 && K * IC <= 12 } {
            conv_weight_grad_window_f32::<IC, OC, K, S, P, 2>(d, x, dy, dw)
        } else {
            return false;
        }
    }
    true
}

/// The weight gradient of a run of samples with one kernel row of gradients (`K * IC * OV`
/// registers) kept in registers along each output row; the same sums in the same order as the
/// generic kernel (left edge pixels, interior pixels, right edge pixels).
#[target_feature(enable = "avx512f")]
pub(crate) fn conv_weight_grad_window_f32<
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OV: usize,
>(
    d: ConvDims,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
) {
    assert_eq!(OC, OV * LANES, "OV registers per gradient row");
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    dw.fill(0.0);
    let (dw_v, _) = dw.as_chunks_mut::<LANES>();
    for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
        let (dy_v, _) = dy.as_chunks::<LANES>();
        for oh in 0..d.oh {
            let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
            let dy_row = &dy_v[oh * d.ow * OV..][..d.ow * OV];
            for kh in kh_lo..kh_hi {
                let ih = oh * S + kh - P;
                let x_row = &x[ih * d.w * IC..][..d.w * IC];
                let rows = &mut dw_v[kh * K * IC * OV..][..K * IC * OV];
                // An edge pixel: only the kernel columns inside the row, straight into `dw`.
                let edge = |ow: usize, rows: &mut [[f32; LANES]]| {
                    for kw in 0..K {
                        let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
                            continue;
                        };
                        for ic in 0..IC {
                            let xv = _mm512_set1_ps(x_row[iw * IC + ic]);
                            for v in 0..OV {
                                let r = &mut rows[(kw * IC + ic) * OV + v];
                                store(r, mul_add(load(r), xv, load(&dy_row[ow * OV + v])));
                            }
                        }
                    }
                };
                for ow in 0..ow_lo.min(d.ow) {
                    edge(ow, rows);
                }
                let mut acc = [[[_mm512_setzero_ps(); OV]; IC]; K];
                for kw in 0..K {
                    for ic in 0..IC {
                        for v in 0..OV {
                            acc[kw][ic][v] = load(&rows[(kw * IC + ic) * OV + v]);
                        }
                    }
                }
                for ow in ow_lo..ow_hi {
                    let window = &x_row[(ow * S - P) * IC..][..K * IC];
                    let mut dv = [_mm512_setzero_ps(); OV];
                    for v in 0..OV {
                        dv[v] = load(&dy_row[ow * OV + v]);
                    }
                    for kw in 0..K {
                        for ic in 0..IC {
                            let xv = _mm512_set1_ps(window[kw * IC + ic]);
                            for v in 0..OV {
                                acc[kw][ic][v] = mul_add(acc[kw][ic][v], xv, dv[v]);
                            }
                        }
                    }
                }
                for kw in 0..K {
                    for ic in 0..IC {
                        for v in 0..OV {
                            store(&mut rows[(kw * IC + ic) * OV + v], acc[kw][ic][v]);
                        }
                    }
                }
                for ow in ow_hi.max(ow_lo)..d.ow {
                    edge(ow, rows);
                }
            }
        }
    }
}
