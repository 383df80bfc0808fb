//! The SmallCnn (`constnet::models::SmallCnn`) and one Adam training step, shared by the criterion
//! benchmarks (`benches/`), `examples/bench_train.rs` and `tests/alloc_free.rs`.
//!
//! The update is the training module's Adam (`constnet::train::Adam`, PyTorch's rule and
//! defaults).

// Each user (benches, example, tests) uses a part.
#![allow(dead_code)]

use constnet::train::{Adam, Optimizer, softmax_cross_entropy};
use constnet::{Image, Mode, Network, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

pub use constnet::models::SmallCnn;

/// Classes of the SmallCnn.
pub const CLASSES: usize = 20;
/// Values per image.
pub const IMAGE: usize = 32 * 32 * 3;

/// Everything one training step needs, reused from step to step.
pub struct Trainer {
    /// The network.
    pub net: SmallCnn,
    /// The optimiser (Adam).
    pub adam: Adam<f32>,
    batch: Tensor<Image<32, 32, 3>>,
    grad: Vec<f32>,
}

impl Trainer {
    /// A He-initialised SmallCnn (seed 0) with Adam at learning rate 1e-3.
    pub fn new() -> Self {
        let net = SmallCnn::new(0);
        let adam = Adam::new(1e-3);
        Trainer {
            net,
            adam,
            batch: Tensor::zeros(0),
            grad: Vec::new(),
        }
    }

    /// Forward (train mode), softmax cross-entropy, backward, Adam update; returns the loss.
    pub fn step(&mut self, images: &[f32], labels: &[usize]) -> f32 {
        // One move to a pool thread per step, as `train_net` does (see `kernels::on_pool`).
        constnet::kernels::on_pool(|| {
            self.batch.copy_from_slice(images).expect("whole images");
            let scores = self.net.forward(&self.batch, Mode::Train);
            self.grad.resize(scores.len(), 0.0);
            let loss = softmax_cross_entropy(scores, labels, CLASSES, &mut self.grad)
                .expect("labels are classes");
            self.net.backward(&self.grad);
            self.adam.step(&mut self.net);
            loss
        })
    }

    /// Evaluation-mode forward pass; returns the scores.
    pub fn eval(&mut self, images: &[f32]) -> &[f32] {
        self.batch.copy_from_slice(images).expect("whole images");
        self.net.forward(&self.batch, Mode::Eval)
    }
}

impl Default for Trainer {
    fn default() -> Self {
        Self::new()
    }
}

/// `n` images of N(0, 1) values and uniform labels, as the PyTorch script's `randn`/`randint`.
pub fn random_data(n: usize, seed: u64) -> (Vec<f32>, Vec<usize>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let images = (0..n * IMAGE)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let labels = (0..n).map(|_| rng.random_range(0..CLASSES)).collect();
    (images, labels)
}

/// Times each SmallCnn layer's forward and backward (with input gradient where the network
/// needs it) at batch `bs`, `reps` repetitions each; returns `(name, forward µs, backward µs)`.
pub fn layer_times(bs: usize, reps: usize) -> Vec<(&'static str, f64, f64)> {
    use constnet::{Layer, Shape};
    use std::time::Instant;
    fn time<L: Layer<In, f32>, In: constnet::Shape>(
        name: &'static str,
        layer: &mut L,
        bs: usize,
        reps: usize,
        input_grad: bool,
    ) -> (&'static str, f64, f64) {
        let x: Vec<f32> = (0..bs * In::LEN)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let mut y = vec![0.0; bs * L::Out::LEN];
        let dy: Vec<f32> = (0..y.len())
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let mut dx = vec![0.0; x.len()];
        // On a pool thread, as inside a network's passes (see `kernels::on_pool`).
        constnet::kernels::on_pool(|| {
            layer.forward(&x, &mut y, bs, Mode::Train);
            let t = Instant::now();
            for _ in 0..reps {
                layer.forward(&x, &mut y, bs, Mode::Train);
            }
            let f = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                let dx = if input_grad { Some(&mut dx[..]) } else { None };
                layer.backward(&x, &y, &dy, dx, bs);
            }
            let b = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
            (name, f, b)
        })
    }
    let mut net = SmallCnn::new(0);
    vec![
        time::<_, Image<32, 32, 3>>("conv1", &mut net.conv1, bs, reps, false),
        time::<_, Image<32, 32, 16>>("gelu1", &mut net.gelu1, bs, reps, true),
        time::<_, Image<32, 32, 16>>("conv2", &mut net.conv2, bs, reps, true),
        time::<_, Image<32, 32, 16>>("conv2-w", &mut net.conv2, bs, reps, false),
        time::<_, Image<15, 15, 32>>("gelu2", &mut net.gelu2, bs, reps, true),
        time::<_, Image<15, 15, 32>>("pool", &mut net.head.pool, bs, reps, true),
        time::<_, Image<1, 1, 1568>>("fc1", &mut net.head.fc1, bs, reps, true),
        time::<_, Image<1, 1, 100>>("gelu3", &mut net.head.gelu3, bs, reps, true),
        time::<_, Image<1, 1, 100>>("fc2", &mut net.head.fc2, bs, reps, true),
    ]
}

/// Times, at batch `bs` over `reps` repetitions, the Adam update alone and a whole training
/// step (copy, forward, loss, backward, update); returns `(update µs, step µs)`.
pub fn update_and_step_times(bs: usize, reps: usize) -> (f64, f64) {
    use std::time::Instant;
    let (images, labels) = random_data(bs, 1);
    let mut trainer = Trainer::new();
    trainer.step(&images, &labels);
    let t = Instant::now();
    for _ in 0..reps {
        trainer.adam.step(&mut trainer.net);
    }
    let update = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    let t = Instant::now();
    for _ in 0..reps {
        trainer.step(&images, &labels);
    }
    let step = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    (update, step)
}
