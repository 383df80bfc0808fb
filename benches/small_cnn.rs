//! Criterion benchmarks: each SmallCnn layer's forward and backward at batch 10 and 64, and a
//! whole training step (forward, loss, backward, Adam) at batch 10 and 64.
//!
//! `cargo bench --bench small_cnn` (about a minute). Layer inputs are deterministic
//! pseudo-random values; the training step uses `support::random_data`.

mod support;

use constnet::layers::{Conv2d, Gelu, Linear, MaxPool2d};
use constnet::{Image, Layer, Mode, Shape};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use support::{IMAGE, Trainer, random_data};

const BATCHES: [usize; 2] = [10, 64];

fn bench_layer<In: Shape, L: Layer<In, f32>>(
    c: &mut Criterion,
    name: &str,
    mut layer: L,
    input_grad: bool,
) {
    let mut group = c.benchmark_group(name);
    for bs in BATCHES {
        let x: Vec<f32> = (0..bs * In::LEN)
            .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
            .collect();
        let mut y = vec![0.0; bs * L::Out::LEN];
        let dy: Vec<f32> = (0..y.len())
            .map(|i| ((i * 31) % 17) as f32 / 8.0 - 1.0)
            .collect();
        let mut dx = vec![0.0; x.len()];
        group.throughput(Throughput::Elements(bs as u64));
        group.bench_with_input(BenchmarkId::new("forward", bs), &bs, |b, &bs| {
            b.iter(|| layer.forward(black_box(&x), &mut y, bs, Mode::Train))
        });
        group.bench_with_input(BenchmarkId::new("backward", bs), &bs, |b, &bs| {
            b.iter(|| {
                let dx = if input_grad { Some(&mut dx[..]) } else { None };
                layer.backward(black_box(&x), &y, &dy, dx, bs)
            })
        });
    }
    group.finish();
}

fn layers(c: &mut Criterion) {
    // The first convolution needs no input gradient in the network (it is the first layer).
    bench_layer::<Image<32, 32, 3>, _>(c, "conv1", Conv2d::<3, 16, 3, 1, 1>::default(), false);
    bench_layer::<Image<32, 32, 16>, _>(c, "gelu1", Gelu::default(), true);
    bench_layer::<Image<32, 32, 16>, _>(c, "conv2", Conv2d::<16, 32, 3, 2, 0>::default(), true);
    bench_layer::<Image<15, 15, 32>, _>(c, "gelu2", Gelu::default(), true);
    bench_layer::<Image<15, 15, 32>, _>(c, "pool", MaxPool2d::<2, 2>::default(), true);
    bench_layer::<Image<7, 7, 32>, _>(c, "fc1", Linear::<1568, 100>::default(), true);
    bench_layer::<Image<1, 1, 100>, _>(c, "fc2", Linear::<100, 20>::default(), true);
}

fn train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step");
    let (images, labels) = random_data(64, 0);
    for bs in BATCHES {
        let mut trainer = Trainer::new();
        group.throughput(Throughput::Elements(bs as u64));
        group.bench_with_input(BenchmarkId::from_parameter(bs), &bs, |b, &bs| {
            b.iter(|| trainer.step(black_box(&images[..bs * IMAGE]), &labels[..bs]))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = config();
    targets = layers, train_step
}
criterion_main!(benches);
