//! Hand-written SIMD kernels (AVX-512 and AVX2, `f32`) for convolutions whose channel counts
//! are multiples of 8: the forward pass (`OC`, or fewer than 8 output channels in one partial
//! register with masked loads and stores), the input gradient (`IC`, kernels up to 3x3, or
//! 5x5 for multiples of 16), the weight gradient of layers with few input channels (a whole
//! kernel row of gradients in registers) and of the others (blocks of 4 gradient rows, `IC` a
//! multiple of 4). Wide layers (64-128 channels and up) run in chunks of channels that fit the
//! registers; channel counts that are multiples of 8 but not 16 use AVX2's 8-lane registers
//! on AVX-512 CPUs too. The weight gradient of wide layers takes the samples in runs that fit
//! the L2 cache and keeps each block of gradients in registers across a run; the others take
//! output rows in chunks that fit L1 and register tiles of `MR` input channels by `NV` vectors
//! of output channels. With 32 and more input channels (and output channels a multiple of 32)
//! the forward pass runs tap by tap ([`conv_forward_taps_f32`]): one tap's weights for a chunk
//! of output channels stay in L1 while it adds its products to every output pixel it reaches
//! (except at stride 1 on rows with 14 or more interior pixels, which run in tiles of 7 pixels by
//! 32 output channels).
//! The stride-1 input gradient is computed as a forward pass (see [`super::conv`]); the strided
//! one with 32 or more input channels by phase (see [`super::conv_strided`]).
//!
//! The generic kernels in [`super::conv`] leave register allocation to LLVM, which keeps large
//! accumulator blocks (`[[f32; 16]; 24]` and up) on the stack: every multiply-add then loads and
//! stores its accumulator (seen in the disassembly of conv2's input gradient). Here the
//! accumulators are arrays of vector registers ([`Lanes::V`]), one value per register. Each
//! kernel performs, for every output value, the same multiplies and adds in the same order as
//! its generic twin (fused multiply-adds, `fmadd`, where the generic kernels call
//! [`Float::mul_add`]), so the two are bit-identical; the tests assert
//! exactly that, under each instruction set.
//!
//! Each entry point returns `false` without doing anything when it does not apply (not `f32`,
//! neither AVX-512 nor AVX2, or channel counts it does not cover); the caller then runs the
//! generic kernel.

use super::ConvDims;
use super::conv::{interior, valid_range, valid_range_k};
use super::conv_strided::{Phase, phase_len, pixel, row_taps};
use super::{Isa, run_on};
use crate::Float;
use std::arch::x86_64::{
    __m256, __m256i, __m512, _CMP_GT_OQ, _mm256_add_ps, _mm256_and_ps, _mm256_cmp_ps,
    _mm256_cmpgt_epi32, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_maskload_ps, _mm256_maskstore_ps,
    _mm256_max_ps, _mm256_mul_ps, _mm256_set1_epi32, _mm256_set1_ps, _mm256_setr_epi32,
    _mm256_setzero_ps, _mm256_storeu_ps, _mm256_sub_ps, _mm512_add_ps, _mm512_cmp_ps_mask,
    _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
    _mm512_maskz_mov_ps, _mm512_max_ps, _mm512_mul_ps, _mm512_set1_ps, _mm512_setzero_ps,
    _mm512_storeu_ps, _mm512_sub_ps,
};

/// A vector register of `f32` lanes and the operations the kernels use.
///
/// # Safety
///
/// Every method may only run on a CPU with the instruction set of the implementing type; the
/// kernels run them only inside [`run_on`] after [`Isa::detected`] has named that set.
pub(crate) trait Lanes {
    /// One register.
    type V: Copy;
    /// `f32` values per register.
    const N: usize;
    /// The instruction set.
    const ISA: Isa;
    /// All zeros.
    unsafe fn zero() -> Self::V;
    /// The first `N` values of `v` (panics if `v` is shorter).
    unsafe fn load(v: &[f32]) -> Self::V;
    /// Writes the register to the first `N` values of `v` (panics if `v` is shorter).
    unsafe fn store(v: &mut [f32], x: Self::V);
    /// The first `n` values of `v` (`n < N`; panics if `v` is shorter), the other lanes zero.
    unsafe fn load_first(v: &[f32], n: usize) -> Self::V;
    /// Writes the first `n` lanes of the register to the first `n` values of `v` (`n < N`;
    /// panics if `v` is shorter); the values after them are not touched.
    unsafe fn store_first(v: &mut [f32], x: Self::V, n: usize);
    /// `x` in every lane.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a + b` lane by lane.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a - b` lane by lane.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b` lane by lane.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c` lane by lane, rounded once (fused multiply-add).
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `if a > b { a } else { b }` lane by lane (x86's `maxps`: `b` when either is NaN or
    /// both are zeros). `max(zero, y)` is ReLU's `if y < 0 { 0 } else { y }`.
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// `if a > 0 { 1.0 } else { 0.0 }` lane by lane (0 for a NaN): ReLU's derivative.
    unsafe fn step(a: Self::V) -> Self::V;
}

/// AVX-512: 16 lanes, 32 registers.
pub(crate) struct Avx512;
/// AVX2: 8 lanes, 16 registers.
pub(crate) struct Avx2;

/// [`Lanes`] for one instruction set from its register type and intrinsics.
macro_rules! impl_lanes {
    ($isa:ident, $v:ty, $n:literal, $zero:ident, $load:ident, $store:ident, $load_first:ident, $store_first:ident, $splat:ident, $add:ident, $sub:ident, $mul:ident, $fmadd:ident, $max:ident, $step:ident) => {
        impl Lanes for $isa {
            type V = $v;
            const N: usize = $n;
            const ISA: Isa = Isa::$isa;
            // SAFETY (every method): the trait's contract, that this CPU has the instruction
            // set; `load` and `store` slice their argument to `N` values first (panicking if
            // it is shorter), and the unaligned intrinsics need no alignment.
            #[inline(always)]
            unsafe fn zero() -> $v {
                unsafe { $zero() }
            }
            #[inline(always)]
            unsafe fn load(v: &[f32]) -> $v {
                unsafe { $load(v[..$n].as_ptr()) }
            }
            #[inline(always)]
            unsafe fn store(v: &mut [f32], x: $v) {
                unsafe { $store(v[..$n].as_mut_ptr(), x) }
            }
            #[inline(always)]
            unsafe fn load_first(v: &[f32], n: usize) -> $v {
                assert!(n < $n, "a partial register");
                // SAFETY: as above; the masked lanes are not read (the masked loads do not
                // fault on them), the others are `v[..n]`.
                unsafe { $load_first(&v[..n], n) }
            }
            #[inline(always)]
            unsafe fn store_first(v: &mut [f32], x: $v, n: usize) {
                assert!(n < $n, "a partial register");
                // SAFETY: as above; only the lanes of `v[..n]` are written.
                unsafe { $store_first(&mut v[..n], x, n) }
            }
            #[inline(always)]
            unsafe fn splat(x: f32) -> $v {
                unsafe { $splat(x) }
            }
            #[inline(always)]
            unsafe fn add(a: $v, b: $v) -> $v {
                unsafe { $add(a, b) }
            }
            #[inline(always)]
            unsafe fn sub(a: $v, b: $v) -> $v {
                unsafe { $sub(a, b) }
            }
            #[inline(always)]
            unsafe fn mul(a: $v, b: $v) -> $v {
                unsafe { $mul(a, b) }
            }
            #[inline(always)]
            unsafe fn fmadd(a: $v, b: $v, c: $v) -> $v {
                unsafe { $fmadd(a, b, c) }
            }
            #[inline(always)]
            unsafe fn max(a: $v, b: $v) -> $v {
                unsafe { $max(a, b) }
            }
            #[inline(always)]
            unsafe fn step(a: $v) -> $v {
                unsafe { $step(a) }
            }
        }
    };
}

/// `v`'s values in the first lanes of an AVX-512 register, the other lanes zero.
///
/// # Safety
///
/// The CPU must support AVX-512F; `v.len() < 16`.
#[inline(always)]
unsafe fn avx512_load_first(v: &[f32], n: usize) -> __m512 {
    debug_assert_eq!(v.len(), n);
    let mask = ((1u32 << n) - 1) as u16;
    // SAFETY: the caller's CPU; the mask selects the lanes of `v`'s `n` values, and masked-out
    // lanes of `vmovups` with a mask are not accessed (no fault, no read).
    unsafe { _mm512_maskz_loadu_ps(mask, v.as_ptr()) }
}

/// The first `v.len()` lanes of `x` written to `v`.
///
/// # Safety
///
/// The CPU must support AVX-512F; `v.len() < 16`.
#[inline(always)]
unsafe fn avx512_store_first(v: &mut [f32], x: __m512, n: usize) {
    debug_assert_eq!(v.len(), n);
    let mask = ((1u32 << n) - 1) as u16;
    // SAFETY: as in `avx512_load_first`; masked-out lanes are not written.
    unsafe { _mm512_mask_storeu_ps(v.as_mut_ptr(), mask, x) }
}

/// The AVX2 lane mask of the first `n` lanes (high bit set in each).
///
/// # Safety
///
/// The CPU must support AVX2.
#[inline(always)]
unsafe fn avx2_first_lanes(n: usize) -> __m256i {
    // SAFETY: the caller's CPU.
    unsafe {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }
}

/// `v`'s values in the first lanes of an AVX2 register, the other lanes zero.
///
/// # Safety
///
/// The CPU must support AVX2; `v.len() < 8`.
#[inline(always)]
unsafe fn avx2_load_first(v: &[f32], n: usize) -> __m256 {
    debug_assert_eq!(v.len(), n);
    // SAFETY: the caller's CPU; `vmaskmovps` does not access the lanes whose mask is clear
    // (no fault, no read), and the set ones are `v`'s `n` values.
    unsafe { _mm256_maskload_ps(v.as_ptr(), avx2_first_lanes(n)) }
}

/// The first `v.len()` lanes of `x` written to `v`.
///
/// # Safety
///
/// The CPU must support AVX2; `v.len() < 8`.
#[inline(always)]
unsafe fn avx2_store_first(v: &mut [f32], x: __m256, n: usize) {
    debug_assert_eq!(v.len(), n);
    // SAFETY: as in `avx2_load_first`; the lanes whose mask is clear are not written.
    unsafe { _mm256_maskstore_ps(v.as_mut_ptr(), avx2_first_lanes(n), x) }
}

/// 1.0 in the lanes of `a` above 0, 0.0 in the others (NaN included).
///
/// # Safety
///
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn avx512_step(a: __m512) -> __m512 {
    // SAFETY: the caller's CPU; register operations only.
    unsafe {
        let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, _mm512_setzero_ps());
        _mm512_maskz_mov_ps(above, _mm512_set1_ps(1.0))
    }
}

