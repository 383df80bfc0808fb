//! The training step does not allocate: twice as many iterations cost (almost) no more
//! allocations.

use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{OptimizerKind, Samples, TrainConfig, train_net};
use constnet::{Image, net};

use crate::counting_alloc::{allocations, one_at_a_time};

net! {
    struct Cnn {
        input: Image<6, 6, 2>,
        conv: Conv2d<2, 4, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<36, 3>,
    }
}

fn allocations_for(samples: usize) -> usize {
    let images: Vec<f32> = (0..samples * 72).map(|i| (i as f32 * 0.13).sin()).collect();
    let labels: Vec<usize> = (0..samples).map(|i| i % 3).collect();
    let train = Samples::new(&images, &labels);
    let val = Samples::new(&images[..72 * 6], &labels[..6]);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 4,
        optimizer: OptimizerKind::Adam,
        train_eval_samples: Some(6),
        ..TrainConfig::default()
    };
    let mut net = Cnn::<f32>::new(1);
    let before = allocations();
    train_net(&mut net, train, val, &config).unwrap();
    allocations() - before
}

#[test]
fn training_steps_do_not_allocate() {
    let _turn = one_at_a_time();
    // Single-threaded, so that only this test's allocations are counted.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        allocations_for(40); // warm-up
        let short = allocations_for(400); // 100 iterations
        let long = allocations_for(800); // 200 iterations
        // The only growth allowed: the loss history vector doubling (a few reallocations).
        assert!(
            long - short <= 4,
            "100 more iterations made {} more allocations ({short} -> {long})",
            long - short
        );
    });
}
