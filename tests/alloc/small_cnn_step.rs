//! A training step of the SmallCnn (forward in train mode, softmax cross-entropy, backward and an
//! Adam update) allocates nothing once the first step has run: every buffer is sized by the
//! first batch and reused.
//!
//! The optimiser is the training module's Adam (`constnet::train::Optimizer`).

use crate::counting_alloc::{allocations, one_at_a_time};
use crate::support;

#[test]
fn a_training_step_allocates_nothing_after_the_first() {
    let _turn = one_at_a_time();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let (images, labels) = support::random_data(16, 1);
    let batch = 8;
    let image_values = batch * support::IMAGE;
    pool.install(|| {
        let mut trainer = support::Trainer::new();
        let first = trainer.step(&images[..image_values], &labels[..batch]);
        assert!(first.is_finite());
        // The first step sized every buffer; a second one warms up the rayon workers' deques.
        trainer.step(&images[image_values..], &labels[batch..]);
        let before = allocations();
        let mut losses = [0.0f32; 4];
        for (i, loss) in losses.iter_mut().enumerate() {
            let at = i % 2;
            *loss = trainer.step(
                &images[at * image_values..][..image_values],
                &labels[at * batch..][..batch],
            );
        }
        let after = allocations();
        assert_eq!(after - before, 0, "allocations in 4 training steps");
        // The steps did train: the loss on the same batch went down.
        assert!(losses[2] < losses[0], "losses {losses:?}");
        // The counter does count: a fresh vector is one allocation.
        let v = std::hint::black_box(vec![1u8; 10]);
        assert!(allocations() > after);
        drop(v);
    });
}
