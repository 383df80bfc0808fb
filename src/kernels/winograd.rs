//! Winograd's F(2x2, 3x3) (Lavin and Gray 2016) for 3x3 convolutions with stride 1 and padding
//! 1, `f32`, 16 to 128 input and output channels in multiples of 16: the forward pass (and so
//! the stride-1 input gradient, the forward pass of the turned kernel) and the weight gradient.
//!
//! Each 2x2 block of outputs (a tile) is computed from its 4x4 input patch `d` as
//! `A^T [(G g G^T) ⊙ (B^T d B)] A`: the 16 positions of the transformed patch are each a product
//! over the input channels with the transformed weights `U = G g G^T`, so a tile takes 16 x `IC`
//! x `OC` multiply-adds instead of the direct 4 x 9 x `IC` x `OC`: 2.25x fewer. The transforms
//! are additions and halvings. The weight gradient is the same identity read backwards:
//! `G^T [(B^T d B) ⊙ (A dY A^T)] G` summed over the tiles, where the sum runs in the transformed
//! domain and `G^T . G` is applied once at the end.
//!
//! Tiles go in blocks of [`TILES`] (numbered row by row through an image, so a block may span tile
//! rows): the block's patches are transformed, then each of the 16 positions is one small matrix
//! product (`TILES` x `IC` by `IC` x `OC`, or the weight gradient's `IC` x `TILES` by `TILES` x
//! `OC`), then each tile's outputs are transformed back. The steps are generic here
//! (per-channel loops) and written for vector registers in `simd.rs`; both perform the same
//! operations per channel in the same order, so every instruction set and thread count gives
//! the same bits. Those bits are not the direct convolution's: `kernels::tests` compares them
//! with the exact values (within 1e-6 relative to the largest value; the direct `f32` loops
//! are further away).
//!
//! The transformed weights and the weight gradient's sums ([`transformed_len`] values each,
//! 1 MB for 128 -> 128) are in working memory the caller passes (`Conv2d` keeps it); a block's
//! patches and products (17 x 16 x the channels each) are on the stack.

use super::ConvDims;
use crate::Float;

/// Whether a `Conv2d<IC, OC, K, S, P>` in `T` runs here: `f32`, 3x3, stride 1, padding 1,
/// channels in multiples of 16 up to 128 (a block's transformed patches and products, 17 x 16 x
/// the channels each, live on the stack).
pub(crate) const fn applies<T>(ic: usize, oc: usize, k: usize, s: usize, p: usize) -> bool {
    size_of::<T>() == 4
        && k == 3
        && s == 1
        && p == 1
        && ic.is_multiple_of(16)
        && oc.is_multiple_of(16)
        && ic <= 128
        && oc <= 128
}

/// Values in one set of transformed weights (or of the weight gradient's transformed sums):
/// 16 x `ic` x `oc`.
pub(crate) const fn transformed_len(ic: usize, oc: usize) -> usize {
    16 * ic * oc
}

/// The first [`transformed_len`]`(IC, OC)` values of `values` as transformed weights (panics if
/// there are fewer).
pub(crate) fn transformed_mut<T, const IC: usize, const OC: usize>(
    values: &mut [T],
) -> &mut Transformed<T, IC, OC> {
    let rows = values[..transformed_len(IC, OC)].as_chunks_mut::<OC>().0;
    rows.as_chunks_mut::<IC>()
        .0
        .try_into()
        .expect("16 x IC x OC values")
}

/// Tiles per block: AVX-512's products keep one register of accumulators per tile of a block,
/// plus one of weights (17 of its 32 registers).
pub(crate) const TILES: usize = 16;
/// Tile slots per position in the block buffers ([`Patches`], [`Products`]): [`TILES`] and one
/// unused. With 64 channels, `TILES` slots take 4 KB, so without it the 16 positions of a tile
/// would share one set of the L1 cache (12 ways) and evict each other.
pub(crate) const SLOTS: usize = TILES + 1;
/// Output channels per accumulator in the generic products.
const OCB: usize = 16;

