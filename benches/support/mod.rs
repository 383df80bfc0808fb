//! The SmallCnn (`constnet::models::SmallCnn`), ResNet-20 (`constnet::models::ResNet20`) and one
//! Adam training step, shared by the criterion benchmarks (`benches/`), `examples/bench_train.rs`,
//! `tests/alloc/training_step.rs` and `tests/alloc/resnet20_memory.rs`.
//!
//! The update is the training module's Adam (`constnet::train::Adam`, PyTorch's rule and
//! defaults).

// Each user (benches, example, tests) uses a part.
#![allow(dead_code)]

use constnet::train::{Adam, Optimizer, softmax_cross_entropy};
use constnet::{Image, Mode, Network, Tensor, Workspace};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use std::time::Instant;

pub use constnet::models::SmallCnn;

/// ResNet-20 with the benchmark's 20 classes.
pub type ResNet20 = constnet::models::ResNet20<20>;

/// Classes of the SmallCnn and of the ResNet-20.
pub const CLASSES: usize = 20;
/// Values per image.
pub const IMAGE: usize = 32 * 32 * 3;

/// A network the benchmark trains: 32x32 RGB images in, 20 scores out.
pub trait BenchNet: Network<f32, Input = Image<32, 32, 3>> {
    /// He-initialised from RNG seed `seed`.
    fn fresh(seed: u64) -> Self;
}

impl BenchNet for SmallCnn {
    fn fresh(seed: u64) -> Self {
        SmallCnn::new(seed)
    }
}

impl BenchNet for ResNet20 {
    fn fresh(seed: u64) -> Self {
        ResNet20::new(seed)
    }
}

/// Everything one training step needs, reused from step to step.
pub struct Trainer<N = SmallCnn> {
    /// The network.
    pub net: N,
    /// The optimiser (Adam).
    pub adam: Adam<f32>,
    batch: Tensor<Image<32, 32, 3>>,
    grad: Vec<f32>,
    ws: Workspace<f32>,
}

impl Trainer<SmallCnn> {
    /// A He-initialised SmallCnn (seed 0) with Adam at learning rate 1e-3.
    pub fn new() -> Self {
        Self::fresh()
    }
}

