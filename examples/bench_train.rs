//! Training and evaluation throughput of the SmallCnn, the counterpart of
//! `benches/torch_small_cnn.py` (same network, data sizes, warm-up, timing and JSON).
//!
//! ```text
//! cargo run --release --example bench_train -- --threads 2 --batch 10,64
//! ```
//!
//! Random data (6400 images by default); per batch size: a fresh network, 5 warm-up steps, then
//! `images / batch` timed training steps (forward, loss, backward, Adam), then evaluation of all
//! images in chunks of 1000. Prints one JSON object.

#[path = "../benches/support/mod.rs"]
mod support;

use clap::Parser;
use std::time::Instant;
use support::{IMAGE, Trainer, random_data};

#[derive(Parser)]
struct Args {
    /// Rayon threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Comma-separated batch sizes.
    #[arg(long, default_value = "10,64")]
    batch: String,
    /// Random images to train on and evaluate.
    #[arg(long, default_value_t = 6400)]
    images: usize,
    /// Print each layer's forward and backward time (µs per batch) instead.
    #[arg(long)]
    layers: bool,
}

fn main() {
    let args = Args::parse();
    let batches: Vec<usize> = match args.batch.split(',').map(str::parse).collect() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: --batch: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
    {
        eprintln!("error: thread pool: {e}");
        std::process::exit(1);
    }
    if args.layers {
        for &bs in &batches {
            for (name, f, b) in support::layer_times(bs, 50) {
                println!("batch {bs:3} {name:6} forward {f:9.1} µs  backward {b:9.1} µs");
            }
            let (update, step) = support::update_and_step_times(bs, 50);
            println!("batch {bs:3} adam   update  {update:9.1} µs");
            println!("batch {bs:3} step   total   {step:9.1} µs");
        }
        return;
    }
    let (images, labels) = random_data(args.images, 0);
    let mut results = serde_json::Map::new();
    for &bs in &batches {
        let mut trainer = Trainer::new();
        let steps = args.images / bs;
        for _ in 0..5 {
            trainer.step(&images[..bs * IMAGE], &labels[..bs]);
        }
        let start = Instant::now();
        for i in 0..steps {
            trainer.step(
                &images[i * bs * IMAGE..(i + 1) * bs * IMAGE],
                &labels[i * bs..(i + 1) * bs],
            );
        }
        let train = (steps * bs) as f64 / start.elapsed().as_secs_f64();
        let start = Instant::now();
        for chunk in images.chunks(1000 * IMAGE) {
            trainer.eval(chunk);
        }
        let eval = args.images as f64 / start.elapsed().as_secs_f64();
        results.insert(
            bs.to_string(),
            serde_json::json!({
                "train_images_per_sec": (train * 10.0).round() / 10.0,
                "eval_images_per_sec": (eval * 10.0).round() / 10.0,
            }),
        );
    }
    let out = serde_json::json!({
        "threads": args.threads,
        "images": args.images,
        "constnet": env!("CARGO_PKG_VERSION"),
        "isa": format!("{:?}", constnet::kernels::Isa::detected()),
        "batch": results,
    });
    println!("{out}");
}