/// The transformed weights: `u[k][ic][oc]`, `k` the 16 positions of a 4x4 tile.
pub(crate) type Transformed<T, const IC: usize, const OC: usize> = [[[T; OC]; IC]; 16];
/// The transformed patches of a block of tiles: `v[k][t][ic]`.
pub(crate) type Patches<T, const IC: usize> = [[[T; IC]; SLOTS]; 16];
/// Their products with the transformed weights: `m[k][t][oc]`.
pub(crate) type Products<T, const OC: usize> = [[[T; OC]; SLOTS]; 16];
/// The 16 input pixels of a tile's 4x4 patch, row by row; those outside the image are zeros.
pub(crate) type Patch<'a, T, const IC: usize> = [&'a [T; IC]; 16];
/// The output gradients of a tile's 2x2 outputs, row by row; those outside the image are zeros.
pub(crate) type TileGrads<'a, T, const OC: usize> = [&'a [T; OC]; 4];
/// Where a tile's 2x2 outputs go, row by row.
pub(crate) type TileOutputs<'a, T, const OC: usize> = [&'a mut [T; OC]; 4];

/// `u = G g G^T` for every input and output channel, from `weight` (`[3][3][IC][OC]`), with
/// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
pub(crate) fn transform_weights<T: Float, const IC: usize, const OC: usize>(
    weight: &[T],
    u: &mut Transformed<T, IC, OC>,
) {
    let half = T::from_f64(0.5);
    // Loops over `oc` innermost, so that the compiler vectorises them.
    for ic in 0..IC {
        let w = |kh: usize, kw: usize| &weight[((kh * 3 + kw) * IC + ic) * OC..][..OC];
        // G g: each column of g (3 taps) becomes 4 values.
        let mut gg = [[[T::ZERO; OC]; 3]; 4];
        let [g0, g1, g2, g3] = &mut gg;
        for (kw, (((g0, g1), g2), g3)) in g0.iter_mut().zip(g1).zip(g2).zip(g3).enumerate() {
            let (w0, w1, w2) = (w(0, kw), w(1, kw), w(2, kw));
            for oc in 0..OC {
                let (a, b, c) = (w0[oc], w1[oc], w2[oc]);
                g0[oc] = a;
                g1[oc] = ((a + b) + c) * half;
                g2[oc] = ((a - b) + c) * half;
                g3[oc] = c;
            }
        }
        // (G g) G^T: each row of G g (3 values) becomes 4.
        for (i, gg) in gg.iter().enumerate() {
            for oc in 0..OC {
                let (a, b, c) = (gg[0][oc], gg[1][oc], gg[2][oc]);
                u[i * 4][ic][oc] = a;
                u[i * 4 + 1][ic][oc] = ((a + b) + c) * half;
                u[i * 4 + 2][ic][oc] = ((a - b) + c) * half;
                u[i * 4 + 3][ic][oc] = c;
            }
        }
    }
}

/// The three steps of a block of tiles: [`input_tile`], [`products`], [`output_tile`] (or
/// their vector versions on x86-64, `simd::WinogradSteps`, which give the same bits).
pub(crate) trait Steps<T: Float, const IC: usize, const OC: usize> {
    /// [`input_tile`].
    fn input(&self, patch: &Patch<T, IC>, v: &mut Patches<T, IC>, t: usize);
    /// [`products`].
    fn products(&self, v: &Patches<T, IC>, u: &Transformed<T, IC, OC>, m: &mut Products<T, OC>);
    /// [`output_tile`].
    fn output(&self, m: &Products<T, OC>, t: usize, bias: &[T; OC], out: TileOutputs<T, OC>);
    /// [`grad_output_tile`].
    fn grad_output(&self, grad: &TileGrads<T, OC>, w: &mut Products<T, OC>, t: usize);
    /// [`accumulate`].
    fn accumulate(
        &self,
        v: &Patches<T, IC>,
        w: &Products<T, OC>,
        n: usize,
        m: &mut Transformed<T, IC, OC>,
    );
}

/// The generic steps.
pub(crate) struct Generic;

impl<T: Float, const IC: usize, const OC: usize> Steps<T, IC, OC> for Generic {
    #[inline(always)]
    fn input(&self, patch: &Patch<T, IC>, v: &mut Patches<T, IC>, t: usize) {
        input_tile::<T, IC>(patch, v, t)
    }
    #[inline(always)]
    fn products(&self, v: &Patches<T, IC>, u: &Transformed<T, IC, OC>, m: &mut Products<T, OC>) {
        products::<T, IC, OC>(v, u, m)
    }
    #[inline(always)]
    fn output(&self, m: &Products<T, OC>, t: usize, bias: &[T; OC], out: TileOutputs<T, OC>) {
        output_tile::<T, OC>(m, t, bias, out)
    }
    #[inline(always)]
    fn grad_output(&self, grad: &TileGrads<T, OC>, w: &mut Products<T, OC>, t: usize) {
        grad_output_tile::<T, OC>(grad, w, t)
    }
    #[inline(always)]
    fn accumulate(
        &self,
        v: &Patches<T, IC>,
        w: &Products<T, OC>,
        n: usize,
        m: &mut Transformed<T, IC, OC>,
    ) {
        accumulate::<T, IC, OC>(v, w, n, m)
    }
}

