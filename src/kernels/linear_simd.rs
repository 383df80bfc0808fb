//! Hand-written SIMD (AVX-512 and AVX2, `f32`) for the fully connected layer's forward pass
//! and input gradient: both are rows of one matrix times another, `c[s][j] = init[j] + sum
//! over k of a[s][k] * b[k][j]`, with `b` row-major (the weights `[IN][OUT]` forward, their
//! transposed copy `[OUT][IN]` backward).
//!
//! The generic kernels keep their blocks of accumulators (`[[f32; OUT]; 4]`, `[[f32; 64]; 4]`)
//! in arrays that LLVM left on the stack: a store after every fused multiply-add (seen in the
//! disassembly; the SmallCnn's `Linear<1568, 100>` took ~195 µs forward and ~205 µs for its
//! input gradient at batch 64 on two threads). Here a tile of `NB` rows times `V` registers
//! of columns stays in registers while `k` runs; the last, partial register of a row (100 =
//! 6 x 16 + 4) uses masked loads and stores. Per output the sum is the generic kernels':
//! `init`, then `k` in order, one fused multiply-add each, so the results are bit-identical
//! to them and to the reference loops (`kernels::tests` asserts that under each instruction
//! set). Each entry point returns `false` without doing anything when it does not apply (not
//! `f32`, or no vector instruction set); the caller then runs the generic kernel.

use super::Isa;
use super::simd::{Avx2, Avx512, Lanes, f32_isa, load_part, run_for, store_part};
use crate::Float;

/// `c = a . b (+ init)` on `isa`'s registers: tiles of 6 rows x 4 registers on AVX-512 (24 of
/// its 32 registers accumulate), 4 x 2 on AVX2 (8 of 16).
fn rows_times_matrix_on(
    isa: Isa,
    a: &[f32],
    k_len: usize,
    b: &[f32],
    j_len: usize,
    init: Option<&[f32]>,
    c: &mut [f32],
) {
    match isa {
        // SAFETY: the callers got `isa` from `f32_isa`, which checked that this CPU runs it.
        Isa::Avx512 => unsafe {
            run_for::<Avx512>(
                #[inline(always)]
                || rows_times_matrix::<Avx512, 6, 4>(a, k_len, b, j_len, init, c),
            )
        },
        // SAFETY: as above.
        Isa::Avx2 => unsafe {
            run_for::<Avx2>(
                #[inline(always)]
                || rows_times_matrix::<Avx2, 4, 2>(a, k_len, b, j_len, init, c),
            )
        },
        Isa::Portable => unreachable!("f32_isa returns a vector instruction set"),
    }
}

/// `c[s][j] = init[j] + sum over k of a[s][k] * b[k][j]` (`init` zero if `None`) for every row
/// `s` of `a` (`k_len` values each; `b` has `k_len` rows of `j_len`, `c` rows of `j_len`):
/// blocks of `NB` rows (then single rows), each in tiles of `V` registers of columns (then
/// single registers, the last one partial).
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn rows_times_matrix<L: Lanes, const NB: usize, const V: usize>(
    a: &[f32],
    k_len: usize,
    b: &[f32],
    j_len: usize,
    init: Option<&[f32]>,
    c: &mut [f32],
) {
    let rows = c.len() / j_len;
    let mut s = 0;
    while s < rows {
        let a_rows = &a[s * k_len..];
        let c_rows = &mut c[s * j_len..];
        // SAFETY: the caller's.
        unsafe {
            if s + NB <= rows {
                row_block::<L, NB, V>(a_rows, k_len, b, j_len, init, c_rows);
                s += NB;
            } else {
                row_block::<L, 1, V>(a_rows, k_len, b, j_len, init, c_rows);
                s += 1;
            }
        }
    }
}

