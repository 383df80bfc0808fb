//! A training step of ResNet-20 (forward in train mode with BatchNorm's batch statistics,
//! softmax cross-entropy, backward through the residual blocks and an Adam update) allocates
//! nothing once the first step has run: every buffer is sized by the first batch and reused.

#[path = "../benches/support/mod.rs"]
mod support;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations;
use support::{IMAGE, ResNet20, Trainer, random_data};

#[test]
fn a_resnet20_training_step_allocates_nothing_after_the_first() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let batch = 4;
    let (images, labels) = random_data(2 * batch, 1);
    let image_values = batch * IMAGE;
    pool.install(|| {
        let mut trainer = Trainer::<ResNet20>::fresh();
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
        assert_eq!(
            after - before,
            0,
            "allocations in 4 ResNet-20 training steps"
        );
        // The steps did train: the loss on the same batch went down.
        assert!(losses[2] < losses[0], "losses {losses:?}");
        // The counter does count: a fresh vector is one allocation.
        let v = std::hint::black_box(vec![1u8; 10]);
        assert!(allocations() > after);
        drop(v);
    });
}