/// The forward pass of every sample of `x` (`d.h x d.w x IC` each, output the same size with
/// `OC` channels) with the weights transformed by [`transform_weights`].
#[inline(always)]
pub(crate) fn forward<T: Float, const IC: usize, const OC: usize>(
    d: ConvDims,
    x: &[T],
    u: &Transformed<T, IC, OC>,
    bias: &[T],
    y: &mut [T],
    steps: &impl Steps<T, IC, OC>,
) {
    let bias: &[T; OC] = bias.try_into().expect("OC biases");
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let zeros = [T::ZERO; IC];
    let mut v = [[[T::ZERO; IC]; SLOTS]; 16];
    let mut m = [[[T::ZERO; OC]; SLOTS]; 16];
    // The outputs of a tile at the image's bottom or right edge, not all inside.
    let mut edge = [[T::ZERO; OC]; 4];
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        let pixels = x.as_chunks::<IC>().0;
        let outputs = y.as_chunks_mut::<OC>().0;
        for (coords, n) in tile_blocks(d) {
            let coords = &coords[..n];
            for (t, &(ty, tx)) in coords.iter().enumerate() {
                let patch = patch(d, pixels, &zeros, ty, tx);
                steps.input(&patch, &mut v, t);
            }
            // The tiles after `n` hold an earlier block's values: their products are not
            // stored.
            steps.products(&v, u, &mut m);
            for (t, &(ty, tx)) in coords.iter().enumerate() {
                let (h, w) = (2 * ty, 2 * tx);
                if h + 1 < d.oh && w + 1 < d.ow {
                    let at = h * d.ow + w;
                    let out = outputs
                        .get_disjoint_mut([at, at + 1, at + d.ow, at + d.ow + 1])
                        .expect("four pixels inside the image");
                    steps.output(&m, t, bias, out);
                } else {
                    let [a, b, c, e] = &mut edge;
                    steps.output(&m, t, bias, [a, b, c, e]);
                    for (k, value) in edge.iter().enumerate() {
                        let (h, w) = (h + k / 2, w + k % 2);
                        if h < d.oh && w < d.ow {
                            outputs[h * d.ow + w] = *value;
                        }
                    }
                }
            }
        }
    }
}

/// An image's tiles in blocks of [`TILES`], row by row: each block's (tile row, tile column)s
/// and how many of them are tiles (the last block may have fewer).
#[inline(always)]
fn tile_blocks(d: ConvDims) -> impl Iterator<Item = ([(usize, usize); TILES], usize)> {
    let tiles_w = d.ow.div_ceil(2);
    let tiles = d.oh.div_ceil(2) * tiles_w;
    let (mut ty, mut tx) = (0, 0);
    (0..tiles).step_by(TILES).map(move |first| {
        let n = TILES.min(tiles - first);
        let mut coords = [(0, 0); TILES];
        for c in &mut coords[..n] {
            *c = (ty, tx);
            tx += 1;
            if tx == tiles_w {
                (ty, tx) = (ty + 1, 0);
            }
        }
        (coords, n)
    })
}

/// The 4x4 patch of the tile at tile row `ty`, column `tx`: it starts one pixel up and left of
/// the tile's first output (padding 1); pixels outside the image are `zeros`.
#[inline(always)]
fn patch<'a, T, const IC: usize>(
    d: ConvDims,
    pixels: &'a [[T; IC]],
    zeros: &'a [T; IC],
    ty: usize,
    tx: usize,
) -> Patch<'a, T, IC> {
    let mut patch = [zeros; 16];
    for i in 0..4 {
        let h = (2 * ty + i).wrapping_sub(1);
        if h < d.h {
            for j in 0..4 {
                let w = (2 * tx + j).wrapping_sub(1);
                if w < d.w {
                    patch[i * 4 + j] = &pixels[h * d.w + w];
                }
            }
        }
    }
    patch
}

