//! Element-wise sums shared by the residual connections.

use crate::Float;

/// `out[i] = a[i] + b[i]`.
pub(crate) fn add_into<T: Float>(a: &[T], b: &[T], out: &mut [T]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// `acc[i] += x[i]`.
pub(crate) fn add_assign<T: Float>(acc: &mut [T], x: &[T]) {
    for (a, &x) in acc.iter_mut().zip(x) {
        *a += x;
    }
}