impl<N: BenchNet> Trainer<N> {
    /// A He-initialised network `N` (seed 0) with Adam at learning rate 1e-3.
    pub fn fresh() -> Self {
        Trainer {
            net: N::fresh(0),
            adam: Adam::new(1e-3),
            batch: Tensor::zeros(0),
            grad: Vec::new(),
            ws: Workspace::new(),
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

    /// Evaluation through the inference API (`Network::infer_batch`, the same bits as
    /// `forward(Mode::Eval)`); returns the scores.
    pub fn eval(&mut self, images: &[f32]) -> &[f32] {
        self.batch.copy_from_slice(images).expect("whole images");
        self.net.infer_batch(&self.batch, &mut self.ws).as_slice()
    }
}

impl Default for Trainer<SmallCnn> {
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

/// Times one layer's forward (train mode) and backward (with the input gradient if
/// `input_grad`) at batch `bs`, `reps` repetitions each, on a pool thread as inside a network's
/// passes (see `kernels::on_pool`); returns `(name, forward µs, backward µs)`.
pub fn time_layer<In: constnet::Shape, L: constnet::Layer<In, f32>>(
    name: &'static str,
    layer: &mut L,
    bs: usize,
    reps: usize,
    input_grad: bool,
) -> (&'static str, f64, f64) {
    use constnet::Shape;
    let x: Vec<f32> = (0..bs * In::LEN)
        .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
        .collect();
    let mut y = vec![0.0; bs * L::Out::LEN];
    let dy: Vec<f32> = (0..y.len())
        .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
        .collect();
    let mut dx = vec![0.0; x.len()];
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

/// Times each SmallCnn layer's forward and backward (with input gradient where the network
/// needs it) at batch `bs`, `reps` repetitions each; returns `(name, forward µs, backward µs)`.
pub fn layer_times(bs: usize, reps: usize) -> Vec<(&'static str, f64, f64)> {
    use constnet::Image;
    let mut net = SmallCnn::new(0);
    vec![
        time_layer::<Image<32, 32, 3>, _>("conv1", &mut net.conv1, bs, reps, false),
        time_layer::<Image<32, 32, 16>, _>("gelu1", &mut net.gelu1, bs, reps, true),
        time_layer::<Image<32, 32, 16>, _>("conv2", &mut net.conv2, bs, reps, true),
        time_layer::<Image<32, 32, 16>, _>("conv2-w", &mut net.conv2, bs, reps, false),
        time_layer::<Image<15, 15, 32>, _>("gelu2", &mut net.gelu2, bs, reps, true),
        time_layer::<Image<15, 15, 32>, _>("pool", &mut net.head.pool, bs, reps, true),
        time_layer::<Image<1, 1, 1568>, _>("fc1", &mut net.head.fc1, bs, reps, true),
        time_layer::<Image<1, 1, 100>, _>("gelu3", &mut net.head.gelu3, bs, reps, true),
        time_layer::<Image<1, 1, 100>, _>("fc2", &mut net.head.fc2, bs, reps, true),
    ]
}

/// Times the kinds of layers of a ResNet-20 step at batch `bs` (`reps` repetitions each);
/// returns `(name, how many the network has, forward µs, backward µs)`. Convolutions and
/// BatchNorm run with the input gradient except the first convolution (`net!` asks for none).
/// The residual additions with their ReLU are timed through an identity-shortcut block whose
/// branch is an `Identity` (so only the add and the ReLU run); the two projection blocks' add and
/// ReLU are counted with them.
pub fn resnet20_layer_times(bs: usize, reps: usize) -> Vec<(&'static str, usize, f64, f64)> {
    use constnet::layers::{
        BatchNorm2d, BatchNorm2dRelu, Conv2dNoBias, GlobalAvgPool2d, Identity, Linear, Relu,
        Residual,
    };
    let mut rows = Vec::new();
    let mut push = |n: usize, (name, f, b): (&'static str, f64, f64)| rows.push((name, n, f, b));
    push(
        1,
        time_layer::<Image<32, 32, 3>, _>(
            "conv 3->16 @32",
            &mut Conv2dNoBias::<3, 16, 3, 1, 1>::default(),
            bs,
            reps,
            false,
        ),
    );
    push(
        6,
        time_layer::<Image<32, 32, 16>, _>(
            "conv 16->16 @32",
            &mut Conv2dNoBias::<16, 16, 3, 1, 1>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<32, 32, 16>, _>(
            "conv 16->32 s2",
            &mut Conv2dNoBias::<16, 32, 3, 2, 1>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        5,
        time_layer::<Image<16, 16, 32>, _>(
            "conv 32->32 @16",
            &mut Conv2dNoBias::<32, 32, 3, 1, 1>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<16, 16, 32>, _>(
            "conv 32->64 s2",
            &mut Conv2dNoBias::<32, 64, 3, 2, 1>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        5,
        time_layer::<Image<8, 8, 64>, _>(
            "conv 64->64 @8",
            &mut Conv2dNoBias::<64, 64, 3, 1, 1>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<32, 32, 16>, _>(
            "1x1 16->32 s2",
            &mut Conv2dNoBias::<16, 32, 1, 2, 0>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<16, 16, 32>, _>(
            "1x1 32->64 s2",
            &mut Conv2dNoBias::<32, 64, 1, 2, 0>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<32, 32, 16>, _>(
            "bn 16 @32",
            &mut BatchNorm2d::<16>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        4,
        time_layer::<Image<32, 32, 16>, _>(
            "bn+relu 16 @32",
            &mut BatchNorm2dRelu::<16>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        4,
        time_layer::<Image<16, 16, 32>, _>(
            "bn 32 @16",
            &mut BatchNorm2d::<32>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<16, 16, 32>, _>(
            "bn+relu 32 @16",
            &mut BatchNorm2dRelu::<32>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        4,
        time_layer::<Image<8, 8, 64>, _>(
            "bn 64 @8",
            &mut BatchNorm2d::<64>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<8, 8, 64>, _>(
            "bn+relu 64 @8",
            &mut BatchNorm2dRelu::<64>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<32, 32, 16>, _>(
            "add+relu 16 @32",
            &mut Residual::<Identity, Relu>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<16, 16, 32>, _>(
            "add+relu 32 @16",
            &mut Residual::<Identity, Relu>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        3,
        time_layer::<Image<8, 8, 64>, _>(
            "add+relu 64 @8",
            &mut Residual::<Identity, Relu>::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<8, 8, 64>, _>(
            "avgpool",
            &mut GlobalAvgPool2d::default(),
            bs,
            reps,
            true,
        ),
    );
    push(
        1,
        time_layer::<Image<1, 1, 64>, _>("fc", &mut Linear::<64, 20>::default(), bs, reps, true),
    );
    rows
}

/// Times, at batch `bs` over `reps` repetitions, the Adam update alone and a whole training
/// step (copy, forward, loss, backward, update) of network `N`; returns `(update µs, step µs)`.
pub fn update_and_step_times<N: BenchNet>(bs: usize, reps: usize) -> (f64, f64) {
    let (images, labels) = random_data(bs, 1);
    let mut trainer = Trainer::<N>::fresh();
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