/// `V = B^T d B` of a patch into `v[..][t]`, with
/// `B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
#[inline(always)]
pub(crate) fn input_tile<T: Float, const IC: usize>(
    patch: &Patch<T, IC>,
    v: &mut Patches<T, IC>,
    t: usize,
) {
    for c in 0..IC {
        let d: [T; 16] = std::array::from_fn(|k| patch[k][c]);
        // B^T d, column by column.
        let mut r = [[T::ZERO; 4]; 4];
        for j in 0..4 {
            r[0][j] = d[j] - d[8 + j];
            r[1][j] = d[4 + j] + d[8 + j];
            r[2][j] = d[8 + j] - d[4 + j];
            r[3][j] = d[4 + j] - d[12 + j];
        }
        // (B^T d) B, row by row.
        for (i, r) in r.iter().enumerate() {
            v[i * 4][t][c] = r[0] - r[2];
            v[i * 4 + 1][t][c] = r[1] + r[2];
            v[i * 4 + 2][t][c] = r[2] - r[1];
            v[i * 4 + 3][t][c] = r[1] - r[3];
        }
    }
}

/// `m[k][t][oc] = Σ_ic v[k][t][ic] u[k][ic][oc]` for every position `k` and tile `t`: one chain
/// of fused multiply-adds per value, over `ic` in order, starting from 0.
#[inline(always)]
pub(crate) fn products<T: Float, const IC: usize, const OC: usize>(
    v: &Patches<T, IC>,
    u: &Transformed<T, IC, OC>,
    m: &mut Products<T, OC>,
) {
    for k in 0..16 {
        for oc0 in (0..OC).step_by(OCB) {
            for (v, m) in v[k][..TILES].iter().zip(&mut m[k][..TILES]) {
                let mut acc = [T::ZERO; OCB];
                for (&a, w) in v.iter().zip(&u[k]) {
                    for (acc, &w) in acc.iter_mut().zip(&w[oc0..oc0 + OCB]) {
                        *acc = a.mul_add(w, *acc);
                    }
                }
                m[oc0..oc0 + OCB].copy_from_slice(&acc);
            }
        }
    }
}

/// `Y = A^T M A + bias` of tile `t` into its 2x2 outputs, with
/// `A^T = [[1, 1, 1, 0], [0, 1, -1, -1]]`.
#[inline(always)]
pub(crate) fn output_tile<T: Float, const OC: usize>(
    m: &Products<T, OC>,
    t: usize,
    bias: &[T; OC],
    out: TileOutputs<T, OC>,
) {
    for o in 0..OC {
        let mm: [T; 16] = std::array::from_fn(|k| m[k][t][o]);
        // M A, row by row.
        let mut s = [[T::ZERO; 2]; 4];
        for (i, s) in s.iter_mut().enumerate() {
            s[0] = (mm[i * 4] + mm[i * 4 + 1]) + mm[i * 4 + 2];
            s[1] = (mm[i * 4 + 1] - mm[i * 4 + 2]) - mm[i * 4 + 3];
        }
        // A^T (M A), column by column.
        for j in 0..2 {
            out[j][o] = ((s[0][j] + s[1][j]) + s[2][j]) + bias[o];
            out[2 + j][o] = ((s[1][j] - s[2][j]) - s[3][j]) + bias[o];
        }
    }
}

/// The weight gradient's sums in the transformed domain, over every sample of `x` and `dy`
/// (`x`'s sizes as in [`forward`]), added to `m`:
/// `m[k][ic][oc] += Σ_tiles (B^T d B)[k][ic] (A dY A^T)[k][oc]`, `d` a tile's input patch and
/// `dY` its 2x2 output gradients. [`weight_grad_from_transformed`] turns them into the
/// gradient: as `Y = A^T [U ⊙ V] A` is linear in `U = G g G^T`, the gradient of `g` is
/// `G^T [V ⊙ (A dY A^T)] G`, summed over the tiles.
#[inline(always)]
pub(crate) fn weight_grad_transformed<T: Float, const IC: usize, const OC: usize>(
    d: ConvDims,
    x: &[T],
    dy: &[T],
    m: &mut Transformed<T, IC, OC>,
    steps: &impl Steps<T, IC, OC>,
) {
    let (in_len, out_len) = (d.in_len(IC), d.out_len(OC));
    let (zeros, no_grad) = ([T::ZERO; IC], [T::ZERO; OC]);
    let mut v = [[[T::ZERO; IC]; SLOTS]; 16];
    let mut w = [[[T::ZERO; OC]; SLOTS]; 16];
    for (x, dy) in x.chunks_exact(in_len).zip(dy.chunks_exact(out_len)) {
        let pixels = x.as_chunks::<IC>().0;
        let grads = dy.as_chunks::<OC>().0;
        for (coords, n) in tile_blocks(d) {
            for (t, &(ty, tx)) in coords[..n].iter().enumerate() {
                let patch = patch(d, pixels, &zeros, ty, tx);
                steps.input(&patch, &mut v, t);
                let mut grad = [&no_grad; 4];
                for (k, grad) in grad.iter_mut().enumerate() {
                    let (h, w) = (2 * ty + k / 2, 2 * tx + k % 2);
                    if h < d.oh && w < d.ow {
                        *grad = &grads[h * d.ow + w];
                    }
                }
                steps.grad_output(&grad, &mut w, t);
            }
            steps.accumulate(&v, &w, n, m);
        }
    }
}