/// 1.0 in the lanes of `a` above 0, 0.0 in the others (NaN included).
///
/// # Safety
///
/// The CPU must support AVX.
#[inline(always)]
unsafe fn avx2_step(a: __m256) -> __m256 {
    // SAFETY: the caller's CPU; register operations only.
    unsafe {
        let above = _mm256_cmp_ps::<_CMP_GT_OQ>(a, _mm256_setzero_ps());
        _mm256_and_ps(above, _mm256_set1_ps(1.0))
    }
}

impl_lanes!(
    Avx512,
    __m512,
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_storeu_ps,
    avx512_load_first,
    avx512_store_first,
    _mm512_set1_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_mul_ps,
    _mm512_fmadd_ps,
    _mm512_max_ps,
    avx512_step
);
impl_lanes!(
    Avx2,
    __m256,
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_storeu_ps,
    avx2_load_first,
    avx2_store_first,
    _mm256_set1_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_mul_ps,
    _mm256_fmadd_ps,
    _mm256_max_ps,
    avx2_step
);

/// `acc + a * b`, rounded once (fused multiply-add), as the generic kernels compute it with
/// [`Float::mul_add`] (`a.mul_add(b, acc)`).
#[inline(always)]
unsafe fn mul_add<L: Lanes>(acc: L::V, a: L::V, b: L::V) -> L::V {
    // SAFETY: the caller's (same instruction set).
    unsafe { L::fmadd(a, b, acc) }
}

/// The first `lanes` values of `v` in a register: all `L::N` (a plain load), or fewer (a masked
/// load, the other lanes zero), e.g. a layer's `OC < L::N` output channels or the last columns
/// of a matrix row.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
pub(super) unsafe fn load_part<L: Lanes>(v: &[f32], lanes: usize) -> L::V {
    // SAFETY: the caller's.
    unsafe {
        if lanes < L::N {
            L::load_first(v, lanes)
        } else {
            L::load(v)
        }
    }
}

/// Writes the first `lanes` values of `x` to `v`: all `L::N`, or fewer (a masked store).
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
pub(super) unsafe fn store_part<L: Lanes>(v: &mut [f32], x: L::V, lanes: usize) {
    // SAFETY: the caller's.
    unsafe {
        if lanes < L::N {
            L::store_first(v, x, lanes)
        } else {
            L::store(v, x)
        }
    }
}

/// Runs `kernel` compiled for `L`'s instruction set.
///
/// # Safety
///
/// This CPU must support `L::ISA` (the callers check [`Isa::detected`] first); otherwise
/// [`run_on`] would run the kernel's instructions without their features.
#[inline(always)]
pub(super) unsafe fn run_for<L: Lanes>(kernel: impl FnOnce()) {
    debug_assert!(L::ISA.is_supported());
    run_on(L::ISA, kernel)
}

/// `isa` if the data is `f32`, `isa` is a vector instruction set (AVX-512 or AVX2) and this CPU
/// runs it; `None` sends the caller to the generic kernels.
pub(super) fn f32_isa<T: Float>(isa: Isa) -> Option<Isa> {
    let f32_data = T::as_f32(&[]).is_some();
    (f32_data && isa != Isa::Portable && isa.is_supported()).then_some(isa)
}

/// [`super::conv::forward`] for `OC` a multiple of 8 (AVX2's vector width) or below 8 (one
/// partial register), on `isa` (the detected one outside the tests); `false` if it does not
/// apply.
pub(crate) fn conv_forward<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    isa: Isa,
    d: ConvDims,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) -> bool {
    let Some(isa) = f32_isa::<T>(isa) else {
        return false;
    };
    let (Some(x), Some(weight), Some(bias), Some(y)) = (
        T::as_f32(x),
        T::as_f32(weight),
        T::as_f32(bias),
        T::as_f32_mut(y),
    ) else {
        return false;
    };
    // Pixels per block: `PB * OV` accumulators within 20 of AVX-512's 32 registers, or 12 of
    // AVX2's 16 (with the `OV` weight vectors and a broadcast beside them); blocks of 20 and 10
    // (16 channels) and of 10 and 5 (32) tile the SmallCnn's rows (30 and 15 interior pixels)
    // exactly, and 20 beat 10 on 16->16 @32x32 (one thread, AMD Zen 5: ~1.40 -> 1.30 ms).
    macro_rules! go {
        ($l:ty, $pb:literal, $pb2:literal, $ov:literal) => {
            // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the type's
            // instruction set (AVX-512 here implies AVX2 and FMA, see `Isa::is_supported`).
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || {
                        conv_forward_f32::<$l, IC, OC, K, S, P, $pb, $pb2, $ov>(
                            d, x, weight, bias, y,
                        )
                    },
                )
            }
        };
    }
    macro_rules! taps {
        ($l:ty, $pb:literal, $ov:literal) => {
            // SAFETY: as in `go!`.
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || {
                        conv_forward_taps_f32::<$l, IC, OC, K, S, P, $pb, $ov>(
                            d, x, weight, bias, y,
                        )
                    },
                )
            }
        };
    }
    // Wider layers run in chunks of the widest of these that divides `OC` (128 channels: two
    // chunks of 64); `OC` a multiple of 8 only (LeNet's 8) runs AVX2's 8-lane registers, also
    // on AVX-512 CPUs.
    match isa {
        // Output channels in chunks of 32 at stride 1 where the rows' interiors hold two or more
        // tiles of 7 pixels (by two registers): faster than tap by tap, as the tiles cover the
        // edge columns too (one thread, AMD Zen 5, forward at batch 64: 32->32 @16x16 1.48 ->
        // 1.15 ms, @32x32 ~6.9 -> 5.0 ms, 64->32 @16x16 2.6 -> 2.4 ms, 64->128 @16x16 10.8 ->
        // 9.5 ms); slower on narrower rows, whose leftover pixels run in small tiles (32->32
        // @12x12: 0.80 ms tap by tap, 0.92 in tiles; @8x8 0.33 and 0.50).
        Isa::Avx512
            if const { OC.is_multiple_of(32) && K > 1 && IC >= 32 && S == 1 }
                && interior_width::<K, S, P>(d) >= 14 =>
        {
            go!(Avx512, 7, 2, 2)
        }
        // As for AVX2 below (one thread, this CPU an AMD Zen 5: 32->32 @16x16 1.8 -> 1.25 ms,
        // 64->64 @8x8 1.5 -> 1.0 ms, 128->128 7.9 -> 4.6 ms; 16->16 @32x32 1.5 -> 2.4 ms).
        Isa::Avx512 if const { OC.is_multiple_of(64) && K > 1 && IC >= 32 } => taps!(Avx512, 6, 4),
        Isa::Avx512 if const { OC.is_multiple_of(32) && K > 1 && IC >= 32 } => taps!(Avx512, 12, 2),
        Isa::Avx512 if const { OC.is_multiple_of(64) } => go!(Avx512, 4, 2, 4),
        Isa::Avx512 if const { OC.is_multiple_of(48) } => go!(Avx512, 6, 3, 3),
        Isa::Avx512 if const { OC.is_multiple_of(32) } => go!(Avx512, 10, 5, 2),
        Isa::Avx512 if const { OC.is_multiple_of(16) } => go!(Avx512, 20, 10, 1),
        Isa::Avx512 if const { OC.is_multiple_of(8) } => go!(Avx2, 12, 4, 1),
        // At 32 and more input channels a tile's `IC` multiply-adds outweigh its loads and
        // stores, and the tap-by-tap order keeps the weights in L1 (64->64 @8x8 on one thread:
        // 4.4 -> 3.1 ms; 128->128 18 -> 14 ms; 32->32 @16x16 within 2 %). With 16 input
        // channels it is slower (16->32 stride 2: 2.0 -> 2.6 ms).
        Isa::Avx2 if const { OC.is_multiple_of(32) && K > 1 && IC >= 32 } => taps!(Avx2, 6, 2),
        Isa::Avx2 if const { OC.is_multiple_of(32) } => go!(Avx2, 2, 1, 4),
        Isa::Avx2 if const { OC.is_multiple_of(24) } => go!(Avx2, 3, 2, 3),
        Isa::Avx2 if const { OC.is_multiple_of(16) } => go!(Avx2, 6, 3, 2),
        Isa::Avx2 if const { OC.is_multiple_of(8) } => go!(Avx2, 10, 5, 1),
        // Fewer output channels than AVX2's 8 lanes (the turned input gradient of a layer with
        // 2-7 input channels: 3->16 @32x32 4.7 -> 1.55 ms per batch of 64 on one thread, AMD
        // Zen 5): one partial register with masked loads and stores.
        Isa::Avx512 | Isa::Avx2 if const { OC < 8 } => go!(Avx2, 10, 5, 1),
        _ => return false,
    }
    true
}

