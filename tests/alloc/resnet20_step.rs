//! A training step of ResNet-20 (forward in train mode with BatchNorm's batch statistics,
//! softmax cross-entropy, backward through the residual blocks and an Adam update) allocates
//! nothing once the first step has run: every buffer is sized by the first batch and reused;
//! and the memory it holds is at most twice the activations that backward needs.

use crate::counting_alloc::{allocations, live_bytes, one_at_a_time, peak_bytes, reset_peak};
use crate::support::{IMAGE, ResNet20, Trainer, random_data};
use constnet::Network;

#[test]
fn a_resnet20_training_step_allocates_nothing_after_the_first() {
    let _turn = one_at_a_time();
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

/// The values a ResNet-20 training step must keep per 32x32x3 image for backward: every
/// layer's output, as PyTorch's autograd keeps them. Input 3,072; stem (conv, BN, ReLU) 3 x
/// 16,384; layer1, 3 blocks x 6 x 16,384 (conv, BN, ReLU, conv, BN, block output); layer2,
/// 8 x 8,192 for the first block (with the projection's conv and BN) and 2 x 6 x 8,192;
/// layer3 likewise at 4,096; pooling, flatten and classifier 148.
const ACTIVATIONS_PER_IMAGE: usize = 3_072
    + 3 * 16_384
    + 3 * 6 * 16_384
    + 8 * 8_192
    + 2 * 6 * 8_192
    + 8 * 4_096
    + 2 * 6 * 4_096
    + 148;

#[test]
fn a_resnet20_training_step_holds_at_most_twice_its_activations() {
    let _turn = one_at_a_time();
    assert_eq!(ACTIVATIONS_PER_IMAGE, 593_044);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let batch = 16;
    let (images, labels) = random_data(batch, 2);
    pool.install(|| {
        reset_peak();
        let start = live_bytes();
        let mut trainer = Trainer::<ResNet20>::fresh();
        let params = trainer.net.num_params();
        // Parameters, their gradients and the convolutions' transposed copies, then Adam's
        // two moments (allocated by the first step): memory for the weights, not activations.
        let weights = live_bytes() - start + 2 * params * size_of::<f32>();
        let loss = trainer.step(&images, &labels);
        assert!(loss.is_finite());
        let held = peak_bytes() - start - weights;
        let activations = batch * ACTIVATIONS_PER_IMAGE * size_of::<f32>();
        let ratio = held as f64 / activations as f64;
        eprintln!(
            "batch {batch}: {held} bytes held beside {weights} for the weights; \
             activations {activations} bytes; ratio {ratio:.2}"
        );
        assert!(
            ratio <= 2.0,
            "{held} bytes held for {activations} of activations: {ratio:.2}x"
        );
        // The bound is not vacuous: the buffers hold more than the activations themselves.
        assert!(ratio > 1.0, "ratio {ratio:.2}");
    });
}
