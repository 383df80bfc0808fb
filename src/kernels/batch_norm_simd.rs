//! Hand-written SIMD (AVX-512 and AVX2, `f32`) for BatchNorm's passes over the pixels when the
//! channel count is a multiple of 8: the per-sample statistics, the backward pass's per-sample
//! sums, the normalisation and the input gradient, each with or without the fused ReLU of
//! `BatchNorm2dRelu` (`RELU`; see [`super::batch_norm`]).
//!
//! LLVM unrolls the generic kernels' constant per-channel loops completely and then, for some
//! channel counts, does not vectorise them: with 16 channels the backward pass ran one scalar
//! fused multiply-add per value, with its coefficients spilled to the stack (seen in the
//! disassembly; 16 channels at 32x32 took 7x as long per value as 32 channels at 16x16). Here
//! every operation is on a vector of channels ([`Lanes`]). Per channel lane they are the
//! generic kernels' operations in the same order (the same four interleaved accumulators, the
//! same fused and unfused steps), so the results are bit-identical; the tests in
//! `kernels::tests` assert that under each instruction set.
//!
//! The sums take the channels one or two registers at a time, each chunk over all the sample's
//! pixels (the sample is in cache for the next chunk); the element-wise passes go row by row
//! with the per-channel coefficients in registers.
//! Each entry point returns `false` without doing anything when it does not apply (not `f32`,
//! no vector instruction set, or `C` not a multiple of 8); the caller then runs the generic
//! kernel.

use super::Isa;
use super::simd::{Avx2, Avx512, Lanes, f32_isa, run_for};
use crate::Float;

/// The register type for `C` channels: AVX-512's 16 lanes if they divide `C`, else AVX2's 8
/// (on AVX-512 CPUs too), else none.
fn lanes_for<T: Float, const C: usize>(isa: Isa) -> Option<Isa> {
    match f32_isa::<T>(isa)? {
        Isa::Avx512 if C.is_multiple_of(16) => Some(Isa::Avx512),
        _ if C.is_multiple_of(8) && C > 0 => Some(Isa::Avx2),
        _ => None,
    }
}