/// Output pixels per row whose whole kernel window lies inside the image (`d.w` wide).
fn interior_width<const K: usize, const S: usize, const P: usize>(d: ConvDims) -> usize {
    let (lo, hi) = interior(K, S, P, d.w, d.ow);
    hi - lo
}

/// The forward pass in chunks of `OV` registers (`OV * L::N` output channels; `OC` a multiple
/// of that), in tiles of `PB` output pixels, then of `PB2` for the rest (pixels left over one
/// at a time cost several times more each: one pixel's sum is a single chain of dependent
/// multiply-adds). Each row's interior runs along the row (the SmallCnn's conv1 forward took
/// ~350 µs per batch of 64 with 16-pixel tiles on rows of 30 interior pixels, ~160 µs with
/// tiles that divide the row); the edge columns of the interior rows run down the column,
/// where all pixels miss the same kernel columns (16->16 @32x32 on one thread, AMD Zen 5:
/// ~1.58 -> 1.40 ms against running the two edge pixels of each row one by one); only the
/// corners and the rest of the top and bottom rows' edges remain one by one. For each tile
/// every chunk of output channels is computed in turn, re-reading the tile's inputs from L1;
/// per output value the sum runs bias, then kh, kw, ic, as in the generic kernel.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn conv_forward_f32<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const PB2: usize,
    const OV: usize,
>(
    d: ConvDims,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    assert!(
        OC.is_multiple_of(OV * L::N) || (OC < L::N && OV == 1),
        "chunks of OV registers, or one partial register"
    );
    let chunk = (OV * L::N).min(OC);
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
    let (oh_lo, oh_hi) = interior(K, S, P, d.h, d.oh);
    // SAFETY (the whole body): the caller's, for `forward_tile` and `forward_pixel`.
    unsafe {
        // A macro, not a closure: closures that call intrinsics are compiled without the
        // caller's instruction set unless inlined.
        macro_rules! tile {
            ($x:expr, $y:expr, $pixels:expr, $t:expr) => {
                for oc0 in (0..OC).step_by(chunk) {
                    let (x, y, t): (&[f32], &mut [f32], Tile) = ($x, &mut *$y, $t);
                    if $pixels == PB {
                        forward_tile::<L, IC, OC, K, PB, OV>(t, oc0, x, weight, bias, y)
                    } else if $pixels == PB2 {
                        forward_tile::<L, IC, OC, K, PB2, OV>(t, oc0, x, weight, bias, y)
                    } else {
                        forward_tile::<L, IC, OC, K, 1, OV>(t, oc0, x, weight, bias, y)
                    }
                }
            };
        }
        let tile_size = |from: usize, to: usize| {
            if from + PB <= to {
                PB
            } else if from + PB2 <= to {
                PB2
            } else {
                1
            }
        };
        for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
            for oh in 0..d.oh {
                let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
                let inner_row = oh >= oh_lo && oh < oh_hi;
                let mut ow = 0;
                while ow < d.ow {
                    let inside = ow >= ow_lo && ow < ow_hi;
                    if !inside && inner_row {
                        ow += 1; // an edge column's tile below computes it
                        continue;
                    }
                    let (kw_lo, kw_hi) = valid_range_k(ow, K, S, P, d.w);
                    let pixels = if inside { tile_size(ow, ow_hi) } else { 1 };
                    let t = Tile {
                        x_at: ((oh * S + kh_lo - P) * d.w + ow * S + kw_lo - P) * IC,
                        x_step: S * IC,
                        kh: (kh_lo, kh_hi),
                        kw: (kw_lo, kw_hi),
                        row_len: d.w * IC,
                        y_at: (oh * d.ow + ow) * OC,
                        y_step: OC,
                    };
                    tile!(x, y, pixels, t);
                    ow += pixels;
                }
            }
            for ow in (0..ow_lo.min(d.ow)).chain(ow_hi..d.ow) {
                let (kw_lo, kw_hi) = valid_range_k(ow, K, S, P, d.w);
                let mut oh = oh_lo;
                while oh < oh_hi {
                    let pixels = tile_size(oh, oh_hi);
                    let t = Tile {
                        x_at: ((oh * S - P) * d.w + ow * S + kw_lo - P) * IC,
                        x_step: S * d.w * IC,
                        kh: (0, K),
                        kw: (kw_lo, kw_hi),
                        row_len: d.w * IC,
                        y_at: (oh * d.ow + ow) * OC,
                        y_step: d.ow * OC,
                    };
                    tile!(x, y, pixels, t);
                    oh += pixels;
                }
            }
        }
    }
}

/// The forward pass one kernel tap at a time: for each sample, chunk of output rows whose
/// inputs fit in L1, and chunk of `OV * L::N` output channels, the outputs start at the bias,
/// then each tap `(kh, kw)` in turn adds its `IC` products to every output pixel it reaches,
/// in tiles of `PB` pixels (running on across output rows, so that only the last tile of a
/// tap is smaller) with `PB * OV` accumulators loaded from and stored back to the output. A
/// tap's weights for the channel chunk (`IC * OV` vectors, 4 KB at 64 input channels) stay
/// in L1 for all the chunk's pixels, where [`conv_forward_f32`] reads every weight of the
/// kernel again for each block of pixels (from L2 once the weights outgrow L1, as at 32 and
/// more channels); and edge pixels need no separate path, since a tap's pixels are a
/// rectangle. Per output value the sum still runs bias, then kh, kw, ic, as in the generic
/// kernel.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn conv_forward_taps_f32<
    L: Lanes,
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
    assert!(OC.is_multiple_of(OV * L::N), "chunks of OV registers");
    let chunk = OV * L::N;
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    // Output rows per chunk: their outputs and the input rows they read within 24 KB (L1), or
    // 64 KB (L2) where one tap's weights for a chunk of channels take 32 KB or more: there more
    // pixels per tap reuse the weights more often while they are in L1 (128->128 @8x8, one
    // thread, Zen 5: forward 4.7-5.1 -> 4.4-4.7 ms, the whole image in one chunk).
    let budget = if IC * chunk >= 8 * 1024 {
        16 * 1024
    } else {
        6 * 1024
    };
    let (y_row_len, x_row_len) = (d.ow * OC, d.w * IC);
    let fits = |r: usize| r * y_row_len + ((r - 1) * S + K).min(d.h) * x_row_len <= budget;
    let mut rows_per_chunk = 1;
    while rows_per_chunk < d.oh && fits(rows_per_chunk + 1) {
        rows_per_chunk += 1;
    }
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        for oh0 in (0..d.oh).step_by(rows_per_chunk) {
            let oh1 = (oh0 + rows_per_chunk).min(d.oh);
            for oc0 in (0..OC).step_by(chunk) {
                for px in y[oh0 * y_row_len..oh1 * y_row_len].chunks_exact_mut(OC) {
                    px[oc0..oc0 + chunk].copy_from_slice(&bias[oc0..oc0 + chunk]);
                }
                for kh in 0..K {
                    let (r_lo, r_hi) = valid_range(kh, S, P, d.h, d.oh);
                    let (r_lo, r_hi) = (r_lo.max(oh0), r_hi.min(oh1));
                    for kw in 0..K {
                        let (c_lo, c_hi) = valid_range(kw, S, P, d.w, d.ow);
                        if r_lo >= r_hi || c_lo >= c_hi {
                            continue;
                        }
                        let tap = TapPixels {
                            d,
                            kh,
                            kw,
                            rows: (r_lo, r_hi),
                            cols: (c_lo, c_hi),
                        };
                        let taps = &weight[(kh * K + kw) * IC * OC..][..IC * OC];
                        let n = (r_hi - r_lo) * (c_hi - c_lo);
                        let mut first = 0;
                        while first + PB <= n {
                            // SAFETY: the caller's.
                            unsafe {
                                forward_tap_tile::<L, IC, OC, S, P, PB, OV>(
                                    &tap, first, oc0, x, taps, y,
                                )
                            };
                            first += PB;
                        }
                        // The last, smaller tile, with as many accumulators as pixels.
                        macro_rules! last_tile {
                            ($($pb:literal)*) => {$(
                                if n - first == $pb && $pb < PB {
                                    // SAFETY: the caller's.
                                    unsafe {
                                        forward_tap_tile::<L, IC, OC, S, P, $pb, OV>(
                                            &tap, first, oc0, x, taps, y,
                                        )
                                    };
                                }
                            )*};
                        }
                        last_tile!(1 2 3 4 5 6 7 8 9 10 11);
                    }
                }
            }
        }
    }
}

