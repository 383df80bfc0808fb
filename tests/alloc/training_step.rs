//! A training step (forward in train mode, softmax cross-entropy, backward and an Adam update)
//! allocates nothing once the first step has run: every buffer is sized by the first batch and
//! reused. For the SmallCnn and for ResNet-20 (BatchNorm's batch statistics, residual blocks).
//!
//! The optimiser is the training module's Adam (`constnet::train::Optimizer`).

use crate::counting_alloc::{allocations, one_at_a_time};
use crate::support::{BenchNet, IMAGE, ResNet20, SmallCnn, Trainer, random_data};

/// Two warm-up steps of network `N` at batch `batch`, then four more that must allocate nothing
/// and must train (the loss on the same batch goes down).
fn steps_allocate_nothing<N: BenchNet>(batch: usize) {
    let _turn = one_at_a_time();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let (images, labels) = random_data(2 * batch, 1);
    let image_values = batch * IMAGE;
    pool.install(|| {
        let mut trainer = Trainer::<N>::fresh();
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

#[test]
fn a_small_cnn_training_step_allocates_nothing_after_the_first() {
    steps_allocate_nothing::<SmallCnn>(8);
}

#[test]
fn a_resnet20_training_step_allocates_nothing_after_the_first() {
    steps_allocate_nothing::<ResNet20>(4);
}
