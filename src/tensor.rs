//! [`Tensor`]: a batch of samples of a compile-time shape.

use crate::{Float, Shape};
use std::marker::PhantomData;

/// A batch of samples of shape `S` (NHWC, row-major): the per-sample shape is a type, the batch
/// size a run-time value.
///
/// The shape type makes a network refuse, at compile time, an input of the wrong shape.
///
/// ```
/// use constnet::{Image, Tensor};
/// let mut x = Tensor::<Image<2, 2, 3>>::zeros(4);
/// assert_eq!(x.dims(), [4, 2, 2, 3]);
/// x.sample_mut(1)[0] = 1.5;
/// assert_eq!(x.as_slice()[12], 1.5);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<S: Shape, T: Float = f32> {
    data: Vec<T>,
    batch: usize,
    shape: PhantomData<fn() -> S>,
}

/// A buffer whose length is not a whole number of samples of the shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tensor of {batch} samples of {h}x{w}x{c} needs {expected} values, got {got}")]
pub struct TensorLengthError {
    /// Samples asked for.
    pub batch: usize,
    /// Sample height.
    pub h: usize,
    /// Sample width.
    pub w: usize,
    /// Sample channels.
    pub c: usize,
    /// Values needed.
    pub expected: usize,
    /// Values given.
    pub got: usize,
}

impl<S: Shape, T: Float> Tensor<S, T> {
    /// `batch` samples of zeros.
    pub fn zeros(batch: usize) -> Self {
        Tensor {
            data: vec![T::ZERO; batch * S::LEN],
            batch,
            shape: PhantomData,
        }
    }

    /// Wraps `data` (NHWC) as `batch` samples; the length must be `batch * S::LEN`.
    pub fn from_vec(batch: usize, data: Vec<T>) -> Result<Self, TensorLengthError> {
        if data.len() != batch * S::LEN {
            return Err(TensorLengthError {
                batch,
                h: S::H,
                w: S::W,
                c: S::C,
                expected: batch * S::LEN,
                got: data.len(),
            });
        }
        Ok(Tensor {
            data,
            batch,
            shape: PhantomData,
        })
    }

    /// Copies `data` (NHWC); its length must be a multiple of `S::LEN`.
    pub fn from_slice(data: &[T]) -> Result<Self, TensorLengthError> {
        let batch = data.len() / S::LEN.max(1);
        Self::from_vec(batch, data.to_vec())
    }

    /// Number of samples.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `[batch, H, W, C]`.
    pub fn dims(&self) -> [usize; 4] {
        [self.batch, S::H, S::W, S::C]
    }

    /// All values, NHWC.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// All values, NHWC, mutable.
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.data
    }

    /// Sample `i`'s values (panics if `i >= batch`).
    pub fn sample(&self, i: usize) -> &[T] {
        &self.data[i * S::LEN..(i + 1) * S::LEN]
    }

    /// Sample `i`'s values, mutable (panics if `i >= batch`).
    pub fn sample_mut(&mut self, i: usize) -> &mut [T] {
        &mut self.data[i * S::LEN..(i + 1) * S::LEN]
    }

    /// Changes the number of samples, keeping the allocation when it is large enough (new
    /// samples are zero). Lets a training loop reuse one input tensor for every batch.
    pub fn set_batch(&mut self, batch: usize) {
        self.data.resize(batch * S::LEN, T::ZERO);
        self.batch = batch;
    }

    /// Replaces the contents with `data` (a whole number of samples), reusing the allocation.
    pub fn copy_from_slice(&mut self, data: &[T]) -> Result<(), TensorLengthError> {
        if !data.len().is_multiple_of(S::LEN.max(1)) {
            return Err(TensorLengthError {
                batch: data.len() / S::LEN.max(1),
                h: S::H,
                w: S::W,
                c: S::C,
                expected: (data.len() / S::LEN.max(1)) * S::LEN,
                got: data.len(),
            });
        }
        self.data.clear();
        self.data.extend_from_slice(data);
        self.batch = data.len() / S::LEN.max(1);
        Ok(())
    }

    /// The values, NHWC.
    pub fn into_vec(self) -> Vec<T> {
        self.data
    }
}

/// A borrowed batch of samples of shape `S` (NHWC): what
/// [`Network::infer_batch`](crate::Network::infer_batch) returns, a view of its workspace.
///
/// ```
/// use constnet::{Image, Tensor};
/// let x = Tensor::<Image<1, 1, 2>>::from_vec(2, vec![1.0, 2.0, 3.0, 4.0])?;
/// let view = x.view();
/// assert_eq!(view.dims(), [2, 1, 1, 2]);
/// assert_eq!(view.sample(1), [3.0, 4.0]);
/// assert_eq!(view.to_tensor(), x);
/// # Ok::<(), constnet::tensor::TensorLengthError>(())
/// ```
#[derive(Debug, PartialEq)]
pub struct TensorView<'a, S: Shape, T: Float = f32> {
    data: &'a [T],
    batch: usize,
    shape: PhantomData<fn() -> S>,
}

impl<S: Shape, T: Float> Clone for TensorView<'_, S, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Shape, T: Float> Copy for TensorView<'_, S, T> {}

impl<'a, S: Shape, T: Float> TensorView<'a, S, T> {
    /// `batch` samples in `data`, whose length must be `batch * S::LEN`.
    ///
    /// # Panics
    /// If the length is not `batch * S::LEN` (the callers are the library's own).
    pub(crate) fn new(batch: usize, data: &'a [T]) -> Self {
        assert_eq!(data.len(), batch * S::LEN, "TensorView: wrong length");
        TensorView {
            data,
            batch,
            shape: PhantomData,
        }
    }

    /// Number of samples.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// `[batch, H, W, C]`.
    pub fn dims(&self) -> [usize; 4] {
        [self.batch, S::H, S::W, S::C]
    }

    /// All values, NHWC.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }

    /// Sample `i`'s values (panics if `i >= batch`).
    pub fn sample(&self, i: usize) -> &'a [T] {
        &self.data[i * S::LEN..(i + 1) * S::LEN]
    }

    /// An owned copy.
    pub fn to_tensor(&self) -> Tensor<S, T> {
        Tensor {
            data: self.data.to_vec(),
            batch: self.batch,
            shape: PhantomData,
        }
    }
}

impl<S: Shape, T: Float> Tensor<S, T> {
    /// A borrowed view of the whole batch.
    pub fn view(&self) -> TensorView<'_, S, T> {
        TensorView::new(self.batch, &self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    #[test]
    fn from_vec_checks_the_length() {
        let err = Tensor::<Image<2, 2, 3>>::from_vec(2, vec![0.0; 23]).unwrap_err();
        assert_eq!(err.expected, 24);
        assert_eq!(
            err.to_string(),
            "a tensor of 2 samples of 2x2x3 needs 24 values, got 23"
        );
        assert!(Tensor::<Image<2, 2, 3>>::from_vec(2, vec![0.0; 24]).is_ok());
    }

    #[test]
    fn set_batch_keeps_the_allocation() {
        let mut t = Tensor::<Image<1, 1, 4>, f64>::zeros(8);
        let ptr = t.as_slice().as_ptr();
        t.set_batch(3);
        t.set_batch(8);
        assert_eq!(t.as_slice().as_ptr(), ptr);
        assert!(t.copy_from_slice(&[1.0; 7]).is_err());
        t.copy_from_slice(&[1.0; 8]).unwrap();
        assert_eq!(t.batch(), 2);
    }
}