/// The output pixels one kernel tap reaches: rows `rows.0..rows.1` by columns
/// `cols.0..cols.1`, taken in row-major order.
struct TapPixels {
    d: ConvDims,
    kh: usize,
    kw: usize,
    rows: (usize, usize),
    cols: (usize, usize),
}

/// `PB` pixels of a tap from the `first`-th on (see [`conv_forward_taps_f32`]), output channels
/// `oc0 .. oc0 + OV * L::N`: the accumulators `[[L::V; OV]; PB]` loaded from `y`, `IC`
/// multiply-adds each from the tap's weights `taps` (`[ic][oc]`), stored back.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn forward_tap_tile<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const OV: usize,
>(
    tap: &TapPixels,
    first: usize,
    oc0: usize,
    x: &[f32],
    taps: &[f32],
    y: &mut [f32],
) {
    let d = tap.d;
    let cols = tap.cols.1 - tap.cols.0;
    let (mut oh, mut ow) = (tap.rows.0 + first / cols, tap.cols.0 + first % cols);
    let mut inputs: [&[f32; IC]; PB] = [&[0.0; IC]; PB];
    let mut outputs = [0usize; PB];
    for p in 0..PB {
        let (ih, iw) = (oh * S + tap.kh - P, ow * S + tap.kw - P);
        inputs[p] = x[(ih * d.w + iw) * IC..][..IC]
            .try_into()
            .expect("IC values");
        outputs[p] = (oh * d.ow + ow) * OC + oc0;
        ow += 1;
        if ow == tap.cols.1 {
            (oh, ow) = (oh + 1, tap.cols.0);
        }
    }
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        let mut acc = [[L::zero(); OV]; PB];
        for p in 0..PB {
            for v in 0..OV {
                acc[p][v] = L::load(&y[outputs[p] + v * L::N..]);
            }
        }
        for ic in 0..IC {
            let mut w = [L::zero(); OV];
            for v in 0..OV {
                w[v] = L::load(&taps[ic * OC + oc0 + v * L::N..]);
            }
            for p in 0..PB {
                let xv = L::splat(inputs[p][ic]);
                for v in 0..OV {
                    acc[p][v] = mul_add::<L>(acc[p][v], xv, w[v]);
                }
            }
        }
        for p in 0..PB {
            for v in 0..OV {
                L::store(&mut y[outputs[p] + v * L::N..], acc[p][v]);
            }
        }
    }
}

/// [`super::conv::input_grad`] for `IC` a multiple of 8 (and `K` up to 3, or up to 6 for
/// multiples of 16), on `isa`; `false` if it
/// does not apply.
pub(crate) fn conv_input_grad<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    isa: Isa,
    d: ConvDims,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) -> bool {
    let Some(isa) = f32_isa::<T>(isa) else {
        return false;
    };
    let (Some(dy), Some(weight_t), Some(dx)) =
        (T::as_f32(dy), T::as_f32(weight_t), T::as_f32_mut(dx))
    else {
        return false;
    };
    // Pixels per block: `PB * K * IV` accumulators within 15 (AVX-512) or 6 (AVX2) registers
    // beside the `K * IV` weight vectors (5 + 3 measured ~760 µs per batch of 64 on conv2 of
    // the SmallCnn, whose 15-pixel rows it tiles; 8 + 4 ~860 µs, 7 + 4 ~800 µs).
    macro_rules! go {
        ($l:ty, $pb:literal, $pb2:literal, $iv:literal) => {
            // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the type's
            // instruction set (AVX-512 here implies AVX2 and FMA, see `Isa::is_supported`).
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || {
                        conv_input_grad_f32::<$l, IC, OC, K, S, P, $pb, $pb2, $iv>(
                            d, dy, weight_t, dx,
                        )
                    },
                )
            }
        };
    }
    // Wider layers run in chunks of input channels (64 channels with a 3x3 kernel: two chunks
    // of 32); a 1x1 kernel holds four registers per pixel.
    match isa {
        Isa::Avx512 if const { IC.is_multiple_of(64) && K == 1 } => go!(Avx512, 4, 2, 4),
        Isa::Avx512 if const { IC.is_multiple_of(32) && K == 1 } => go!(Avx512, 6, 3, 2),
        Isa::Avx512 if const { IC == 16 && K <= 3 } => go!(Avx512, 5, 3, 1),
        Isa::Avx512 if const { IC.is_multiple_of(32) && K <= 3 } => go!(Avx512, 4, 2, 2),
        Isa::Avx512 if const { IC.is_multiple_of(16) && K <= 3 } => go!(Avx512, 5, 3, 1),
        Isa::Avx512 if const { IC.is_multiple_of(16) && K <= 6 } => go!(Avx512, 4, 2, 1),
        Isa::Avx512 if const { IC.is_multiple_of(8) && K <= 3 } => go!(Avx2, 3, 1, 1),
        Isa::Avx2 if const { IC.is_multiple_of(16) && K <= 3 } => go!(Avx2, 1, 1, 2),
        Isa::Avx2 if const { IC.is_multiple_of(8) && K <= 3 } => go!(Avx2, 3, 1, 1),
        _ => return false,
    }
    true
}

/// The input gradient in chunks of `IV` registers (`IV * L::N` input channels; `IC` a multiple
/// of that), blocks of `PB` interior output pixels, then of `PB2` (see [`conv_forward_f32`]);
/// the same sums in the same order as the generic kernel.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
// Constant-bound index loops over register arrays, as in the other kernels.
#[allow(clippy::needless_range_loop)]
unsafe fn conv_input_grad_f32<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const PB2: usize,
    const IV: usize,
>(
    d: ConvDims,
    dy: &[f32],
    weight_t: &[f32],
    dx: &mut [f32],
) {
    assert!(IC.is_multiple_of(IV * L::N), "chunks of IV registers");
    let chunk = IV * L::N;
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
        let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
        for (dy, dx) in dy.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
            dx.fill(0.0);
            let (dy_px, _) = dy.as_chunks::<OC>();
            for oh in 0..d.oh {
                let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
                let dy_row = &dy_px[oh * d.ow..][..d.ow];
                let mut ow = 0;
                while ow < d.ow {
                    if ow >= ow_lo && ow + PB <= ow_hi {
                        for ic0 in (0..IC).step_by(chunk) {
                            input_grad_block::<L, IC, OC, K, S, P, PB, IV>(
                                d, oh, ow, ic0, dy_row, weight_t, dx,
                            );
                        }
                        ow += PB;
                    } else if ow >= ow_lo && ow + PB2 <= ow_hi {
                        for ic0 in (0..IC).step_by(chunk) {
                            input_grad_block::<L, IC, OC, K, S, P, PB2, IV>(
                                d, oh, ow, ic0, dy_row, weight_t, dx,
                            );
                        }
                        ow += PB2;
                    } else {
                        for ic0 in (0..IC).step_by(chunk) {
                            for kh in kh_lo..kh_hi {
                                let ih = oh * S + kh - P;
                                let rows = &weight_t[kh * K * OC * IC..][..K * OC * IC];
                                let mut acc = [[L::zero(); IV]; K];
                                for oc in 0..OC {
                                    let dv = L::splat(dy_row[ow][oc]);
                                    for kw in 0..K {
                                        for v in 0..IV {
                                            let at = (kw * OC + oc) * IC + ic0 + v * L::N;
                                            let w = L::load(&rows[at..]);
                                            acc[kw][v] = mul_add::<L>(acc[kw][v], dv, w);
                                        }
                                    }
                                }
                                let dx_row = &mut dx[ih * d.w * IC..][..d.w * IC];
                                for (kw, a) in acc.iter().enumerate() {
                                    let Some(iw) =
                                        (ow * S + kw).checked_sub(P).filter(|&i| i < d.w)
                                    else {
                                        continue;
                                    };
                                    for v in 0..IV {
                                        let at = &mut dx_row[iw * IC + ic0 + v * L::N..];
                                        L::store(at, L::add(L::load(at), a[v]));
                                    }
                                }
                            }
                        }
                        ow += 1;
                    }
                }
            }
        }
    }
}

