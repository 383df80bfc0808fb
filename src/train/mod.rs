//! Training: the loss.
pub mod loss;

pub use loss::{LossError, softmax_cross_entropy};