/// All columns of `NB` rows: tiles of `V` whole registers, then one register at a time.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn row_block<L: Lanes, const NB: usize, const V: usize>(
    a: &[f32],
    k_len: usize,
    b: &[f32],
    j_len: usize,
    init: Option<&[f32]>,
    c: &mut [f32],
) {
    let mut j0 = 0;
    // SAFETY (every tile): the caller's.
    unsafe {
        while j0 + V * L::N <= j_len {
            tile::<L, NB, V, false>(a, k_len, b, j_len, init, c, j0);
            j0 += V * L::N;
        }
        while j0 + L::N <= j_len {
            tile::<L, NB, 1, false>(a, k_len, b, j_len, init, c, j0);
            j0 += L::N;
        }
        if j0 < j_len {
            tile::<L, NB, 1, true>(a, k_len, b, j_len, init, c, j0);
        }
    }
}

/// The `V` registers of columns from `j0` of `NB` rows, the last register holding only the
/// `j_len - j0 - (V - 1) * L::N` remaining columns if `PARTIAL`.
///
/// # Safety
///
/// The CPU must support `L`'s instruction set.
#[inline(always)]
unsafe fn tile<L: Lanes, const NB: usize, const V: usize, const PARTIAL: bool>(
    a: &[f32],
    k_len: usize,
    b: &[f32],
    j_len: usize,
    init: Option<&[f32]>,
    c: &mut [f32],
    j0: usize,
) {
    let last_lanes = (j_len - j0 - (V - 1) * L::N).min(L::N);
    // Values in register `reg` of the tile (a constant `L::N` unless `PARTIAL`).
    let lanes = |reg: usize| {
        if PARTIAL && reg == V - 1 {
            last_lanes
        } else {
            L::N
        }
    };
    // SAFETY (every `L::`, `load_part` and `store_part` call): the caller's.
    unsafe {
        let mut acc = [[L::zero(); V]; NB];
        if let Some(init) = init {
            for reg in 0..V {
                let v = load_part::<L>(&init[j0 + reg * L::N..], lanes(reg));
                for row in acc.iter_mut() {
                    row[reg] = v;
                }
            }
        }
        for k in 0..k_len {
            let b_row = &b[k * j_len + j0..];
            let mut w = [L::zero(); V];
            for (reg, w) in w.iter_mut().enumerate() {
                *w = load_part::<L>(&b_row[reg * L::N..], lanes(reg));
            }
            for (s, row) in acc.iter_mut().enumerate() {
                let x = L::splat(a[s * k_len + k]);
                for (acc, &w) in row.iter_mut().zip(&w) {
                    *acc = L::fmadd(x, w, *acc);
                }
            }
        }
        for (s, row) in acc.iter().enumerate() {
            for (reg, &v) in row.iter().enumerate() {
                store_part::<L>(&mut c[s * j_len + j0 + reg * L::N..], v, lanes(reg));
            }
        }
    }
}

/// The generic `linear::forward` (`y = x . W + b`, rows of `IN`, weights `[IN][OUT]`) on
/// `isa`; `false` if it does not apply.
pub(crate) fn forward<T: Float, const IN: usize, const OUT: usize>(
    isa: Isa,
    x: &[T],
    weight: &[T],
    bias: &[T],
    y: &mut [T],
) -> bool {
    let (Some(isa), Some(x), Some(weight), Some(bias), Some(y)) = (
        f32_isa::<T>(isa),
        T::as_f32(x),
        T::as_f32(weight),
        T::as_f32(bias),
        T::as_f32_mut(y),
    ) else {
        return false;
    };
    rows_times_matrix_on(isa, x, IN, &weight[..IN * OUT], OUT, Some(&bias[..OUT]), y);
    true
}

/// The generic `linear::input_grad` (`dx = dy . W^T`, from the transposed weights `[OUT][IN]`)
/// on `isa`; `false` if it does not apply.
pub(crate) fn input_grad<T: Float, const IN: usize, const OUT: usize>(
    isa: Isa,
    dy: &[T],
    weight_t: &[T],
    dx: &mut [T],
) -> bool {
    let (Some(isa), Some(dy), Some(weight_t), Some(dx)) = (
        f32_isa::<T>(isa),
        T::as_f32(dy),
        T::as_f32(weight_t),
        T::as_f32_mut(dx),
    ) else {
        return false;
    };
    rows_times_matrix_on(isa, dy, OUT, &weight_t[..IN * OUT], IN, None, dx);
    true
}
