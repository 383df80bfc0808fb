//! The convolution zoo: forward pass, input gradient and weight gradient of the convolutions
//! users' networks are made of (ResNet, VGG-style, LeNet shapes), at one batch size; the
//! counterpart of `benches/torch_conv_zoo.py` (same shapes, timing and JSON).
//!
//! ```text
//! cargo run --release --example bench_conv_zoo -- --threads 2 --batch 64
//! ```
//!
//! Per shape: random inputs, weights and output gradients; a warm-up call and a timed trial call of
//! each pass, then `--blocks` timed blocks of as many calls as fill about `--block-ms`
//! milliseconds; each figure is the fastest block's mean time per call, in microseconds (the least
//! disturbed by other processes on a shared machine; compare the medians of several alternated
//! runs). The backward pass is timed twice, as the layer runs it: without the input gradient (the
//! weight and bias gradients alone, `weight_grad_us`) and with it (`backward_us`); `input_grad_us`
//! is their difference. Prints one JSON object per shape, one per line.
//!
//! With `--cpu-time` (64-bit Linux), the blocks are timed in CPU time of the whole process (all
//! threads, `clock_gettime(CLOCK_PROCESS_CPUTIME_ID)`) instead of wall-clock time: on a machine
//! shared with other work, one thread's CPU time per call measures the kernels' cost without
//! the time spent waiting for a core (`benches/torch_conv_zoo.py --cpu-time` does the same with
//! `time.process_time`).

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
    /// Timed blocks per figure (the fastest is reported).
    #[arg(long, default_value_t = 15)]
    blocks: usize,
    /// Target length of one timed block, in milliseconds.
    #[arg(long, default_value_t = 10.0)]
    block_ms: f64,
    /// Time in CPU seconds of the process instead of wall-clock seconds (64-bit Linux).
    #[arg(long)]
    cpu_time: bool,
    /// Only the shapes whose name contains this text.
    #[arg(long, default_value = "")]
    only: String,
}

/// `struct timespec` of 64-bit Linux.
#[repr(C)]
struct Timespec {
    tv_sec: i64,
    tv_nsec: i64,
}

unsafe extern "C" {
    /// The C library's `clock_gettime`.
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

/// Seconds of CPU time used so far by all threads of this process (`CLOCK_PROCESS_CPUTIME_ID`,
/// as Python's `time.process_time`); 0 where unavailable.
fn process_cpu_seconds() -> f64 {
    const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
    let mut t = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `struct timespec` (two 64-bit fields on 64-bit Linux,
    // the only target this benchmark's CPU clock is meant for) to the valid pointer it gets.
    let ok = unsafe { clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &mut t) } == 0;
    if ok {
        t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
    } else {
        0.0
    }
}

/// A clock: wall-clock seconds since `start`, or the process's CPU seconds.
fn now(cpu: bool, start: Instant) -> f64 {
    if cpu {
        process_cpu_seconds()
    } else {
        start.elapsed().as_secs_f64()
    }
}

/// The fastest of `blocks` timed blocks' mean time per call of `f`, in µs; each block runs
/// `f` as many times as took about `block_ms` in a first trial call.
fn time(args: &Args, mut f: impl FnMut()) -> f64 {
    let (cpu, start) = (args.cpu_time, Instant::now());
    // The first call of a process also starts the thread pool and faults in its buffers: a
    // trial that slow made the blocks one call long, and the 2-thread forward figure of the
    // first shape measured ~1.8x its time in a warm process.
    f();
    let t = now(cpu, start);
    f();
    let once = now(cpu, start) - t;
    let calls = ((args.block_ms * 1e-3 / once.max(1e-7)) as usize).clamp(1, 10_000);
    (0..args.blocks.max(1))
        .map(|_| {
            let t = now(cpu, start);
            for _ in 0..calls {
                f();
            }
            (now(cpu, start) - t) * 1e6 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
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
    // On a pool thread, as inside a network's passes (see `kernels::on_pool`).
    let (forward, weight_grad, backward) = constnet::kernels::on_pool(|| {
        let forward = time(args, || {
            <_ as Layer<Image<H, H, IC>, f32>>::forward(&mut conv, &x, &mut y, bs, Mode::Train)
        });
        let weight_grad = time(args, || {
            <_ as Layer<Image<H, H, IC>, f32>>::backward(&mut conv, &x, &y, &dy, None, bs)
        });
        let backward = time(args, || {
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
        "constnet {} isa {:?} threads {} clock {}",
        env!("CARGO_PKG_VERSION"),
        constnet::kernels::Isa::detected(),
        args.threads,
        if args.cpu_time { "cpu" } else { "wall" }
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
