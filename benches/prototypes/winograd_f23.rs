//! Prototype, not part of the build: Winograd F(2x2, 3x3) for the forward pass of a 16->16 3x3
//! convolution (stride 1, padding 1) on 32x32 NHWC images, AVX-512, one thread, against a
//! plain f64 reference. It measures what the ResNet-20 training goal would gain from fewer
//! multiplies (2.25x fewer in the batched products; see BENCHMARKS.md, session 10). A
//! self-contained program (no dependencies), not discovered by Cargo (a subfolder of
//! `benches/` without `main.rs`):
//!
//! ```text
//! rustc --edition 2024 -C opt-level=3 benches/prototypes/winograd_f23.rs -o /tmp/winograd_f23
//! /tmp/winograd_f23
//! ```
//!
//! Per row of 16 tiles (2x2 outputs each): the input transform `V = B^T d B` (16 positions by
//! 16 channels), 16 products `M[k] = V[k] U[k]` with `U = G g G^T` transformed once, and the
//! output transform `Y = A^T M A`. To become a kernel it needs: any `H`, `W` (partial tiles),
//! channel counts in chunks, a generic twin with the same operations in the same order (so that
//! every instruction set gives the same bits), the stride-1 input gradient through it, and the
//! tests against the reference with a tolerance instead of bit for bit.
use std::arch::x86_64::*;
use std::time::Instant;

const C: usize = 16; // IC = OC = 16
const H: usize = 32;
const W: usize = 32;
const T: usize = W / 2; // tiles per row

fn direct(x: &[f32], w: &[f32], y: &mut [f32], batch: usize) {
    for n in 0..batch {
        for oh in 0..H {
            for ow in 0..W {
                let mut acc = [0.0f64; C];
                for kh in 0..3 {
                    for kw in 0..3 {
                        let ih = oh as isize + kh as isize - 1;
                        let iw = ow as isize + kw as isize - 1;
                        if ih < 0 || iw < 0 || ih >= H as isize || iw >= W as isize {
                            continue;
                        }
                        for ic in 0..C {
                            let xv = x[((n * H + ih as usize) * W + iw as usize) * C + ic] as f64;
                            for oc in 0..C {
                                acc[oc] += xv * w[((kh * 3 + kw) * C + ic) * C + oc] as f64;
                            }
                        }
                    }
                }
                for oc in 0..C {
                    y[((n * H + oh) * W + ow) * C + oc] = acc[oc] as f32;
                }
            }
        }
    }
}

/// U[k][ic][oc] = (G g G^T)[k] for each (ic, oc).
fn transform_weights(w: &[f32]) -> Vec<f32> {
    let g = [
        [1.0f32, 0.0, 0.0],
        [0.5, 0.5, 0.5],
        [0.5, -0.5, 0.5],
        [0.0, 0.0, 1.0],
    ];
    let mut u = vec![0.0f32; 16 * C * C];
    for ic in 0..C {
        for oc in 0..C {
            let k = |a: usize, b: usize| w[((a * 3 + b) * C + ic) * C + oc];
            for i in 0..4 {
                for j in 0..4 {
                    let mut s = 0.0;
                    for a in 0..3 {
                        for b in 0..3 {
                            s += g[i][a] * k(a, b) * g[j][b];
                        }
                    }
                    u[((i * 4 + j) * C + ic) * C + oc] = s;
                }
            }
        }
    }
    u
}

/// 16 values from `v[at..]` (panics if fewer remain).
///
/// # Safety
///
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn load(v: &[f32], at: usize) -> __m512 {
    // SAFETY: the slice has 16 values (checked by the indexing); the unaligned load needs no
    // alignment; the caller's CPU has AVX-512F.
    unsafe { _mm512_loadu_ps(v[at..at + 16].as_ptr()) }
}

/// Writes `x` to `v[at..at + 16]` (panics if fewer remain).
///
/// # Safety
///
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn store(v: &mut [f32], at: usize, x: __m512) {
    // SAFETY: as in `load`.
    unsafe { _mm512_storeu_ps(v[at..at + 16].as_mut_ptr(), x) }
}

