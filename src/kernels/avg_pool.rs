//! Average-pooling kernels (windowed and global), vectorised over channels (innermost in NHWC).
//!
//! Every sum runs in one fixed order (window pixels row-major, then one division by the pixel
//! count, as PyTorch's `sum / count`), per channel lane, with plain adds and divides: the same
//! bits for any vector width, instruction set and thread count.

use super::PoolDims;
use crate::Float;
use rayon::prelude::*;

/// Average pooling of every sample of `x`: each output pixel is `0 +` its window's pixels in
/// row-major order, divided by `pool * pool`.
#[inline(always)]
pub(crate) fn forward<T: Float>(d: PoolDims, x: &[T], y: &mut [T]) {
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    let count = T::from_f64((d.pool * d.pool) as f64);
    for (x, y) in x.chunks_exact(in_len).zip(y.chunks_exact_mut(out_len)) {
        for oh in 0..d.oh {
            for ow in 0..d.ow {
                let out = &mut y[(oh * d.ow + ow) * d.c..][..d.c];
                let pixel = |ph: usize, pw: usize| {
                    &x[((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c..][..d.c]
                };
                out.fill(T::ZERO);
                for ph in 0..d.pool {
                    for pw in 0..d.pool {
                        for (o, &v) in out.iter_mut().zip(pixel(ph, pw)) {
                            *o += v;
                        }
                    }
                }
                for o in out.iter_mut() {
                    *o /= count;
                }
            }
        }
    }
}

/// Input gradient of every sample: each output's gradient divided by `pool * pool` is added to
/// every pixel of its window, output pixels in row-major order (windows may overlap).
#[inline(always)]
pub(crate) fn backward<T: Float>(d: PoolDims, dy: &[T], dx: &mut [T]) {
    let (in_len, out_len) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
    let count = T::from_f64((d.pool * d.pool) as f64);
    for (dy, dx) in dy.chunks_exact(out_len).zip(dx.chunks_exact_mut(in_len)) {
        dx.fill(T::ZERO);
        for oh in 0..d.oh {
            for ow in 0..d.ow {
                let g = &dy[(oh * d.ow + ow) * d.c..][..d.c];
                for ph in 0..d.pool {
                    for pw in 0..d.pool {
                        let at = ((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c;
                        for (dx, &g) in dx[at..][..d.c].iter_mut().zip(g) {
                            *dx += g / count;
                        }
                    }
                }
            }
        }
    }
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
pub(crate) fn backward_batch<T: Float>(d: PoolDims, batch: usize, dy: &[T], dx: &mut [T]) {
    let n = super::samples_per_task(batch, d.oh * d.ow * d.c * d.pool * d.pool);
    dx.par_chunks_mut(n * d.h * d.w * d.c)
        .zip(dy.par_chunks(n * d.oh * d.ow * d.c))
        .for_each(|(dx, dy)| {
            super::run(
                #[inline(always)]
                || backward(d, dy, dx),
            )
        });
}

/// Global average pooling of every sample of `x` (`pixels x c` each): per channel, `0 +` the
/// pixels in row-major order, divided by `pixels`.
#[inline(always)]
pub(crate) fn global_forward<T: Float>(pixels: usize, c: usize, x: &[T], y: &mut [T]) {
    let count = T::from_f64(pixels as f64);
    for (x, out) in x.chunks_exact(pixels * c).zip(y.chunks_exact_mut(c)) {
        out.fill(T::ZERO);
        for row in x.chunks_exact(c) {
            for (o, &v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        for o in out.iter_mut() {
            *o /= count;
        }
    }
}

/// Input gradient of global average pooling: every pixel of a sample gets its channel's
/// output gradient divided by `pixels`.
#[inline(always)]
pub(crate) fn global_backward<T: Float>(pixels: usize, c: usize, dy: &[T], dx: &mut [T]) {
    let count = T::from_f64(pixels as f64);
    for (g, dx) in dy.chunks_exact(c).zip(dx.chunks_exact_mut(pixels * c)) {
        let (first, rest) = dx.split_at_mut(c);
        for (d, &g) in first.iter_mut().zip(g) {
            *d = g / count;
        }
        for row in rest.chunks_exact_mut(c) {
            row.copy_from_slice(first);
        }
    }
}

/// [`global_forward`] of a batch, one run of samples per thread.
pub(crate) fn global_forward_batch<T: Float>(
    pixels: usize,
    c: usize,
    batch: usize,
    x: &[T],
    y: &mut [T],
) {
    let n = super::samples_per_task(batch, pixels * c);
    y.par_chunks_mut(n * c)
        .zip(x.par_chunks(n * pixels * c))
        .for_each(|(y, x)| {
            super::run(
                #[inline(always)]
                || global_forward(pixels, c, x, y),
            )
        });
}

/// [`global_backward`] of a batch, one run of samples per thread.
pub(crate) fn global_backward_batch<T: Float>(
    pixels: usize,
    c: usize,
    batch: usize,
    dy: &[T],
    dx: &mut [T],
) {
    let n = super::samples_per_task(batch, pixels * c);
    dx.par_chunks_mut(n * pixels * c)
        .zip(dy.par_chunks(n * c))
        .for_each(|(dx, dy)| {
            super::run(
                #[inline(always)]
                || global_backward(pixels, c, dy, dx),
            )
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::{Isa, run_on};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// The obvious loops, one value at a time, in the same summation order.
    fn reference_forward(d: PoolDims, x: &[f64], y: &mut [f64]) {
        let count = (d.pool * d.pool) as f64;
        let (il, ol) = (d.h * d.w * d.c, d.oh * d.ow * d.c);
        for (x, y) in x.chunks_exact(il).zip(y.chunks_exact_mut(ol)) {
            for oh in 0..d.oh {
                for ow in 0..d.ow {
                    for c in 0..d.c {
                        let mut sum = 0.0;
                        for ph in 0..d.pool {
                            for pw in 0..d.pool {
                                sum += x[((oh * d.s + ph) * d.w + ow * d.s + pw) * d.c + c];
                            }
                        }
                        y[(oh * d.ow + ow) * d.c + c] = sum / count;
                    }
                }
            }
        }
    }

    fn dims(h: usize, w: usize, c: usize, pool: usize, s: usize) -> PoolDims {
        PoolDims {
            h,
            w,
            c,
            oh: (h - pool) / s + 1,
            ow: (w - pool) / s + 1,
            pool,
            s,
        }
    }

    fn random(len: usize, rng: &mut StdRng) -> Vec<f64> {
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Bit patterns, so that -0 differs from +0.
    fn bits<T: Float>(v: &[T]) -> Vec<u64> {
        v.iter().map(|g| g.to_f64().to_bits()).collect()
    }

    #[test]
    fn forward_matches_the_obvious_loops() {
        let mut rng = StdRng::seed_from_u64(5);
        for (pool, s, c) in [(2, 2, 16), (3, 2, 5), (2, 3, 7), (1, 1, 3), (3, 1, 33)] {
            let d = dims(rng.random_range(4..9), rng.random_range(4..9), c, pool, s);
            let batch = 3;
            let x = random(batch * d.h * d.w * c, &mut rng);
            let mut want = vec![0.0; batch * d.oh * d.ow * c];
            reference_forward(d, &x, &mut want);
            let mut got = vec![0.0; want.len()];
            forward_batch(d, batch, &x, &mut got);
            assert_eq!(bits(&got), bits(&want), "{d:?}");
        }
    }

    /// Every instruction set and every thread count gives the same bits, for windows that
    /// overlap and batches large enough to be split across threads.
    #[test]
    fn results_do_not_depend_on_isa_or_threads() {
        let mut rng = StdRng::seed_from_u64(6);
        let d = dims(9, 9, 24, 3, 2);
        let batch = 64;
        let x: Vec<f32> = random(batch * 9 * 9 * 24, &mut rng)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let dy: Vec<f32> = random(batch * d.oh * d.ow * 24, &mut rng)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let gdy: Vec<f32> = dy[..batch * 24].to_vec();
        let run = |threads: usize, isa: Isa| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("a thread pool");
            pool.install(|| {
                let mut y = vec![0.0; dy.len()];
                let mut dx = vec![0.0; x.len()];
                let mut gy = vec![0.0; gdy.len()];
                let mut gdx = vec![0.0; x.len()];
                run_on(
                    isa,
                    #[inline(always)]
                    || {
                        forward(d, &x, &mut y);
                        backward(d, &dy, &mut dx);
                        global_forward(81, 24, &x, &mut gy);
                        global_backward(81, 24, &gdy, &mut gdx);
                    },
                );
                let mut batched = (vec![0.0; y.len()], vec![0.0; dx.len()]);
                let mut global = (vec![0.0; gy.len()], vec![0.0; gdx.len()]);
                forward_batch(d, batch, &x, &mut batched.0);
                backward_batch(d, batch, &dy, &mut batched.1);
                global_forward_batch(81, 24, batch, &x, &mut global.0);
                global_backward_batch(81, 24, batch, &gdy, &mut global.1);
                assert_eq!((bits(&batched.0), bits(&batched.1)), (bits(&y), bits(&dx)));
                assert_eq!((bits(&global.0), bits(&global.1)), (bits(&gy), bits(&gdx)));
                (bits(&y), bits(&dx), bits(&gy), bits(&gdx))
            })
        };
        let one = run(1, Isa::Portable);
        for isa in Isa::available() {
            assert_eq!(run(1, isa), one, "{isa:?}");
            assert_eq!(run(2, isa), one, "{isa:?}");
            assert_eq!(run(3, isa), one, "{isa:?}");
        }
    }
}
