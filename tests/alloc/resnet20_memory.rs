//! The memory a ResNet-20 training step holds is at most 1.25x the activations that backward
//! needs (the goal is 2x).

use crate::counting_alloc::{live_bytes, one_at_a_time, peak_bytes, reset_peak};
use crate::support::{ResNet20, Trainer, random_data};
use constnet::Network;

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
        // The goal is 2x. The blocks share their gradient buffers (`GradPool`):
        // measured 1.04x, against 1.48x when each block held its own.
        assert!(
            ratio <= 1.25,
            "{held} bytes held for {activations} of activations: {ratio:.2}x"
        );
        // The bound is not vacuous: the buffers hold more than the activations themselves.
        assert!(ratio > 1.0, "ratio {ratio:.2}");
    });
}
