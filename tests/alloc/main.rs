//! Allocation tests, in a binary of their own: a global allocator (`counting_alloc`) counts the
//! whole process's allocations, so no other tests may run beside these, and these take turns
//! (`counting_alloc::one_at_a_time`).
//!
//! - `training_step`: a SmallCnn or ResNet-20 training step allocates nothing after the first;
//! - `resnet20_memory`: a ResNet-20 step holds at most 1.25x its activations;
//! - `train_net`: the training loop's steps do not allocate;
//! - `inference`: inference allocates nothing once the workspace has grown.

#[path = "../../benches/support/mod.rs"]
mod support;

mod counting_alloc;

mod inference;
mod resnet20_memory;
mod train_net;
mod training_step;