/// [`super::conv::weight_grad_window`] when a kernel row of gradients fits in 24 (AVX-512) or
/// 12 (AVX2) registers, on `isa`; `false` if it does not apply.
pub(crate) fn conv_weight_grad_window<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    isa: Isa,
    d: ConvDims,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) -> bool {
    let Some(isa) = f32_isa::<T>(isa) else {
        return false;
    };
    let (Some(x), Some(dy), Some(dw)) = (T::as_f32(x), T::as_f32(dy), T::as_f32_mut(dw)) else {
        return false;
    };
    macro_rules! go {
        ($l:ty, $ov:literal) => {
            // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the type's
            // instruction set (AVX-512 here implies AVX2 and FMA, see `Isa::is_supported`).
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || conv_weight_grad_window_f32::<$l, IC, OC, K, S, P, $ov>(d, x, dy, dw),
                )
            }
        };
    }
    match isa {
        Isa::Avx512 if const { OC == 16 && K * IC <= 24 } => go!(Avx512, 1),
        Isa::Avx512 if const { OC == 32 && K * IC <= 12 } => go!(Avx512, 2),
        Isa::Avx512 if const { OC == 8 && K * IC <= 12 } => go!(Avx2, 1),
        Isa::Avx2 if const { OC == 16 && K * IC <= 6 } => go!(Avx2, 2),
        // Wider rows (a 3x3 kernel on RGB: 9 values by 16 channels) in two or more passes of
        // 8 channels: 4.8 -> 1.0 ms per batch of 64 for 3->16 @32x32 against the generic
        // kernel, whose 18 registers' worth of accumulators spill (one thread).
        Isa::Avx2 if const { OC.is_multiple_of(8) && K * IC <= 12 } => go!(Avx2, 1),
        _ => return false,
    }
    true
}

/// The weight gradient of a run of samples with one kernel row of gradients (`K * IC * OV`
/// registers, for `OV * L::N` of the output channels at a time) kept in registers along each
/// output row; the same sums in the same order as the generic kernel (left edge pixels,
/// interior pixels, right edge pixels).
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn conv_weight_grad_window_f32<
    L: Lanes,
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
    assert!(OC.is_multiple_of(OV * L::N), "chunks of OV registers");
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
        let (ow_lo, ow_hi) = interior(K, S, P, d.w, d.ow);
        dw.fill(0.0);
        for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
            for oh in 0..d.oh {
                let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
                let dy_row = &dy[oh * d.ow * OC..][..d.ow * OC];
                for kh in kh_lo..kh_hi {
                    let ih = oh * S + kh - P;
                    let x_row = &x[ih * d.w * IC..][..d.w * IC];
                    let rows = &mut dw[kh * K * IC * OC..][..K * IC * OC];
                    for oc0 in (0..OC).step_by(OV * L::N) {
                        for ow in 0..ow_lo.min(d.ow) {
                            weight_grad_edge::<L, IC, OC, K, S, P, OV>(
                                d, ow, oc0, x_row, dy_row, rows,
                            );
                        }
                        let mut acc = [[[L::zero(); OV]; IC]; K];
                        for kw in 0..K {
                            for ic in 0..IC {
                                for v in 0..OV {
                                    acc[kw][ic][v] =
                                        L::load(&rows[(kw * IC + ic) * OC + oc0 + v * L::N..]);
                                }
                            }
                        }
                        for ow in ow_lo..ow_hi {
                            let window = &x_row[(ow * S - P) * IC..][..K * IC];
                            let mut dv = [L::zero(); OV];
                            for v in 0..OV {
                                dv[v] = L::load(&dy_row[ow * OC + oc0 + v * L::N..]);
                            }
                            for kw in 0..K {
                                for ic in 0..IC {
                                    let xv = L::splat(window[kw * IC + ic]);
                                    for v in 0..OV {
                                        acc[kw][ic][v] = mul_add::<L>(acc[kw][ic][v], xv, dv[v]);
                                    }
                                }
                            }
                        }
                        for kw in 0..K {
                            for ic in 0..IC {
                                for v in 0..OV {
                                    L::store(
                                        &mut rows[(kw * IC + ic) * OC + oc0 + v * L::N..],
                                        acc[kw][ic][v],
                                    );
                                }
                            }
                        }
                        for ow in ow_hi.max(ow_lo)..d.ow {
                            weight_grad_edge::<L, IC, OC, K, S, P, OV>(
                                d, ow, oc0, x_row, dy_row, rows,
                            );
                        }
                    }
                }
            }
        }
    }
}

/// An edge pixel of [`conv_weight_grad_window_f32`], output channels `oc0 .. oc0 + OV *
/// L::N`: only the kernel columns inside the row, straight into the gradient rows of one kernel
/// row. A function rather than a closure, so
/// that it is inlined into (and compiled with) the caller's instruction set.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn weight_grad_edge<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OV: usize,
>(
    d: ConvDims,
    ow: usize,
    oc0: usize,
    x_row: &[f32],
    dy_row: &[f32],
    rows: &mut [f32],
) {
    for kw in 0..K {
        let Some(iw) = (ow * S + kw).checked_sub(P).filter(|&i| i < d.w) else {
            continue;
        };
        for ic in 0..IC {
            // SAFETY: the caller's, for every `L` method.
            unsafe {
                let xv = L::splat(x_row[iw * IC + ic]);
                for v in 0..OV {
                    let r = &mut rows[(kw * IC + ic) * OC + oc0 + v * L::N..];
                    let dv = L::load(&dy_row[ow * OC + oc0 + v * L::N..]);
                    L::store(r, mul_add::<L>(L::load(r), xv, dv));
                }
            }
        }
    }
}

/// Where a tile of output pixels of one sample reads and writes: pixel `p`'s input at its
/// first valid tap `(kh.0, kw.0)` is at `x_at + p * x_step`, the next kernel row `row_len`
/// further; its output at `y_at + p * y_step`. All of the tile's pixels have the same valid
/// taps `kh.0 .. kh.1` by `kw.0 .. kw.1` (a run along an output row, or down an edge column).
#[derive(Clone, Copy)]
struct Tile {
    x_at: usize,
    x_step: usize,
    kh: (usize, usize),
    kw: (usize, usize),
    row_len: usize,
    y_at: usize,
    y_step: usize,
}

/// `PB` output pixels laid out as `t` says, output channels `oc0 .. oc0 + OV * L::N`:
/// accumulators `[[L::V; OV]; PB]` in registers, each weight vector loaded once for the tile;
/// per output value the sum runs bias, then the valid kh, kw, then ic.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn forward_tile<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const PB: usize,
    const OV: usize,
>(
    t: Tile,
    oc0: usize,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        let mut bias_v = [L::zero(); OV];
        for v in 0..OV {
            bias_v[v] = load_part::<L>(&bias[oc0 + v * L::N..], OC);
        }
        let mut acc = [bias_v; PB];
        for kh in t.kh.0..t.kh.1 {
            let x_row = t.x_at + (kh - t.kh.0) * t.row_len;
            for kw in t.kw.0..t.kw.1 {
                let first = x_row + (kw - t.kw.0) * IC;
                let window = &x[first..][..(PB - 1) * t.x_step + IC];
                let rows = &weight[(kh * K + kw) * IC * OC..][..IC * OC];
                for ic in 0..IC {
                    let mut w = [L::zero(); OV];
                    for v in 0..OV {
                        w[v] = load_part::<L>(&rows[ic * OC + oc0 + v * L::N..], OC);
                    }
                    for p in 0..PB {
                        let xv = L::splat(window[p * t.x_step + ic]);
                        for v in 0..OV {
                            acc[p][v] = mul_add::<L>(acc[p][v], xv, w[v]);
                        }
                    }
                }
            }
        }
        let out = &mut y[t.y_at + oc0..][..(PB - 1) * t.y_step + OV * L::N.min(OC)];
        for p in 0..PB {
            for v in 0..OV {
                store_part::<L>(&mut out[p * t.y_step + v * L::N..], acc[p][v], OC);
            }
        }
    }
}

/// `PB` interior output pixels of row `oh` from `ow` on, input channels `ic0 .. ic0 + IV *
/// L::N`: for each kernel row, the `K` taps' sums over `oc` in registers
/// (`[[[L::V; IV]; K]; PB]`), then added into `dx`.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn input_grad_block<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const IV: usize,
>(
    d: ConvDims,
    oh: usize,
    ow: usize,
    ic0: usize,
    dy_row: &[[f32; OC]],
    weight_t: &[f32],
    dx: &mut [f32],
) {
    let (kh_lo, kh_hi) = valid_range_k(oh, K, S, P, d.h);
    let dy_block = &dy_row[ow..ow + PB];
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        for kh in kh_lo..kh_hi {
            let ih = oh * S + kh - P;
            let rows = &weight_t[kh * K * OC * IC..][..K * OC * IC];
            let mut acc = [[[L::zero(); IV]; K]; PB];
            for oc in 0..OC {
                let mut w = [[L::zero(); IV]; K];
                for kw in 0..K {
                    for v in 0..IV {
                        w[kw][v] = L::load(&rows[(kw * OC + oc) * IC + ic0 + v * L::N..]);
                    }
                }
                for p in 0..PB {
                    let dv = L::splat(dy_block[p][oc]);
                    for kw in 0..K {
                        for v in 0..IV {
                            acc[p][kw][v] = mul_add::<L>(acc[p][kw][v], dv, w[kw][v]);
                        }
                    }
                }
            }
            let dx_row = &mut dx[ih * d.w * IC..][..d.w * IC];
            let first = ow * S - P;
            for p in 0..PB {
                for kw in 0..K {
                    let px = &mut dx_row[(first + p * S + kw) * IC + ic0..][..IV * L::N];
                    for v in 0..IV {
                        let at = &mut px[v * L::N..];
                        L::store(at, L::add(L::load(at), acc[p][kw][v]));
                    }
                }
            }
        }
    }
}

