//! Allocation tests, in a binary of their own: a global allocator (`counting_alloc`) counts the
//! whole process's allocations, so no other tests may run beside these, and these take turns
//! (`counting_alloc::one_at_a_time`).
//!
//! - `small_cnn_step`: a SmallCnn training step allocates nothing after the first;
//! - `resnet20_step`: nor does a ResNet-20 step, which holds at most twice its activations;
//! - `train_net`: the training loop's steps do not allocate;
//! - `inference`: inference allocates nothing once the workspace has grown.

#[path = "../../benches/support/mod.rs"]
mod support;

mod counting_alloc;

mod inference;
mod resnet20_step;
mod small_cnn_step;
mod train_net;
