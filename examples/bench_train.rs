//! Training and evaluation throughput of the SmallCnn or ResNet-20, the counterpart of
//! `benches/torch_small_cnn.py` and `benches/torch_resnet20.py` (same network, data sizes,
//! warm-up, timing and JSON).
//!
//! ```text
//! cargo run --release --example bench_train -- --threads 2 --batch 10,64
//! cargo run --release --example bench_train -- --model resnet20 --threads 2 --batch 10,64,128
//! cargo run --release --example bench_train -- --model resnet20 --layers --batch 64
//! ```
//!
//! Random data; per batch size: a fresh network, warm-up steps, then `images / batch` timed
//! training steps (forward, loss, backward, Adam), then evaluation of all images in chunks.
//! SmallCnn (the default): 6400 images, 5 warm-up steps, chunks of 1000 (as
//! `torch_small_cnn.py`). ResNet-20: 1280 images, 3 warm-up steps, one untimed chunk, chunks of
//! 256 (as `torch_resnet20.py`). Prints one JSON object.

#[path = "../benches/support/mod.rs"]
mod support;

use clap::{Parser, ValueEnum};
use std::time::Instant;
use support::{BenchNet, IMAGE, ResNet20, SmallCnn, Trainer, random_data};

/// The network to benchmark.
#[derive(Clone, Copy, ValueEnum)]
enum Model {
    /// The README's SmallCnn.
    SmallCnn,
    /// ResNet-20 with projection shortcuts (`constnet::models::ResNet20<20>`).
    Resnet20,
}

#[derive(Parser)]
struct Args {
    /// The network.
    #[arg(long, value_enum, default_value = "small-cnn")]
    model: Model,
    /// Rayon threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Comma-separated batch sizes [default: 10,64 for the SmallCnn, 10,64,128 for ResNet-20].
    #[arg(long)]
    batch: Option<String>,
    /// Random images to train on and evaluate [default: 6400 for the SmallCnn, 1280 for
    /// ResNet-20].
    #[arg(long)]
    images: Option<usize>,
    /// Print each layer's forward and backward time (µs per batch) instead.
    #[arg(long)]
    layers: bool,
}

/// What differs between the two models' runs (as in their PyTorch scripts).
struct Setup {
    name: &'static str,
    batch: &'static str,
    images: usize,
    warm_up: usize,
    eval_chunk: usize,
    /// Evaluate one chunk before timing (the ResNet-20 script does, the SmallCnn one does not).
    eval_warm_up: bool,
}

fn main() {
    let args = Args::parse();
    let setup = match args.model {
        Model::SmallCnn => Setup {
            name: "small-cnn",
            batch: "10,64",
            images: 6400,
            warm_up: 5,
            eval_chunk: 1000,
            eval_warm_up: false,
        },
        Model::Resnet20 => Setup {
            name: "resnet20",
            batch: "10,64,128",
            images: 1280,
            warm_up: 3,
            eval_chunk: 256,
            eval_warm_up: true,
        },
    };
    let batch = args.batch.as_deref().unwrap_or(setup.batch);
    let batches: Vec<usize> = match batch.split(',').map(str::parse).collect() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --batch: {e}");
            std::process::exit(2);
        }
    };
    if batches.contains(&0) {
        eprintln!("error: --batch: batch sizes must be at least 1");
        std::process::exit(2);
    }
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
    {
        eprintln!("error: thread pool: {e}");
        std::process::exit(1);
    }
    if args.layers {
        for &bs in &batches {
            match args.model {
                Model::SmallCnn => {
                    for (name, f, b) in support::layer_times(bs, 50) {
                        println!("batch {bs:3} {name:6} forward {f:9.1} µs  backward {b:9.1} µs");
                    }
                }
                Model::Resnet20 => resnet20_layers(bs),
            }
            let (update, step) = match args.model {
                Model::SmallCnn => support::update_and_step_times::<SmallCnn>(bs, 50),
                Model::Resnet20 => support::update_and_step_times::<ResNet20>(bs, 20),
            };
            println!("batch {bs:3} adam   update  {update:9.1} µs");
            println!("batch {bs:3} step   total   {step:9.1} µs");
        }
        return;
    }
    let images = args.images.unwrap_or(setup.images);
    let results = match args.model {
        Model::SmallCnn => run::<SmallCnn>(&batches, images, &setup),
        Model::Resnet20 => run::<ResNet20>(&batches, images, &setup),
    };
    let out = serde_json::json!({
        "model": setup.name,
        "threads": args.threads,
        "images": images,
        "constnet": env!("CARGO_PKG_VERSION"),
        "isa": format!("{:?}", constnet::kernels::Isa::detected()),
        "batch": results,
    });
    println!("{out}");
}

/// Trains a fresh network at each batch size and evaluates it; the `"batch"` object.
fn run<N: BenchNet>(
    batches: &[usize],
    images: usize,
    setup: &Setup,
) -> serde_json::Map<String, serde_json::Value> {
    let (data, labels) = random_data(images, 0);
    let mut results = serde_json::Map::new();
    for &bs in batches {
        let mut trainer = Trainer::<N>::fresh();
        let steps = images / bs;
        for _ in 0..setup.warm_up {
            trainer.step(&data[..bs * IMAGE], &labels[..bs]);
        }
        let start = Instant::now();
        for i in 0..steps {
            trainer.step(
                &data[i * bs * IMAGE..(i + 1) * bs * IMAGE],
                &labels[i * bs..(i + 1) * bs],
            );
        }
        let train = (steps * bs) as f64 / start.elapsed().as_secs_f64();
        if setup.eval_warm_up {
            trainer.eval(&data[..setup.eval_chunk.min(images) * IMAGE]);
        }
        let start = Instant::now();
        for chunk in data.chunks(setup.eval_chunk * IMAGE) {
            trainer.eval(chunk);
        }
        let eval = images as f64 / start.elapsed().as_secs_f64();
        results.insert(
            bs.to_string(),
            serde_json::json!({
                "train_images_per_sec": (train * 10.0).round() / 10.0,
                "eval_images_per_sec": (eval * 10.0).round() / 10.0,
            }),
        );
    }
    results
}

/// ResNet-20's layer kinds at batch `bs`, and their sum weighted by how many the network has.
fn resnet20_layers(bs: usize) {
    let (mut fwd, mut bwd) = (0.0, 0.0);
    for (name, n, f, b) in support::resnet20_layer_times(bs, 20) {
        println!("batch {bs:3} {name:16} x{n} forward {f:9.1} µs  backward {b:9.1} µs");
        fwd += n as f64 * f;
        bwd += n as f64 * b;
    }
    println!(
        "batch {bs:3} layers sum (each kind x its count) forward {fwd:9.1} µs  backward {bwd:9.1} µs"
    );
}
