//! Element-wise sums shared by the residual connections, and the addition fused with a
//! following ReLU. Element-wise, in parallel over blocks for larger passes (see
//! [`elementwise_chunk`]; the split changes no bit) and compiled for the CPU's vector
//! instructions.

use super::{Relu, elementwise_chunk};
use crate::kernels::run;
use crate::layer::Layer;
use crate::network::GradPool;
use crate::{Float, Shape};
use rayon::prelude::*;
use std::any::TypeId;

/// `out[i] = a[i] + b[i]`.
pub(crate) fn add_into<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    let chunk = elementwise_chunk(out.len());
    out.par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk).zip(b.par_chunks(chunk)))
        .for_each(|(out, (a, b))| {
            run(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                        *o = a + b;
                    }
                },
            )
        });
}

/// `acc[i] += x[i]`.
pub(crate) fn add_assign<T: Float>(acc: &mut [T], x: &[T]) {
    let chunk = elementwise_chunk(acc.len());
    acc.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(acc, x)| {
            run(
                #[inline(always)]
                || {
                    for (a, &x) in acc.iter_mut().zip(x) {
                        *a += x;
                    }
                },
            )
        });
}

/// Whether the activation `A` is [`Relu`], which the residual layers fuse with their addition.
pub(crate) fn is_relu<A: 'static, T: Float>() -> bool {
    TypeId::of::<A>() == TypeId::of::<Relu<T>>()
}

/// `out[i] = relu(a[i] + b[i])`: [`add_into`] then [`Relu`]'s forward in one pass (the same
/// operations: the sum rounded, then `0` if it is below 0; a NaN passes through).
pub(crate) fn add_relu_into<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    let chunk = elementwise_chunk(out.len());
    out.par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk).zip(b.par_chunks(chunk)))
        .for_each(|(out, (a, b))| {
            run(
                #[inline(always)]
                || {
                    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
                        let s = a + b;
                        *o = if s < T::ZERO { T::ZERO } else { s };
                    }
                },
            )
        });
}

/// [`Relu`]'s backward from its output instead of its input: `dx = dy * (y > 0 ? 1 : 0)`.
/// `y > 0` exactly when the input was above 0 (a NaN input gives a NaN output, and neither is
/// above 0), so the bits are Relu's.
pub(crate) fn relu_grad_from_output<T: Float>(y: &[T], dy: &[T], dx: &mut [T]) {
    let chunk = elementwise_chunk(dx.len());
    dx.par_chunks_mut(chunk)
        .zip(y.par_chunks(chunk).zip(dy.par_chunks(chunk)))
        .for_each(|(dx, (y, dy))| {
            run(
                #[inline(always)]
                || {
                    for ((d, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                        *d = g * if y > T::ZERO { T::ONE } else { T::ZERO };
                    }
                },
            )
        });
}

/// The gradient with respect to a residual's sum `sum` (`A(sum)` was `output`), in a buffer
/// taken from `pool` (give it back when done; its first `output.len()` values): through the
/// fused ReLU from the output, or through `A`'s own backward.
pub(crate) fn grad_of_sum<A, In, T>(
    post: &mut A,
    sum: &[T],
    output: &[T],
    grad_output: &[T],
    batch: usize,
    pool: &mut GradPool<T>,
) -> Vec<T>
where
    In: Shape,
    T: Float,
    A: Layer<In, T> + 'static,
{
    let mut buffer = pool.take(output.len());
    let grad_sum = &mut buffer[..output.len()];
    if is_relu::<A, T>() {
        relu_grad_from_output(output, grad_output, grad_sum);
    } else {
        post.backward_pooled(sum, output, grad_output, Some(grad_sum), batch, pool);
    }
    buffer
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::{Layer, Mode};
    use crate::layers::ELEMENTWISE_MIN;
    use crate::{Image, layers::Identity};

    /// The fused pass gives the bits of the addition then the ReLU layer, forward and
    /// backward, on values around 0, signed zeros, NaN and infinities, over several blocks.
    #[test]
    fn fused_add_relu_is_add_then_relu() {
        type In = Image<1, 1, 1>;
        let n = 3 * ELEMENTWISE_MIN + 17;
        let special = [
            0.0f32,
            -0.0,
            1e-30,
            -1e-30,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let a: Vec<f32> = (0..n)
            .map(|i| {
                special
                    .get(i % 50)
                    .copied()
                    .unwrap_or(((i * 37) % 23) as f32 / 7.0 - 1.6)
            })
            .collect();
        let b: Vec<f32> = (0..n).map(|i| ((i * 11) % 19) as f32 / 9.0 - 1.0).collect();
        let dy: Vec<f32> = (0..n).map(|i| ((i * 5) % 13) as f32 / 6.0 - 1.0).collect();
        let mut sum = vec![0.0; n];
        add_into(&a, &b, &mut sum);
        let mut want = vec![0.0; n];
        let mut relu = Relu::<f32>::default();
        let mut want_dx = vec![0.0; n];
        for i in 0..n {
            <Relu as Layer<In, f32>>::forward(
                &mut relu,
                &sum[i..=i],
                &mut want[i..=i],
                1,
                Mode::Train,
            );
            <Relu as Layer<In, f32>>::backward(
                &mut relu,
                &sum[i..=i],
                &want[i..=i],
                &dy[i..=i],
                Some(&mut want_dx[i..=i]),
                1,
            );
        }
        let mut got = vec![1.0; n];
        add_relu_into(&a, &b, &mut got);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
        let mut dx = vec![1.0; n];
        relu_grad_from_output(&got, &dy, &mut dx);
        assert_eq!(bits(&dx), bits(&want_dx));
        assert!(is_relu::<Relu<f32>, f32>());
        assert!(!is_relu::<Relu<f64>, f32>());
        assert!(!is_relu::<Identity<f32>, f32>());
    }
}
