//! The data-parallel hook: how a training step exchanges values with the other replicas of a
//! data-parallel run ([`GradientSync`]), and the one-process case ([`SingleProcess`]).
//!
//! The training loop ([`train_net_parallel`](super::train_net_parallel)) does the rest: every
//! replica visits the same global order of samples (from the shared seed), takes its contiguous
//! slice of each global batch, computes its gradients scaled by its share of the batch, and the
//! scaled gradients (with the loss) are summed over all replicas in one all-reduce, so that
//! every replica takes the same optimiser step with the same bits. An MPI implementation lives
//! behind the `distributed` feature; tests use in-process fakes.

use crate::Float;
use std::any::Any;

/// An exchange with the other replicas failed (a replica stopped, the link broke, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SyncError {
    /// What went wrong, for the user.
    pub message: String,
}

impl SyncError {
    /// An error saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        SyncError {
            message: message.into(),
        }
    }
}

/// How a data-parallel training step exchanges values with the other replicas.
///
/// Every replica must call the methods in the same order with buffers of the same length (the
/// training loop does). An implementation must not hang forever when another replica fails: it
/// returns a [`SyncError`] (or the process is stopped by its launcher).
pub trait GradientSync {
    /// This replica's index, `0..replicas()`.
    fn rank(&self) -> usize;
    /// How many replicas train together (1: no exchange).
    fn replicas(&self) -> usize;
    /// Replaces `values` by their element-wise sum over all replicas, in a fixed order, so that
    /// every replica gets the same bits and the same run gives the same bits every time.
    fn all_reduce_sum_f32(&mut self, values: &mut [f32]) -> Result<(), SyncError>;
    /// As [`all_reduce_sum_f32`](GradientSync::all_reduce_sum_f32), for f64 (losses, flags,
    /// f64 networks).
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), SyncError>;
}

/// One process training alone: rank 0 of 1; the all-reduce leaves the values as they are.
///
/// ```
/// use constnet::train::{GradientSync, SingleProcess};
/// let mut sync = SingleProcess;
/// let mut values = [1.5f32, -2.0];
/// sync.all_reduce_sum_f32(&mut values).unwrap();
/// assert_eq!((sync.rank(), sync.replicas(), values), (0, 1, [1.5, -2.0]));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SingleProcess;

impl GradientSync for SingleProcess {
    fn rank(&self) -> usize {
        0
    }

    fn replicas(&self) -> usize {
        1
    }

    fn all_reduce_sum_f32(&mut self, _values: &mut [f32]) -> Result<(), SyncError> {
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, _values: &mut [f64]) -> Result<(), SyncError> {
        Ok(())
    }
}

/// The all-reduce of `values` in the network's float type (`f32` or `f64`).
// A `Vec`, not a slice: the type is told by `Any`, which needs a sized type.
#[allow(clippy::ptr_arg)]
pub(crate) fn all_reduce_sum<T: Float>(
    sync: &mut dyn GradientSync,
    values: &mut Vec<T>,
) -> Result<(), SyncError> {
    let any = values as &mut dyn Any;
    if let Some(v) = any.downcast_mut::<Vec<f32>>() {
        return sync.all_reduce_sum_f32(v);
    }
    if let Some(v) = any.downcast_mut::<Vec<f64>>() {
        return sync.all_reduce_sum_f64(v);
    }
    Err(SyncError::new(format!(
        "cannot exchange values of type {}: only f32 and f64 are supported",
        T::NAME
    )))
}

/// The samples of a global batch of `n` that replica `rank` of `replicas` trains on:
/// `floor(rank * n / replicas)..floor((rank + 1) * n / replicas)`.
///
/// ```
/// use constnet::train::replica_slice;
/// assert_eq!(replica_slice(10, 0, 3), 0..3);
/// assert_eq!(replica_slice(10, 1, 3), 3..6);
/// assert_eq!(replica_slice(10, 2, 3), 6..10);
/// ```
pub fn replica_slice(n: usize, rank: usize, replicas: usize) -> std::ops::Range<usize> {
    let replicas = replicas.max(1);
    // In u128 so that large batches times ranks do not overflow.
    let at = |r: usize| ((r as u128 * n as u128) / replicas as u128) as usize;
    at(rank)..at(rank + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_cover_the_batch_once() {
        for n in 0..20 {
            for replicas in 1..5 {
                let mut next = 0;
                for rank in 0..replicas {
                    let s = replica_slice(n, rank, replicas);
                    assert_eq!(s.start, next);
                    next = s.end;
                }
                assert_eq!(next, n);
            }
        }
        assert_eq!(replica_slice(3, 1, 2), 1..3);
    }

    #[test]
    fn dispatches_by_type() {
        struct Doubler;
        impl GradientSync for Doubler {
            fn rank(&self) -> usize {
                0
            }
            fn replicas(&self) -> usize {
                2
            }
            fn all_reduce_sum_f32(&mut self, v: &mut [f32]) -> Result<(), SyncError> {
                v.iter_mut().for_each(|x| *x *= 2.0);
                Ok(())
            }
            fn all_reduce_sum_f64(&mut self, v: &mut [f64]) -> Result<(), SyncError> {
                v.iter_mut().for_each(|x| *x *= 3.0);
                Ok(())
            }
        }
        let mut a = vec![1.0f32];
        let mut b = vec![1.0f64];
        all_reduce_sum(&mut Doubler, &mut a).unwrap();
        all_reduce_sum(&mut Doubler, &mut b).unwrap();
        assert_eq!((a[0], b[0]), (2.0, 3.0));
    }
}