/// Runs `kernel::<L, C>(args)` (`[C, RELU]`: `kernel::<L, C, RELU>`) with `L` the register
/// type that [`lanes_for`] chose, or, with `chunked`, `kernel::<L, C, CV>(args)` (or
/// `kernel::<L, C, CV, RELU>`) with `CV` registers of channels per chunk: two of AVX-512's when
/// they divide `C` (8 or 16 of its 32 registers hold the accumulators), else one.
macro_rules! dispatch {
    ($isa:expr, [$c:ident $(, $relu:ident)?], $kernel:ident ( $($arg:expr),* )) => {
        match $isa {
            // SAFETY: `lanes_for` returned this set only after `f32_isa` checked that this CPU
            // runs the requested instruction set, which includes it (AVX-512 implies AVX2).
            Isa::Avx512 => unsafe {
                run_for::<Avx512>(#[inline(always)] || $kernel::<Avx512, $c $(, $relu)?>($($arg),*))
            },
            // SAFETY: as above.
            Isa::Avx2 => unsafe {
                run_for::<Avx2>(#[inline(always)] || $kernel::<Avx2, $c $(, $relu)?>($($arg),*))
            },
            Isa::Portable => unreachable!("lanes_for returns a vector instruction set"),
        }
    };
    ($isa:expr, [$c:ident $(, $relu:ident)?], chunked $kernel:ident ( $($arg:expr),* )) => {
        match $isa {
            // SAFETY: as above.
            Isa::Avx512 if $c.is_multiple_of(32) => unsafe {
                run_for::<Avx512>(#[inline(always)] || $kernel::<Avx512, $c, 2 $(, $relu)?>($($arg),*))
            },
            // SAFETY: as above.
            Isa::Avx512 => unsafe {
                run_for::<Avx512>(#[inline(always)] || $kernel::<Avx512, $c, 1 $(, $relu)?>($($arg),*))
            },
            // SAFETY: as above.
            Isa::Avx2 => unsafe {
                run_for::<Avx2>(#[inline(always)] || $kernel::<Avx2, $c, 1 $(, $relu)?>($($arg),*))
            },
            Isa::Portable => unreachable!("lanes_for returns a vector instruction set"),
        }
    };
}

/// `dy`, or with `RELU` the fused ReLU's gradient at the normalised value `x * scale + shift`:
/// `dy * step(x * scale + shift)`, the generic `grad_through_relu`.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn grad_through_relu<L: Lanes, const RELU: bool>(
    x: L::V,
    dy: L::V,
    scale: L::V,
    shift: L::V,
) -> L::V {
    // SAFETY: the caller's.
    unsafe {
        if RELU {
            L::mul(dy, L::step(L::fmadd(x, scale, shift)))
        } else {
            dy
        }
    }
}

/// `(a0 + a1) + (a2 + a3)`.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn quad_sum<L: Lanes>(a0: L::V, a1: L::V, a2: L::V, a3: L::V) -> L::V {
    // SAFETY: the caller's.
    unsafe { L::add(L::add(a0, a1), L::add(a2, a3)) }
}

/// Per-channel sums of `x`'s rows (`C` values each) into `out`, in the generic `sum_rows`'s
/// order: pixel `p` of the whole quads into accumulator `p % 4`, the last `pixels % 4` into
/// accumulator 0, then `(a0 + a1) + (a2 + a3)`. `term(values, offset)` is the summand of the
/// `L::N` channels from `offset`. `CV` registers of channels at a time.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn sum_rows<L: Lanes, const C: usize, const CV: usize>(
    x: &[f32],
    out: &mut [f32],
    term: impl Fn(L::V, usize) -> L::V,
) {
    let pixels = x.len() / C;
    let whole = pixels / 4 * 4;
    // SAFETY (every `L::` call): the caller's, the CPU supports `L`.
    unsafe {
        for o in (0..C).step_by(CV * L::N) {
            let mut a = [[L::zero(); CV]; 4];
            for p in (0..whole).step_by(4) {
                for (j, a) in a.iter_mut().enumerate() {
                    for (v, a) in a.iter_mut().enumerate() {
                        let at = (p + j) * C + o + v * L::N;
                        *a = L::add(*a, term(L::load(&x[at..]), o + v * L::N));
                    }
                }
            }
            for p in whole..pixels {
                for (v, a) in a[0].iter_mut().enumerate() {
                    let at = p * C + o + v * L::N;
                    *a = L::add(*a, term(L::load(&x[at..]), o + v * L::N));
                }
            }
            for v in 0..CV {
                let sum = quad_sum::<L>(a[0][v], a[1][v], a[2][v], a[3][v]);
                L::store(&mut out[o + v * L::N..], sum);
            }
        }
    }
}

/// The generic `sample_stats` for each sample of `x` (`sample` values each): `stats` gets
/// `2C` values per sample, its mean and its sum of squared deviations from that mean.
pub(crate) fn samples_stats<T: Float, const C: usize>(
    isa: Isa,
    x: &[T],
    sample: usize,
    stats: &mut [T],
) -> bool {
    let (Some(isa), Some(x), Some(stats)) =
        (lanes_for::<T, C>(isa), T::as_f32(x), T::as_f32_mut(stats))
    else {
        return false;
    };
    /// # Safety
    ///
    /// The CPU must support `L`'s instruction set.
    #[inline(always)]
    unsafe fn kernel<L: Lanes, const C: usize, const CV: usize>(
        x: &[f32],
        sample: usize,
        stats: &mut [f32],
    ) {
        let pixels = (sample / C) as f32;
        for (s, x) in stats.chunks_exact_mut(2 * C).zip(x.chunks_exact(sample)) {
            let (mean, m2) = s.split_at_mut(C);
            // SAFETY: the caller's.
            unsafe {
                sum_rows::<L, C, CV>(
                    x,
                    mean,
                    #[inline(always)]
                    |v, _| v,
                )
            };
            for m in mean.iter_mut() {
                *m /= pixels;
            }
            let mean = &*mean;
            // SAFETY: the caller's; `d * d`, then the sum, unfused as in the generic kernel.
            unsafe {
                sum_rows::<L, C, CV>(
                    x,
                    m2,
                    #[inline(always)]
                    |v, o| {
                        let d = L::sub(v, L::load(&mean[o..]));
                        L::mul(d, d)
                    },
                )
            };
        }
    }
    dispatch!(isa, [C], chunked kernel(x, sample, stats));
    true
}

/// The generic `sample_grad_sums` for each sample of `x` and `dy` (`sample` values each):
/// `sums` gets `2C` values per sample, `Σ dy` and `Σ dy * (x - mean)`.
pub(crate) fn samples_grad_sums<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    sample: usize,
    mean: &[T; C],
    [scale, shift]: &[[T; C]; 2],
    sums: &mut [T],
) -> bool {
    let (Some(isa), Some(x), Some(dy), Some(mean), Some(scale), Some(shift), Some(sums)) = (
        lanes_for::<T, C>(isa),
        T::as_f32(x),
        T::as_f32(dy),
        T::as_f32(mean),
        T::as_f32(scale),
        T::as_f32(shift),
        T::as_f32_mut(sums),
    ) else {
        return false;
    };
    /// The mean, scale and shift of `CV` registers of channels.
    type Channels<L, const CV: usize> = [[<L as Lanes>::V; CV]; 3];
    /// # Safety
    ///
    /// The CPU must support `L`'s instruction set.
    #[inline(always)]
    unsafe fn kernel<L: Lanes, const C: usize, const CV: usize, const RELU: bool>(
        x: &[f32],
        dy: &[f32],
        sample: usize,
        mean: &[f32],
        scale: &[f32],
        shift: &[f32],
        sums: &mut [f32],
    ) {
        let pixels = sample / C;
        let whole = pixels / 4 * 4;
        for ((s, x), dy) in sums
            .chunks_exact_mut(2 * C)
            .zip(x.chunks_exact(sample))
            .zip(dy.chunks_exact(sample))
        {
            // SAFETY (every `L::` call and `add`): the caller's.
            unsafe {
                for o in (0..C).step_by(CV * L::N) {
                    let mut ch: Channels<L, CV> = [[L::zero(); CV]; 3];
                    for v in 0..CV {
                        ch[0][v] = L::load(&mean[o + v * L::N..]);
                        ch[1][v] = L::load(&scale[o + v * L::N..]);
                        ch[2][v] = L::load(&shift[o + v * L::N..]);
                    }
                    let (mut a_dy, mut a_dyx) = ([[L::zero(); CV]; 4], [[L::zero(); CV]; 4]);
                    let at = |p: usize, v: usize| p * C + o + v * L::N;
                    for p in (0..whole).step_by(4) {
                        for j in 0..4 {
                            for v in 0..CV {
                                let i = at(p + j, v);
                                add::<L, RELU>(
                                    &mut a_dy[j][v],
                                    &mut a_dyx[j][v],
                                    &x[i..],
                                    &dy[i..],
                                    [ch[0][v], ch[1][v], ch[2][v]],
                                );
                            }
                        }
                    }
                    for p in whole..pixels {
                        for v in 0..CV {
                            let i = at(p, v);
                            add::<L, RELU>(
                                &mut a_dy[0][v],
                                &mut a_dyx[0][v],
                                &x[i..],
                                &dy[i..],
                                [ch[0][v], ch[1][v], ch[2][v]],
                            );
                        }
                    }
                    for v in 0..CV {
                        let o = o + v * L::N;
                        let sum = quad_sum::<L>(a_dy[0][v], a_dy[1][v], a_dy[2][v], a_dy[3][v]);
                        L::store(&mut s[o..], sum);
                        let sum = quad_sum::<L>(a_dyx[0][v], a_dyx[1][v], a_dyx[2][v], a_dyx[3][v]);
                        L::store(&mut s[C + o..], sum);
                    }
                }
            }
        }
    }
    /// One pixel's `dy` (through the fused ReLU if `RELU`) into `a_dy` and `dy * (x - mean)`
    /// into `a_dyx`; `[mean, scale, shift]` of these channels.
    ///
    /// # Safety
    ///
    /// The CPU must support `L`'s instruction set.
    #[inline(always)]
    unsafe fn add<L: Lanes, const RELU: bool>(
        a_dy: &mut L::V,
        a_dyx: &mut L::V,
        x: &[f32],
        dy: &[f32],
        [mean, scale, shift]: [L::V; 3],
    ) {
        // SAFETY: the caller's.
        unsafe {
            let x = L::load(x);
            let g = grad_through_relu::<L, RELU>(x, L::load(dy), scale, shift);
            *a_dy = L::add(*a_dy, g);
            *a_dyx = L::fmadd(L::sub(x, mean), g, *a_dyx);
        }
    }
    dispatch!(isa, [C, RELU], chunked kernel(x, dy, sample, mean, scale, shift, sums));
    true
}

/// The generic `normalize`: `y = x * scale + shift` per channel (one fused multiply-add), then
/// the ReLU if `RELU`.
pub(crate) fn normalize<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    y: &mut [T],
    scale: &[T; C],
    shift: &[T; C],
) -> bool {
    let (Some(isa), Some(x), Some(y), Some(scale), Some(shift)) = (
        lanes_for::<T, C>(isa),
        T::as_f32(x),
        T::as_f32_mut(y),
        T::as_f32(scale),
        T::as_f32(shift),
    ) else {
        return false;
    };
    /// # Safety
    ///
    /// The CPU must support `L`'s instruction set.
    #[inline(always)]
    unsafe fn kernel<L: Lanes, const C: usize, const RELU: bool>(
        x: &[f32],
        y: &mut [f32],
        scale: &[f32],
        shift: &[f32],
    ) {
        for (y, x) in y.chunks_exact_mut(C).zip(x.chunks_exact(C)) {
            for o in (0..C).step_by(L::N) {
                // SAFETY: the caller's.
                unsafe {
                    let v = L::fmadd(L::load(&x[o..]), L::load(&scale[o..]), L::load(&shift[o..]));
                    // `max(0, v)` is `if v < 0 { 0 } else { v }` (see `Lanes::max`).
                    let v = if RELU { L::max(L::zero(), v) } else { v };
                    L::store(&mut y[o..], v);
                }
            }
        }
    }
    dispatch!(isa, [C, RELU], kernel(x, y, scale, shift));
    true
}