/// The forward pass of `batch` images through the transformed weights `u`.
///
/// # Safety
///
/// The CPU must support AVX-512F (`main` checks).
#[target_feature(enable = "avx512f")]
// The transforms index rows and columns of 4x4 tiles alike.
#[allow(clippy::needless_range_loop)]
unsafe fn winograd(x: &[f32], u: &[f32], y: &mut [f32], batch: usize) {
    // SAFETY (every intrinsic): the caller's CPU; memory is only touched through `load` and
    // `store`, which check their bounds.
    unsafe {
        let mut v = vec![0.0f32; 16 * T * C]; // [k][t][ic]
        let mut m = vec![0.0f32; 16 * T * C]; // [k][t][oc]
        let zero = _mm512_setzero_ps();
        for n in 0..batch {
            let xi = &x[n * H * W * C..(n + 1) * H * W * C];
            let yo = &mut y[n * H * W * C..(n + 1) * H * W * C];
            for ty in 0..H / 2 {
                // The input transform of a row of tiles: V = B^T d B per channel.
                for t in 0..T {
                    let mut d = [[zero; 4]; 4];
                    for (i, row) in d.iter_mut().enumerate() {
                        for (j, d) in row.iter_mut().enumerate() {
                            let ih = (2 * ty + i) as isize - 1;
                            let iw = (2 * t + j) as isize - 1;
                            if ih >= 0 && iw >= 0 && (ih as usize) < H && (iw as usize) < W {
                                *d = load(xi, (ih as usize * W + iw as usize) * C);
                            }
                        }
                    }
                    let mut r = [[zero; 4]; 4];
                    for j in 0..4 {
                        r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
                        r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
                        r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
                        r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
                    }
                    for (i, r) in r.iter().enumerate() {
                        let row = [
                            _mm512_sub_ps(r[0], r[2]),
                            _mm512_add_ps(r[1], r[2]),
                            _mm512_sub_ps(r[2], r[1]),
                            _mm512_sub_ps(r[1], r[3]),
                        ];
                        for (j, value) in row.into_iter().enumerate() {
                            store(&mut v, ((i * 4 + j) * T + t) * C, value);
                        }
                    }
                }
                // 16 small products: M[k][t][:] = sum over ic of V[k][t][ic] U[k][ic][:].
                for k in 0..16 {
                    let mut acc = [zero; T];
                    for ic in 0..C {
                        let weights = load(u, (k * C + ic) * C);
                        for (t, acc) in acc.iter_mut().enumerate() {
                            let value = _mm512_set1_ps(v[(k * T + t) * C + ic]);
                            *acc = _mm512_fmadd_ps(value, weights, *acc);
                        }
                    }
                    for (t, acc) in acc.into_iter().enumerate() {
                        store(&mut m, (k * T + t) * C, acc);
                    }
                }
                // The output transform: Y = A^T M A per channel, 2x2 outputs per tile.
                for t in 0..T {
                    let mm = |i: usize, j: usize| load(&m, ((i * 4 + j) * T + t) * C);
                    let mut s = [[zero; 2]; 4];
                    for (i, s) in s.iter_mut().enumerate() {
                        let (a, b, c, d) = (mm(i, 0), mm(i, 1), mm(i, 2), mm(i, 3));
                        s[0] = _mm512_add_ps(_mm512_add_ps(a, b), c);
                        s[1] = _mm512_sub_ps(_mm512_sub_ps(b, c), d);
                    }
                    for j in 0..2 {
                        let y0 = _mm512_add_ps(_mm512_add_ps(s[0][j], s[1][j]), s[2][j]);
                        let y1 = _mm512_sub_ps(_mm512_sub_ps(s[1][j], s[2][j]), s[3][j]);
                        store(yo, ((2 * ty) * W + 2 * t + j) * C, y0);
                        store(yo, ((2 * ty + 1) * W + 2 * t + j) * C, y1);
                    }
                }
            }
        }
    }
}

fn main() {
    if !is_x86_feature_detected!("avx512f") {
        eprintln!("error: this prototype needs AVX-512F");
        std::process::exit(1);
    }
    let batch = 64;
    let x: Vec<f32> = (0..batch * H * W * C)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let w: Vec<f32> = (0..9 * C * C)
        .map(|i| ((i * 31) % 17) as f32 / 40.0 - 0.2)
        .collect();
    let mut y_ref = vec![0.0; x.len()];
    direct(&x, &w, &mut y_ref, 2);
    let u = transform_weights(&w);
    let mut y = vec![0.0; x.len()];
    // SAFETY: AVX-512F is present (checked above).
    unsafe { winograd(&x, &u, &mut y, batch) };
    let scale = y_ref[..2 * H * W * C]
        .iter()
        .fold(1.0f32, |a, v| a.max(v.abs()));
    let err = y_ref[..2 * H * W * C]
        .iter()
        .zip(&y)
        .fold(0.0f32, |a, (r, v)| a.max((r - v).abs()));
    println!("max abs err {err:e} (scale {scale})");
    for _ in 0..3 {
        let reps = 50;
        let t = Instant::now();
        for _ in 0..reps {
            // SAFETY: as above.
            unsafe { winograd(&x, &u, &mut y, batch) };
        }
        let wt = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        let t = Instant::now();
        for _ in 0..reps {
            let _ = transform_weights(&w);
        }
        let ut = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        println!("winograd forward b64 one thread: {wt:.0} µs (+ weight transform {ut:.0} µs)");
    }
}