/// [`super::conv_strided::input_grad`] (stride above 1) for `IC` a multiple of 32 (16 on AVX2), on `isa`;
/// `false` if it does not apply.
pub(crate) fn conv_input_grad_strided<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    isa: Isa,
    d: ConvDims,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) -> bool {
    let Some(isa) = f32_isa::<T>(isa) else {
        return false;
    };
    let (Some(dy), Some(weight_t), Some(dx)) =
        (T::as_f32(dy), T::as_f32(weight_t), T::as_f32_mut(dx))
    else {
        return false;
    };
    // Pixels per block: `PB * IV` accumulators beside `IV` weight vectors and the broadcast
    // output gradient, within AVX-512's 32 or AVX2's 16 registers; blocks of `PB` then `PB - 1`
    // tile the interior of a phase of 7, 8, 14, 15 or 16 pixels (ResNet's stride-2 layers at
    // 16x16 and 32x32) without single pixels. On one Zen 5 core, 32->64 @16x16: 8 + 7 pixels
    // ~665 µs per batch of 64, 4 + 2 ~900 µs, 8 + 4 (single pixels left over) ~1,010 µs.
    macro_rules! go {
        ($l:ty, $pb:literal, $pb2:literal, $iv:literal) => {
            // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the type's
            // instruction set (AVX-512 here implies AVX2 and FMA, see `Isa::is_supported`).
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || {
                        conv_input_grad_strided_f32::<$l, IC, OC, K, S, P, $pb, $pb2, $iv>(
                            d, dy, weight_t, dx,
                        )
                    },
                )
            }
        };
    }
    match isa {
        Isa::Avx512 if const { IC.is_multiple_of(32) } => go!(Avx512, 8, 7, 2),
        Isa::Avx2 if const { IC.is_multiple_of(16) } => go!(Avx2, 4, 3, 2),
        _ => return false,
    }
    true
}

/// The strided input gradient by phase, interior pixels in blocks of `PB`, then `PB2`, then
/// one, each in chunks of `IV` registers of input channels; edge pixels through the generic
/// [`super::conv_strided::pixel`]. The same sums in the same order as the generic kernel.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn conv_input_grad_strided_f32<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const PB: usize,
    const PB2: usize,
    const IV: usize,
>(
    d: ConvDims,
    dy: &[f32],
    weight_t: &[f32],
    dx: &mut [f32],
) {
    assert!(IC.is_multiple_of(IV * L::N), "chunks of IV registers");
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
                    let inside = j >= lo && j < hi;
                    // SAFETY (the three blocks): the caller's.
                    if inside && j + PB <= hi {
                        unsafe {
                            strided_block::<L, IC, OC, K, S, PB, IV>(
                                rows, col, j, b, d.ow, dy_px, taps, dx_row,
                            )
                        };
                        j += PB;
                    } else if inside && j + PB2 <= hi {
                        unsafe {
                            strided_block::<L, IC, OC, K, S, PB2, IV>(
                                rows, col, j, b, d.ow, dy_px, taps, dx_row,
                            )
                        };
                        j += PB2;
                    } else if inside {
                        unsafe {
                            strided_block::<L, IC, OC, K, S, 1, IV>(
                                rows, col, j, b, d.ow, dy_px, taps, dx_row,
                            )
                        };
                        j += 1;
                    } else {
                        dx_row[b + S * j] =
                            pixel::<f32, IC, OC, K, S>(rows, col, j, d.ow, dy_px, taps);
                        j += 1;
                    }
                }
            }
        }
    }
}

/// `PB` interior input pixels of phase `col` (columns `b + S * (j + p)` of one input row), in
/// chunks of `IV` registers of input channels: each pixel's sum over the kernel rows `rows`,
/// the phase's kernel columns and the output channels in registers, then stored.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn strided_block<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const PB: usize,
    const IV: usize,
>(
    rows: &[(usize, usize)],
    col: Phase,
    j: usize,
    b: usize,
    ow_len: usize,
    dy_px: &[[f32; OC]],
    taps: &[[f32; IC]],
    dx_row: &mut [[f32; IC]],
) {
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        for ic0 in (0..IC).step_by(IV * L::N) {
            let mut acc = [[L::zero(); IV]; PB];
            for &(kh, oh) in rows {
                for t in 0..col.count {
                    let g = &dy_px[oh * ow_len + j + col.base - t..][..PB];
                    let w_rows = &taps[(kh * K + col.first + S * t) * OC..][..OC];
                    for oc in 0..OC {
                        let mut w = [L::zero(); IV];
                        for v in 0..IV {
                            w[v] = L::load(&w_rows[oc][ic0 + v * L::N..]);
                        }
                        for p in 0..PB {
                            let dv = L::splat(g[p][oc]);
                            for v in 0..IV {
                                acc[p][v] = mul_add::<L>(acc[p][v], dv, w[v]);
                            }
                        }
                    }
                }
            }
            for p in 0..PB {
                let px = &mut dx_row[b + S * (j + p)];
                for v in 0..IV {
                    L::store(&mut px[ic0 + v * L::N..], acc[p][v]);
                }
            }
        }
    }
}

/// [`super::conv::weight_grad_rows`] for `OC` a multiple of 8 and `ICB` 4 or 8 (dividing
/// `IC`), on `isa`; `false` if it does not apply.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_weight_grad_rows<
    T: Float,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const ICB: usize,
>(
    isa: Isa,
    d: ConvDims,
    first_row: usize,
    x: &[T],
    dy: &[T],
    dw: &mut [T],
) -> bool {
    let Some(isa) = f32_isa::<T>(isa) else {
        return false;
    };
    let (Some(x), Some(dy), Some(dw)) = (T::as_f32(x), T::as_f32(dy), T::as_f32_mut(dw)) else {
        return false;
    };
    macro_rules! go {
        ($l:ty, $mr:literal, $mr2:literal, $nv:literal) => {
            // SAFETY: `f32_isa` checked that this CPU runs `isa`, which includes the type's
            // instruction set (AVX-512 here implies AVX2 and FMA, see `Isa::is_supported`).
            unsafe {
                run_for::<$l>(
                    #[inline(always)]
                    || {
                        conv_weight_grad_rows_f32::<$l, IC, OC, K, S, P, $mr, $mr2, $nv>(
                            d, first_row, x, dy, dw,
                        )
                    },
                )
            }
        };
    }
    // Tiles of `MR` gradient rows (or `MR2` where a task's rows or a tap's input channels end
    // sooner) by `NV` registers of output channels: more than 8 independent accumulators where
    // the sizes allow (a fused multiply-add takes 4 cycles and two issue per cycle, so fewer
    // chains leave the FMA units idle, and 8 are only just enough: 16->16 @32x32 on one thread,
    // AMD Zen 5, 1.6 -> 1.35 ms with 16 rows instead of 8), within AVX2's 16 registers beside
    // the `NV` output-gradient vectors and a broadcast.
    match isa {
        _ if const { !(ICB == 4 || ICB == 8) || !IC.is_multiple_of(ICB) } => return false,
        // 8 rows by two registers also where `OC` is a multiple of 64 (one thread, Zen 5,
        // against 4 rows by 4 registers: 128->128 @8x8 5.57 -> 5.13 ms, 64->64 @8x8 1.22 ->
        // 1.14 ms, 32->64 s2 0.66 -> 0.64 ms; 64->128 @16x16 the same within noise).
        Isa::Avx512 if const { OC.is_multiple_of(32) && ICB == 8 } => go!(Avx512, 8, 8, 2),
        Isa::Avx512 if const { OC.is_multiple_of(64) } => go!(Avx512, 4, 4, 4),
        Isa::Avx512 if const { OC.is_multiple_of(32) } => go!(Avx512, 4, 4, 2),
        Isa::Avx512 if const { OC.is_multiple_of(16) && IC.is_multiple_of(16) && ICB == 8 } => {
            go!(Avx512, 16, 8, 1)
        }
        Isa::Avx512 if const { OC.is_multiple_of(16) && ICB == 8 } => go!(Avx512, 8, 8, 1),
        Isa::Avx512 | Isa::Avx2 if const { OC.is_multiple_of(16) } => go!(Avx2, 4, 4, 2),
        Isa::Avx512 | Isa::Avx2 if const { OC.is_multiple_of(8) && ICB == 8 } => {
            go!(Avx2, 8, 8, 1)
        }
        Isa::Avx512 | Isa::Avx2 if const { OC.is_multiple_of(8) } => go!(Avx2, 4, 4, 1),
        _ => return false,
    }
    true
}