/// The generic `input_grad`: `dx = a * dy + (b * x + k)` per channel, `coef = [a, b, k]`, `dy`
/// through the fused ReLU if `RELU`.
pub(crate) fn input_grad<T: Float, const C: usize, const RELU: bool>(
    isa: Isa,
    x: &[T],
    dy: &[T],
    dx: &mut [T],
    coef: &[[T; C]; 3],
    [scale, shift]: &[[T; C]; 2],
) -> bool {
    let (Some(isa), Some(x), Some(dy), Some(dx), Some(a), Some(b), Some(k), Some(s), Some(t)) = (
        lanes_for::<T, C>(isa),
        T::as_f32(x),
        T::as_f32(dy),
        T::as_f32_mut(dx),
        T::as_f32(&coef[0]),
        T::as_f32(&coef[1]),
        T::as_f32(&coef[2]),
        T::as_f32(scale),
        T::as_f32(shift),
    ) else {
        return false;
    };
    /// # Safety
    ///
    /// The CPU must support `L`'s instruction set.
    #[inline(always)]
    unsafe fn kernel<L: Lanes, const C: usize, const RELU: bool>(
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
        [a, b, k]: [&[f32]; 3],
        [scale, shift]: [&[f32]; 2],
    ) {
        for ((dx, x), dy) in dx
            .chunks_exact_mut(C)
            .zip(x.chunks_exact(C))
            .zip(dy.chunks_exact(C))
        {
            for o in (0..C).step_by(L::N) {
                // SAFETY: the caller's.
                unsafe {
                    let xv = L::load(&x[o..]);
                    let g = grad_through_relu::<L, RELU>(
                        xv,
                        L::load(&dy[o..]),
                        L::load(&scale[o..]),
                        L::load(&shift[o..]),
                    );
                    let bxk = L::fmadd(L::load(&b[o..]), xv, L::load(&k[o..]));
                    L::store(&mut dx[o..], L::fmadd(L::load(&a[o..]), g, bxk));
                }
            }
        }
    }
    dispatch!(isa, [C, RELU], kernel(x, dy, dx, [a, b, k], [s, t]));
    true
}