/// `W = A dY A^T` of a tile's output gradients into `w[..][t]`, with
/// `A = [[1, 0], [1, 1], [1, -1], [0, -1]]`.
#[inline(always)]
pub(crate) fn grad_output_tile<T: Float, const OC: usize>(
    grad: &TileGrads<T, OC>,
    w: &mut Products<T, OC>,
    t: usize,
) {
    for o in 0..OC {
        let [a, b, c, e] = [0, 1, 2, 3].map(|k| grad[k][o]);
        // A dY, row by row (each row two values), then each row times A^T. Negations as
        // subtractions from 0, as the vector steps compute them (the same sign of zero).
        let zero = T::ZERO;
        let rows = [[a, b], [a + c, b + e], [a - c, b - e], [zero - c, zero - e]];
        for (i, [p, q]) in rows.into_iter().enumerate() {
            w[i * 4][t][o] = p;
            w[i * 4 + 1][t][o] = p + q;
            w[i * 4 + 2][t][o] = p - q;
            w[i * 4 + 3][t][o] = zero - q;
        }
    }
}

/// `m[k][ic][oc] += v[k][t][ic] w[k][t][oc]` for the first `n` tiles, in order: one chain of
/// fused multiply-adds per value.
#[inline(always)]
pub(crate) fn accumulate<T: Float, const IC: usize, const OC: usize>(
    v: &Patches<T, IC>,
    w: &Products<T, OC>,
    n: usize,
    m: &mut Transformed<T, IC, OC>,
) {
    for ((v, w), m) in v.iter().zip(w).zip(m) {
        for (v, w) in v[..n].iter().zip(&w[..n]) {
            for (&a, m) in v.iter().zip(m.iter_mut()) {
                for (m, &b) in m.iter_mut().zip(w) {
                    *m = a.mul_add(b, *m);
                }
            }
        }
    }
}

/// The weight gradient (`[3][3][IC][OC]`) from the sums of two halves of the batch:
/// `G^T (m0 + m1) G` for every input and output channel, with
/// `G^T = [[1, 1/2, 1/2, 0], [0, 1/2, -1/2, 0], [0, 1/2, 1/2, 1]]`.
pub(crate) fn weight_grad_from_transformed<T: Float, const IC: usize, const OC: usize>(
    m0: &Transformed<T, IC, OC>,
    m1: &Transformed<T, IC, OC>,
    dw: &mut [T],
) {
    let half = T::from_f64(0.5);
    // Loops over `oc` innermost, so that the compiler vectorises them.
    for ic in 0..IC {
        // G^T M: each column of M (4 values) becomes 3.
        let mut gm = [[[T::ZERO; OC]; 4]; 3];
        for j in 0..4 {
            let at = |i: usize| (&m0[i * 4 + j][ic], &m1[i * 4 + j][ic]);
            let [(a0, a1), (b0, b1), (c0, c1), (e0, e1)] = [0, 1, 2, 3].map(at);
            for oc in 0..OC {
                let (a, b, c, e) = (
                    a0[oc] + a1[oc],
                    b0[oc] + b1[oc],
                    c0[oc] + c1[oc],
                    e0[oc] + e1[oc],
                );
                let s = (b + c) * half;
                gm[0][j][oc] = a + s;
                gm[1][j][oc] = (b - c) * half;
                gm[2][j][oc] = s + e;
            }
        }
        // (G^T M) G: each row (4 values) becomes 3.
        for (kh, gm) in gm.iter().enumerate() {
            for oc in 0..OC {
                let (a, b, c, e) = (gm[0][oc], gm[1][oc], gm[2][oc], gm[3][oc]);
                let s = (b + c) * half;
                let taps = [a + s, (b - c) * half, s + e];
                for (kw, value) in taps.into_iter().enumerate() {
                    dw[((kh * 3 + kw) * IC + ic) * OC + oc] = value;
                }
            }
        }
    }
}