/// The weight gradient rows `first_row ..` of a task (see [`super::conv::weight_grad_rows`]) as
/// a matrix product `dw = x_windowsᵀ · dy` in register tiles of `MR` gradient rows (`MR2`
/// where fewer rows are left in the task or in the tap) by `NV` registers of output channels.
/// The pixels are taken one sample at a time, in chunks of output rows whose inputs and output
/// gradients fit in L1 (24 KB); for each chunk every tile of the task loads its gradients,
/// sweeps the chunk's pixels and stores them back, so that each pixel's values come from L1
/// (the old kernel swept runs of samples sized for L2 once per tile: L2 bandwidth, not the FMA
/// units, bounded it at ~35 GFLOP/s per core on AVX2). Each gradient value is one chain of
/// fused multiply-adds over the samples, rows and pixels in order, as in the generic kernel.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn conv_weight_grad_rows_f32<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const MR: usize,
    const MR2: usize,
    const NV: usize,
>(
    d: ConvDims,
    first_row: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
) {
    assert!(OC.is_multiple_of(NV * L::N) && IC.is_multiple_of(MR2) && MR.is_multiple_of(MR2));
    assert!((dw.len() / OC).is_multiple_of(MR2) && first_row.is_multiple_of(MR2));
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let rows_in_task = dw.len() / OC;
    // Output rows per chunk: their output gradients and the input rows they read within 24 KB
    // (6,144 values), at least one.
    let (dy_row_len, x_row_len) = (d.ow * OC, d.w * IC);
    let fits = |r: usize| r * dy_row_len + ((r - 1) * S + K) * x_row_len <= 6 * 1024;
    let mut rows_per_chunk = 1;
    while rows_per_chunk < d.oh && fits(rows_per_chunk + 1) {
        rows_per_chunk += 1;
    }
    dw.fill(0.0);
    // SAFETY (the whole body): the caller's, for `weight_grad_tile`.
    unsafe {
        for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
            for oh0 in (0..d.oh).step_by(rows_per_chunk) {
                let chunk = Chunk {
                    rows: (oh0, (oh0 + rows_per_chunk).min(d.oh)),
                    x_row_len,
                    dy_row_len,
                };
                let mut r = 0;
                while r < rows_in_task {
                    let row = first_row + r;
                    let tile = &mut dw[r * OC..];
                    if MR == MR2 || (r + MR <= rows_in_task && row % IC + MR <= IC) {
                        weight_grad_tile::<L, IC, OC, K, S, P, MR, NV>(d, chunk, row, x, dy, tile);
                        r += MR;
                    } else {
                        weight_grad_tile::<L, IC, OC, K, S, P, MR2, NV>(d, chunk, row, x, dy, tile);
                        r += MR2;
                    }
                }
            }
        }
    }
}

/// The output rows `rows.0 .. rows.1` of one sample that a weight-gradient chunk sweeps, and
/// the lengths of an input and an output-gradient row.
#[derive(Clone, Copy)]
struct Chunk {
    rows: (usize, usize),
    x_row_len: usize,
    dy_row_len: usize,
}

/// Adds one sample's pixels in output rows `chunk.rows` to the `MR` gradient rows from `row`
/// on (one tap, input channels `row % IC ..`), `tile`'s first `MR * OC` values, `NV` registers
/// of output channels at a time: accumulators `[[L::V; NV]; MR]` loaded, updated pixel by
/// pixel in order and stored back.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn weight_grad_tile<
    L: Lanes,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const MR: usize,
    const NV: usize,
>(
    d: ConvDims,
    chunk: Chunk,
    row: usize,
    x: &[f32],
    dy: &[f32],
    tile: &mut [f32],
) {
    let lanes = NV * L::N;
    let (tap, ic) = (row / IC, row % IC);
    let (kh, kw) = (tap / K, tap % K);
    let (oh_lo, oh_hi) = valid_range(kh, S, P, d.h, d.oh);
    let (oh_lo, oh_hi) = (oh_lo.max(chunk.rows.0), oh_hi.min(chunk.rows.1));
    if oh_lo >= oh_hi {
        return;
    }
    let (ow_lo, ow_hi) = valid_range(kw, S, P, d.w, d.ow);
    let (x_row_len, dy_row_len) = (chunk.x_row_len, chunk.dy_row_len);
    let rows = &mut tile[..MR * OC];
    // SAFETY (the whole body): the caller's, for every `L` method.
    unsafe {
        for oc0 in (0..OC).step_by(lanes) {
            let mut acc = [[L::zero(); NV]; MR];
            for i in 0..MR {
                for v in 0..NV {
                    acc[i][v] = L::load(&rows[i * OC + oc0 + v * L::N..]);
                }
            }
            for oh in oh_lo..oh_hi {
                let ih = oh * S + kh - P;
                let x_row = &x[ih * x_row_len..][..x_row_len];
                let dy_row = &dy[oh * dy_row_len..][..dy_row_len];
                for ow in ow_lo..ow_hi {
                    let xv = &x_row[(ow * S + kw - P) * IC + ic..][..MR];
                    let dv = &dy_row[ow * OC + oc0..][..lanes];
                    let mut g = [L::zero(); NV];
                    for v in 0..NV {
                        g[v] = L::load(&dv[v * L::N..]);
                    }
                    for i in 0..MR {
                        let xs = L::splat(xv[i]);
                        for v in 0..NV {
                            acc[i][v] = mul_add::<L>(acc[i][v], xs, g[v]);
                        }
                    }
                }
            }
            for i in 0..MR {
                for v in 0..NV {
                    L::store(&mut rows[i * OC + oc0 + v * L::N..], acc[i][v]);
                }
            }
        }
    }
}

/// Runs `$body` with `$steps` bound to the vector steps ([`WinogradSteps`]) of `$isa` inside
/// `run_for` for their lanes, and evaluates to `true`; `false` for the portable build. The
/// caller checks first, with `f32_isa`, that this CPU runs `$isa`.
macro_rules! with_winograd_steps {
    ($isa:expr, |$steps:ident| $body:expr) => {
        match $isa {
            Isa::Avx512 => {
                // SAFETY: the caller checked that this CPU runs AVX-512; the steps run inside
                // `run_for::<Avx512>`.
                unsafe {
                    run_for::<Avx512>(
                        #[inline(always)]
                        || {
                            let $steps = &WinogradSteps::<Avx512>(std::marker::PhantomData);
                            $body
                        },
                    )
                };
                true
            }
            Isa::Avx2 => {
                // SAFETY: the caller checked that this CPU runs AVX2; the steps run inside
                // `run_for::<Avx2>`.
                unsafe {
                    run_for::<Avx2>(
                        #[inline(always)]
                        || {
                            let $steps = &WinogradSteps::<Avx2>(std::marker::PhantomData);
                            $body
                        },
                    )
                };
                true
            }
            Isa::Portable => false,
        }
    };
}

/// [`super::winograd::forward`] with its three steps in vector registers ([`WinogradSteps`]):
/// the same operations per channel, in the same order, as the generic steps (so the same bits).
/// `false` if it does not apply (not `f32`, no vector instruction set).
pub(crate) fn winograd_forward<T: Float, const IC: usize, const OC: usize>(
    isa: Isa,
    d: ConvDims,
    x: &[T],
    u: &super::winograd::Transformed<T, IC, OC>,
    bias: &[T],
    y: &mut [T],
) -> bool {
    if f32_isa::<T>(isa).is_none() {
        return false;
    }
    with_winograd_steps!(isa, |steps| super::winograd::forward::<T, IC, OC>(
        d, x, u, bias, y, steps
    ))
}

/// [`super::winograd::weight_grad_transformed`] with its steps in vector registers
/// ([`WinogradSteps`], the generic steps' bits); `false` if it does not apply (not `f32`, no
/// vector instruction set).
pub(crate) fn winograd_weight_grad<T: Float, const IC: usize, const OC: usize>(
    isa: Isa,
    d: ConvDims,
    x: &[T],
    dy: &[T],
    m: &mut super::winograd::Transformed<T, IC, OC>,
) -> bool {
    if f32_isa::<T>(isa).is_none() {
        return false;
    }
    with_winograd_steps!(isa, |steps| {
        super::winograd::weight_grad_transformed::<T, IC, OC>(d, x, dy, m, steps)
    })
}

/// Winograd's steps on `L`'s registers, `L::N` channels at a time. Only constructed by
/// [`winograd_forward`], inside `run_for::<L>`: every method requires `L`'s instruction set.
/// No closures inside: one the compiler does not inline would run the intrinsics outside
/// `run_for`'s instruction set, as calls.
struct WinogradSteps<L>(std::marker::PhantomData<L>);

