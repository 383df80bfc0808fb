//! `Identity`: any shape -> the same shape, unchanged.
//!
//! PyTorch equivalent: `nn.Identity()`. The default post-activation of
//! [`Residual`](super::Residual).

use crate::layer::{Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};
use std::marker::PhantomData;

/// The identity: the output is a copy of the input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Identity<T: Float = f32>(PhantomData<T>);

impl<In: Shape, T: Float> Layer<In, T> for Identity<T> {
    type Out = In;
    const KIND: &'static str = "Identity";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, _mode: Mode) {
        output.copy_from_slice(input);
    }

    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        output.copy_from_slice(input);
    }

    fn backward(
        &mut self,
        _input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _batch: usize,
    ) {
        if let Some(grad_input) = grad_input {
            grad_input.copy_from_slice(grad_output);
        }
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Identity<T> {
    type Layer = Identity<U>;
}
