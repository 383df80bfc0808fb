//! Hand-written SIMD (AVX-512 and AVX2, `f32`) for max pooling's input gradient when the
//! channel count is a multiple of 8.
//!
//! The generic kernel finds each lane's winning window position in vector code, but LLVM
//! compiled the second half, which hands each output's gradient to its winner, to one scalar
//! compare, add and store per channel (seen in the disassembly; the SmallCnn's pool backward
//! took ~135 µs per batch of 64 on two threads). Here both halves are vector compares and
//! blends. Per lane they are the generic kernel's operations (strict `>` or NaN to take a
//! position, `0 + g` or `dx + g` to hand over the gradient), so the results are bit-identical;
//! `kernels::tests` asserts that against the reference loops under each instruction set.

use super::simd::{Avx2, Avx512, Lanes, f32_isa, run_for};
use super::{Isa, PoolDims};
use crate::Float;
use std::arch::x86_64::{
    __m256, __m512, __mmask16, _CMP_EQ_OQ, _CMP_GT_OQ, _CMP_UNORD_Q, _mm256_blendv_ps,
    _mm256_cmp_ps, _mm256_or_ps, _mm512_cmp_ps_mask, _mm512_mask_blend_ps,
};

/// Lane-wise comparisons and a blend, on top of [`Lanes`].
///
/// # Safety
///
/// As for [`Lanes`]: every method may only run on a CPU with the implementing type's
/// instruction set.
trait Compare: Lanes {
    /// One flag per lane.
    type Mask: Copy;
    /// `a > b || a.is_nan()` per lane (the generic kernel's test for a new maximum).
    unsafe fn greater_or_nan(a: Self::V, b: Self::V) -> Self::Mask;
    /// `a == b` per lane (ordered: false for NaN).
    unsafe fn equal(a: Self::V, b: Self::V) -> Self::Mask;
    /// `a` where the mask is set, else `b`.
    unsafe fn select(mask: Self::Mask, a: Self::V, b: Self::V) -> Self::V;
}

impl Compare for Avx512 {
    type Mask = __mmask16;
    // SAFETY (every method): the trait's contract, that this CPU has AVX-512F.
    #[inline(always)]
    unsafe fn greater_or_nan(a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, b) | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(a, a) }
    }
    #[inline(always)]
    unsafe fn equal(a: __m512, b: __m512) -> __mmask16 {
        unsafe { _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    unsafe fn select(mask: __mmask16, a: __m512, b: __m512) -> __m512 {
        // The blend takes its second operand where the mask is set.
        unsafe { _mm512_mask_blend_ps(mask, b, a) }
    }
}

impl Compare for Avx2 {
    type Mask = __m256;
    // SAFETY (every method): the trait's contract, that this CPU has AVX2.
    #[inline(always)]
    unsafe fn greater_or_nan(a: __m256, b: __m256) -> __m256 {
        unsafe {
            _mm256_or_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(a, b),
                _mm256_cmp_ps::<_CMP_UNORD_Q>(a, a),
            )
        }
    }
    #[inline(always)]
    unsafe fn equal(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_cmp_ps::<_CMP_EQ_OQ>(a, b) }
    }
    #[inline(always)]
    unsafe fn select(mask: __m256, a: __m256, b: __m256) -> __m256 {
        // The blend takes its second operand where the mask lane's sign bit is set.
        unsafe { _mm256_blendv_ps(b, a, mask) }
    }
}

/// [`super::pool::backward`] for `f32` and a channel count that is a multiple of 8, on `isa`
/// (the detected one outside the tests); `false` if it does not apply.
pub(crate) fn backward<T: Float>(isa: Isa, d: PoolDims, x: &[T], dy: &[T], dx: &mut [T]) -> bool {
    let (Some(isa), Some(x), Some(dy), Some(dx)) = (
        f32_isa::<T>(isa),
        T::as_f32(x),
        T::as_f32(dy),
        T::as_f32_mut(dx),
    ) else {
        return false;
    };
    match isa {
        // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the chosen set.
        Isa::Avx512 if d.c.is_multiple_of(16) => unsafe {
            run_for::<Avx512>(
                #[inline(always)]
                || backward_f32::<Avx512>(d, x, dy, dx),
            )
        },
        // SAFETY: as above (AVX-512 implies AVX2).
        Isa::Avx512 | Isa::Avx2 if d.c.is_multiple_of(8) && d.c > 0 => unsafe {
            run_for::<Avx2>(
                #[inline(always)]
                || backward_f32::<Avx2>(d, x, dy, dx),
            )
        },
        _ => return false,
    }
    true
}

/// The input gradient of every sample, `L::N` channels at a time: the generic kernel's zeros
/// first ([`super::pool::zero_uncovered`]), then per output pixel each lane's winning window
/// position (its first maximum, or its last NaN) and its gradient handed to that position.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn backward_f32<L: Compare>(d: PoolDims, x: &[f32], dy: &[f32], dx: &mut [f32]) {
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    for ((x, dy), dx) in x
        .chunks_exact(in_len)
        .zip(dy.chunks_exact(out_len))
        .zip(dx.chunks_exact_mut(in_len))
    {
        let disjoint = super::pool::zero_uncovered(d, dx, true);
        for oh in 0..d.oh {
            for ow in 0..d.ow {
                let at = |ph: usize, pw: usize| ((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c;
                for c0 in (0..d.c).step_by(L::N) {
                    // SAFETY (every `L::` call): the caller's.
                    unsafe {
                        let mut best = L::load(&x[at(0, 0) + c0..]);
                        let mut winner = L::zero();
                        for ph in 0..d.pool {
                            for pw in 0..d.pool {
                                let v = L::load(&x[at(ph, pw) + c0..]);
                                let position = L::splat((ph * d.pool + pw) as f32);
                                let new = L::greater_or_nan(v, best);
                                best = L::select(new, v, best);
                                winner = L::select(new, position, winner);
                            }
                        }
                        let g = L::load(&dy[(oh * d.ow + ow) * d.c + c0..]);
                        for ph in 0..d.pool {
                            for pw in 0..d.pool {
                                let position = L::splat((ph * d.pool + pw) as f32);
                                let share = L::select(L::equal(winner, position), g, L::zero());
                                let out = &mut dx[at(ph, pw) + c0..];
                                // `0 + g` (which turns a gradient of -0 into +0) where each
                                // position is written once, else added to what is there.
                                let base = if disjoint { L::zero() } else { L::load(out) };
                                L::store(out, L::add(base, share));
                            }
                        }
                    }
                }
            }
        }
    }
}