impl<L: Lanes, T: Float, const IC: usize, const OC: usize> super::winograd::Steps<T, IC, OC>
    for WinogradSteps<L>
{
    /// The generic `input_tile`, `L::N` channels per register.
    #[inline(always)]
    fn input(
        &self,
        patch: &super::winograd::Patch<T, IC>,
        v: &mut super::winograd::Patches<T, IC>,
        t: usize,
    ) {
        use super::winograd::SLOTS;
        let v = T::as_f32_mut(v.as_flattened_mut().as_flattened_mut()).expect("f32 data");
        let mut pixels: [&[f32]; 16] = [&[]; 16];
        for (pixel, patch) in pixels.iter_mut().zip(patch) {
            *pixel = T::as_f32(patch.as_slice()).expect("f32 data (f32_isa)");
        }
        for c in (0..IC).step_by(L::N) {
            // SAFETY (every `L::` call): `WinogradSteps<L>` exists only inside
            // `run_for::<L>`; `load` and `store` check their bounds.
            unsafe {
                let mut d = [L::zero(); 16];
                for k in 0..16 {
                    d[k] = L::load(&pixels[k][c..]);
                }
                let mut r = [[L::zero(); 4]; 4];
                for j in 0..4 {
                    r[0][j] = L::sub(d[j], d[8 + j]);
                    r[1][j] = L::add(d[4 + j], d[8 + j]);
                    r[2][j] = L::sub(d[8 + j], d[4 + j]);
                    r[3][j] = L::sub(d[4 + j], d[12 + j]);
                }
                for (i, r) in r.iter().enumerate() {
                    let row = [
                        L::sub(r[0], r[2]),
                        L::add(r[1], r[2]),
                        L::sub(r[2], r[1]),
                        L::sub(r[1], r[3]),
                    ];
                    for (j, value) in row.into_iter().enumerate() {
                        L::store(&mut v[((i * 4 + j) * SLOTS + t) * IC + c..], value);
                    }
                }
            }
        }
    }

    /// The generic `products`: a register of accumulators per tile (16 tiles at a time under
    /// AVX-512, 8 under AVX2, which has 16 registers), each input value broadcast.
    #[inline(always)]
    fn products(
        &self,
        v: &super::winograd::Patches<T, IC>,
        u: &super::winograd::Transformed<T, IC, OC>,
        m: &mut super::winograd::Products<T, OC>,
    ) {
        let v = T::as_f32(v.as_flattened().as_flattened()).expect("f32 data (f32_isa)");
        let u = T::as_f32(u.as_flattened().as_flattened()).expect("f32 data (f32_isa)");
        let m = T::as_f32_mut(m.as_flattened_mut().as_flattened_mut()).expect("f32 data");
        if L::N == 16 {
            winograd_products::<L, IC, OC, 16>(v, u, m)
        } else {
            winograd_products::<L, IC, OC, 8>(v, u, m)
        }
    }

    /// The generic `output_tile`, `L::N` channels per register.
    #[inline(always)]
    fn output(
        &self,
        m: &super::winograd::Products<T, OC>,
        t: usize,
        bias: &[T; OC],
        out: super::winograd::TileOutputs<T, OC>,
    ) {
        use super::winograd::SLOTS;
        let bias = T::as_f32(bias).expect("f32 data (f32_isa)");
        let m = T::as_f32(m.as_flattened().as_flattened()).expect("f32 data (f32_isa)");
        let [o0, o1, o2, o3] = out;
        let out: [&mut [f32]; 4] =
            [o0, o1, o2, o3].map(|o| T::as_f32_mut(o.as_mut_slice()).expect("f32 data (f32_isa)"));
        for o in (0..OC).step_by(L::N) {
            // SAFETY (every `L::` call): as in `input`.
            unsafe {
                let mut mm = [L::zero(); 16];
                for k in 0..16 {
                    mm[k] = L::load(&m[(k * SLOTS + t) * OC + o..]);
                }
                let mut s = [[L::zero(); 2]; 4];
                for (i, s) in s.iter_mut().enumerate() {
                    let (a, b, c, e) = (mm[i * 4], mm[i * 4 + 1], mm[i * 4 + 2], mm[i * 4 + 3]);
                    s[0] = L::add(L::add(a, b), c);
                    s[1] = L::sub(L::sub(b, c), e);
                }
                let b = L::load(&bias[o..]);
                for j in 0..2 {
                    let top = L::add(L::add(L::add(s[0][j], s[1][j]), s[2][j]), b);
                    let bottom = L::add(L::sub(L::sub(s[1][j], s[2][j]), s[3][j]), b);
                    L::store(&mut out[j][o..], top);
                    L::store(&mut out[2 + j][o..], bottom);
                }
            }
        }
    }

    /// The generic `grad_output_tile`, `L::N` channels per register.
    #[inline(always)]
    fn grad_output(
        &self,
        grad: &super::winograd::TileGrads<T, OC>,
        w: &mut super::winograd::Products<T, OC>,
        t: usize,
    ) {
        use super::winograd::SLOTS;
        let w = T::as_f32_mut(w.as_flattened_mut().as_flattened_mut()).expect("f32 data");
        let [g0, g1, g2, g3] = grad;
        let grad: [&[f32]; 4] =
            [g0, g1, g2, g3].map(|g| T::as_f32(g.as_slice()).expect("f32 data (f32_isa)"));
        for o in (0..OC).step_by(L::N) {
            // SAFETY (every `L::` call): as in `input`.
            unsafe {
                let (a, b, c, e) = (
                    L::load(&grad[0][o..]),
                    L::load(&grad[1][o..]),
                    L::load(&grad[2][o..]),
                    L::load(&grad[3][o..]),
                );
                let zero = L::zero();
                let rows = [
                    [a, b],
                    [L::add(a, c), L::add(b, e)],
                    [L::sub(a, c), L::sub(b, e)],
                    [L::sub(zero, c), L::sub(zero, e)],
                ];
                for (i, [p, q]) in rows.into_iter().enumerate() {
                    let row = [p, L::add(p, q), L::sub(p, q), L::sub(zero, q)];
                    for (j, value) in row.into_iter().enumerate() {
                        L::store(&mut w[((i * 4 + j) * SLOTS + t) * OC + o..], value);
                    }
                }
            }
        }
    }

    /// The generic `accumulate`: a register of accumulators per input channel of a block (16
    /// under AVX-512, 8 under AVX2), each value of `v` broadcast.
    #[inline(always)]
    fn accumulate(
        &self,
        v: &super::winograd::Patches<T, IC>,
        w: &super::winograd::Products<T, OC>,
        n: usize,
        m: &mut super::winograd::Transformed<T, IC, OC>,
    ) {
        let v = T::as_f32(v.as_flattened().as_flattened()).expect("f32 data (f32_isa)");
        let w = T::as_f32(w.as_flattened().as_flattened()).expect("f32 data (f32_isa)");
        let m = T::as_f32_mut(m.as_flattened_mut().as_flattened_mut()).expect("f32 data");
        if L::N == 16 {
            winograd_accumulate::<L, IC, OC, 16>(v, w, n, m)
        } else {
            winograd_accumulate::<L, IC, OC, 8>(v, w, n, m)
        }
    }
}

/// The products of [`WinogradSteps`] on flat `v`, `u` and `m`, `TB` tiles at a time.
#[inline(always)]
fn winograd_products<L: Lanes, const IC: usize, const OC: usize, const TB: usize>(
    v: &[f32],
    u: &[f32],
    m: &mut [f32],
) {
    use super::winograd::{SLOTS, TILES};
    for k in 0..16 {
        let vk = &v[k * SLOTS * IC..][..TILES * IC];
        let uk = &u[k * IC * OC..][..IC * OC];
        let mk = &mut m[k * SLOTS * OC..][..TILES * OC];
        for t0 in (0..TILES).step_by(TB) {
            for oc0 in (0..OC).step_by(L::N) {
                // SAFETY (every `L::` call): only called by `WinogradSteps<L>`, inside
                // `run_for::<L>`; `load` and `store` check their bounds.
                unsafe {
                    let mut acc = [L::zero(); TB];
                    for ic in 0..IC {
                        let w = L::load(&uk[ic * OC + oc0..]);
                        for t in 0..TB {
                            acc[t] = L::fmadd(L::splat(vk[(t0 + t) * IC + ic]), w, acc[t]);
                        }
                    }
                    for t in 0..TB {
                        L::store(&mut mk[(t0 + t) * OC + oc0..], acc[t]);
                    }
                }
            }
        }
    }
}

/// The sums of [`WinogradSteps::accumulate`] on flat `v`, `w` and `m`, `ICB` input channels
/// at a time.
#[inline(always)]
fn winograd_accumulate<L: Lanes, const IC: usize, const OC: usize, const ICB: usize>(
    v: &[f32],
    w: &[f32],
    n: usize,
    m: &mut [f32],
) {
    use super::winograd::{SLOTS, TILES};
    for k in 0..16 {
        let vk = &v[k * SLOTS * IC..][..TILES * IC];
        let wk = &w[k * SLOTS * OC..][..TILES * OC];
        let mk = &mut m[k * IC * OC..][..IC * OC];
        for ic0 in (0..IC).step_by(ICB) {
            for oc0 in (0..OC).step_by(L::N) {
                // SAFETY (every `L::` call): only called by `WinogradSteps<L>`, inside
                // `run_for::<L>`; `load` and `store` check their bounds.
                unsafe {
                    let mut acc = [L::zero(); ICB];
                    for i in 0..ICB {
                        acc[i] = L::load(&mk[(ic0 + i) * OC + oc0..]);
                    }
                    for t in 0..n {
                        let g = L::load(&wk[t * OC + oc0..]);
                        for i in 0..ICB {
                            acc[i] = L::fmadd(L::splat(vk[t * IC + ic0 + i]), g, acc[i]);
                        }
                    }
                    for i in 0..ICB {
                        L::store(&mut mk[(ic0 + i) * OC + oc0..], acc[i]);
                    }
                }
            }
        }
    }
}
