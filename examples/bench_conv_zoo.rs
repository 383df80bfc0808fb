//! The convolution zoo: forward pass, input gradient and weight gradient of the convolutions
//! users' networks are made of (ResNet, VGG-style, LeNet shapes), at one batch size; the
//! counterpart of `benches/torch_conv_zoo.py` (same shapes, timing and JSON).
//!
//! ```text
//! cargo run --release --example bench_conv_zoo -- --threads 2 --batch 64
//! ```
//!
//! Per shape: random inputs, weights and output gradients; one warm-up call of each pass, then
//! `--blocks` timed blocks of as many calls as fill about `--block-ms` milliseconds; each
//! figure is the median over the blocks of the mean time per call, in microseconds. The
//! backward pass is timed twice, as the layer runs it: without the input gradient (the weight
//! and bias gradients alone, `weight_grad_us`) and with it (`backward_us`); `input_grad_us` is
//! their difference. Prints one JSON object per shape, one per line.

use clap::Parser;
use constnet::layers::Conv2d;
use constnet::{Image, Layer, Mode, Shape};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Rayon threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Samples per call.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Timed blocks per figure (the median is reported).
    #[arg(long, default_value_t = 7)]
    blocks: usize,
    /// Target length of one timed block, in milliseconds.
    #[arg(long, default_value_t = 30.0)]
    block_ms: f64,
    /// Only the shapes whose name contains this text.
    #[arg(long, default_value = "")]
    only: String,
}

/// Median over `blocks` timed blocks of the mean time per call of `f`, in µs; each block runs
/// `f` as many times as took about `block_ms` in a first trial call.
fn time(blocks: usize, block_ms: f64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    f();
    let once = t.elapsed().as_secs_f64();
    let calls = ((block_ms * 1e-3 / once.max(1e-7)) as usize).clamp(1, 10_000);
    let mut means: Vec<f64> = (0..blocks.max(1))
        .map(|_| {
            let t = Instant::now();
            for _ in 0..calls {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / calls as f64
        })
        .collect();
    means.sort_by(f64::total_cmp);
    means[means.len() / 2]
}

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0)
        .collect()
}

/// Times one convolution shape and prints its JSON line.
fn zoo_shape<
    const H: usize,
    const IC: usize,
    const OC: usize,
    const K: usize,
    const S: usize,
    const P: usize,
>(
    args: &Args,
) where
    Conv2d<IC, OC, K, S, P>: Layer<Image<H, H, IC>, f32>,
{
    let name = format!("{IC}->{OC} {K}x{K} s{S} p{P} @{H}x{H}");
    if !name.contains(&args.only) {
        return;
    }
    let bs = args.batch;
    let mut conv = Conv2d::<IC, OC, K, S, P>::default();
    let std = (2.0 / (K * K * IC) as f32).sqrt();
    for (w, v) in conv.weight.iter_mut().zip(values(K * K * IC * OC, 1)) {
        *w = v * std;
    }
    let x = values(bs * Image::<H, H, IC>::LEN, 2);
    let out_len = <<Conv2d<IC, OC, K, S, P> as Layer<Image<H, H, IC>, f32>>::Out as Shape>::LEN;
    let dy = values(bs * out_len, 3);
    let mut y = vec![0.0; bs * out_len];
    let mut dx = vec![0.0; x.len()];
    let (blocks, ms) = (args.blocks, args.block_ms);
    // On a pool thread, as inside a network's passes (see `kernels::on_pool`).
    let (forward, weight_grad, backward) = constnet::kernels::on_pool(|| {
        let forward = time(blocks, ms, || {
            <_ as Layer<Image<H, H, IC>, f32>>::forward(&mut conv, &x, &mut y, bs, Mode::Train)
        });
        let weight_grad = time(blocks, ms, || {
            <_ as Layer<Image<H, H, IC>, f32>>::backward(&mut conv, &x, &y, &dy, None, bs)
        });
        let backward = time(blocks, ms, || {
            <_ as Layer<Image<H, H, IC>, f32>>::backward(&mut conv, &x, &y, &dy, Some(&mut dx), bs)
        });
        (forward, weight_grad, backward)
    });
    let round = |v: f64| (v * 10.0).round() / 10.0;
    let line = serde_json::json!({
        "shape": name,
        "batch": bs,
        "forward_us": round(forward),
        "input_grad_us": round(backward - weight_grad),
        "weight_grad_us": round(weight_grad),
        "backward_us": round(backward),
        "total_us": round(forward + backward),
    });
    println!("{line}");
}

fn main() {
    let args = Args::parse();
    if let Err(e) = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build_global()
    {
        eprintln!("error: thread pool: {e}");
        std::process::exit(1);
    }
    eprintln!(
        "constnet {} isa {:?} threads {}",
        env!("CARGO_PKG_VERSION"),
        constnet::kernels::Isa::detected(),
        args.threads
    );
    // H, in channels, out channels, kernel, stride, padding.
    zoo_shape::<32, 3, 16, 3, 1, 1>(&args);
    zoo_shape::<32, 16, 16, 3, 1, 1>(&args);
    zoo_shape::<32, 16, 32, 3, 2, 1>(&args);
    zoo_shape::<16, 32, 32, 3, 1, 1>(&args);
    zoo_shape::<16, 32, 64, 3, 2, 1>(&args);
    zoo_shape::<8, 64, 64, 3, 1, 1>(&args);
    zoo_shape::<32, 16, 32, 1, 2, 0>(&args);
    zoo_shape::<16, 32, 64, 1, 2, 0>(&args);
    zoo_shape::<16, 64, 128, 3, 1, 1>(&args);
    zoo_shape::<8, 128, 128, 3, 1, 1>(&args);
    zoo_shape::<28, 1, 8, 5, 1, 0>(&args);
}
