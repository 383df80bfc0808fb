//! Fast kernels for the layers that carry the work (convolution, linear, max pooling, GELU,
//! BatchNorm), with run-time CPU-feature dispatch, and the plain reference loops they are tested
//! against.
//!
//! # How they are fast
//!
//! * **Monomorphised direct loops.** Channel counts and kernel sizes are const generics, so the
//!   innermost loops have constant trip counts and their accumulators are fixed-size arrays
//!   (`[[T; OUT_C]; PIXELS]`) that the compiler can keep in vector registers. Several output
//!   pixels (or input channels, or samples) share each weight load.
//! * **Hand-written SIMD kernels where LLVM falls short.** For large accumulator blocks LLVM
//!   keeps the arrays on the stack (a load and a store around every multiply-add). The hot
//!   `f32` convolution loops with channel counts that are multiples of 8 (conv forward, input
//!   gradient, weight gradient; and the forward pass of 1-7 output channels, in one register
//!   with masked loads and stores) are therefore written with `std::arch` intrinsics in
//!   `src/kernels/simd.rs`, once, generic over the register type (`__m512` for AVX-512,
//!   `__m256` for AVX2), one register per accumulator; pixel blocks of two sizes tile a row
//!   instead of leaving a remainder to the one-pixel path (and the padded edge columns, down
//!   the column), and wide layers run in chunks of channels that fit the registers. They
//!   perform the generic kernels' operations in the same order and are tested bit-for-bit
//!   against them under each instruction set. The fully connected layer's forward pass and
//!   input gradient (`linear_simd.rs`, the same accumulator problem), BatchNorm's passes and
//!   max pooling's input gradient (`batch_norm_simd.rs`, `pool_simd.rs`: LLVM compiled parts
//!   of the generic ones to scalar code) have vector kernels of their own too. Everything else
//!   (f64, other channel counts such as 3, 17 or 100, the portable build) runs the generic
//!   kernels.
//! * **Run-time CPU dispatch.** Users do not set `RUSTFLAGS`, so each kernel call runs inside a
//!   function compiled with `#[target_feature(enable = "avx512f,…")]` (or AVX2) when
//!   [`is_x86_feature_detected!`] says the CPU has it; the generic kernel body is
//!   `#[inline(always)]` and is compiled once per instruction set. The detection is cached;
//!   `CONSTNET_ISA=avx2` (or `avx512`, `portable`) chooses another set the CPU supports.
//! * **One task per thread, from a pool thread.** Work on samples is split into one contiguous
//!   run per rayon thread, not one task per sample, and calls with less than ~50,000
//!   multiply-adds stay on one thread. Network passes and optimiser steps run on a pool thread
//!   ([`on_pool`]), so each parallel loop forks there instead of being injected from outside,
//!   and the other threads wait for the next loop's work awake instead of asleep.
//! * **Transposed copies where the inner loop needs them.** `Conv2d` and `Linear` keep a
//!   transposed weight buffer that backward rewrites, so the input gradient streams contiguous
//!   vectors instead of reducing across them.
//! * **Fewer passes over memory for the element-wise layers.** `BatchNorm2dRelu` applies the
//!   ReLU inside BatchNorm's passes (forward and backward, see `kernels/batch_norm.rs`), and a
//!   residual connection followed by a ReLU adds and clips in one pass: on ResNet-20's
//!   activations these layers are bound by memory, not arithmetic.
//! * **The stride-1 input gradient is a forward convolution.** `dx` is the convolution of `dy`
//!   with the kernel turned by 180° and its input and output channels swapped (padding `K-1-P`),
//!   so it runs the forward kernels, the fastest code in this module, instead of a kernel of its
//!   own (1.3-2.2x on AVX2). The weight copy that backward rewrites is in that turned layout.
//! * **The strided input gradient gathers by phase.** With a stride of 2 or more and 32 or more
//!   input channels, each input pixel's gradient is summed in registers over the kernel taps
//!   that reach it (the same taps for every column of one phase, `iw mod S`) and written once
//!   (`conv_strided.rs`), instead of each output pixel's contributions being added to `dx` in
//!   memory. ResNet's 32->64 stride-2 layer, one Zen 5 core, batch 64: 1.4x with AVX-512, 2.2x
//!   with AVX2.
//! * **Fewer multiplications for ResNet's 3x3 layers (Winograd).** `f32` 3x3 convolutions with
//!   stride 1, padding 1 and 16-128 input and output channels in multiples of 16 run Winograd's
//!   F(2x2, 3x3) (`winograd.rs`): each 2x2 block of outputs takes 16 x `IC` x `OC`
//!   multiply-adds on transformed 4x4 input patches and weights instead of 36 x `IC` x `OC`.
//!   This covers the forward pass, the stride-1 input gradient (a forward pass) and the weight
//!   gradient (summed over the tiles in the transformed domain, then transformed back once).
//!   The transforms are additions and halvings, in blocks of 16 tiles so that the products are
//!   register tiles like the direct kernels'. The transformed weights (and the weight
//!   gradient's sums) go to working memory that `Conv2d` keeps, or to the inference
//!   workspace, so nothing is allocated per call. One Zen 5 core, batch 64: forward 1.3-1.5x,
//!   weight gradient 1.1-1.3x the direct kernels on the 16-, 32- and 64-channel layers,
//!   1.3-1.6x on 64->128 and 128->128. Their results differ from the direct loops' by
//!   rounding (see below).
//! * **Loop orders that keep the working set in L1.** With 32 and more input channels the
//!   forward pass runs one kernel tap at a time over a chunk of output rows, so that the tap's
//!   weights for a chunk of output channels stay in L1 (1.3-1.7x at 64-128 channels); the weight
//!   gradient takes the output rows in chunks that fit L1 and accumulates register tiles of
//!   4-16 input channels by 1-4 vectors of output channels (16 independent chains where the
//!   sizes allow: 8 leave the FMA pipes idle part of the time), each value one chain of fused
//!   multiply-adds in the reference's order (1.8-2.1x).
//!
//! # Same results for any thread count and instruction set
//!
//! Every multiply-add is fused (one rounding): [`Float::mul_add`](crate::Float::mul_add)
//! (`f32::mul_add`, `f64::mul_add`) in the generic and reference kernels, the `fmadd`
//! instructions in the hand-written ones, in an order fixed by the code, so vector width does
//! not change a single bit. A fused multiply-add takes one of the two FMA pipes where a
//! multiply and an add take both, which doubles the peak on cores that cannot issue more than
//! two such instructions per cycle (Intel's).
//!
//! **What a CPU without FMA pays.** The AVX-512 and AVX2 paths require FMA (every x86-64 CPU
//! with AVX2 has it), and so do other 64-bit targets' vector units (AArch64's NEON). Only the
//! portable path on an x86-64 CPU older than Haswell (2013) lacks it: there `mul_add` is a call
//! to the C library's `fma`, which computes the exact result in software — correct and
//! bit-identical, but far slower (`CONSTNET_ISA=portable` runs that code on any CPU; see the
//! measurement in `BENCHMARKS.md`). Samples are independent; every weight gradient is reduced
//! over the batch in a fixed order: inside one task that owns a block of the gradient, or (for
//! convolutions with few input channels) as two fixed halves of the batch added at the end,
//! whatever the number of threads. So results depend neither on the thread count nor on the
//! CPU's instruction set.
//!
//! # Correctness
//!
//! [`reference`](mod@reference) holds the plain, obviously correct loops (the layers' original
//! code). The tests in this module compare every fast kernel, under every instruction set the CPU
//! supports, with them: random sizes, strides, paddings and batch sizes, in `f32` and `f64`; and
//! the hand-written SIMD kernels bit-for-bit with the generic ones. The direct forward pass is
//! bit-identical to the reference loops too, and so is the weight gradient of one run of
//! samples; the batch's weight gradient (which may add two halves of the batch), the
//! stride-1 input gradient (summed in the turned convolution's order: taps, then output
//! channels) and the strided one by phase (each input value summed from zero) differ from the
//! reference's order by rounding only and are compared within a tolerance. Winograd's layers round differently again: their forward pass and weight
//! gradient are compared with the exact values (the `f32` problem computed in `f64`) and are
//! within 1e-6 of them relative to the largest value (measured: 3.7e-7 and 6.2e-7), closer than
//! the direct `f32` loops, which add up to 576 products (1,248 for a weight) in one chain
//! (1.0e-6 and 1.3e-6 on the same problems). Like every kernel here they give the same bits on
//! every instruction set and thread count.

pub mod reference;

pub(crate) mod avg_pool;
pub(crate) mod batch_norm;
#[cfg(target_arch = "x86_64")]
mod batch_norm_simd;
pub(crate) mod conv;
pub(crate) mod conv_strided;
pub(crate) mod gelu;
pub(crate) mod linear;
#[cfg(target_arch = "x86_64")]
mod linear_simd;
pub(crate) mod pool;
#[cfg(target_arch = "x86_64")]
mod pool_simd;
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd;
pub(crate) mod winograd;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

pub use reference::PoolDims;

/// The sizes of one convolution that are not const generics: input and output height and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvDims {
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output height.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl ConvDims {
    /// Values in one input sample.
    pub fn in_len(&self, in_c: usize) -> usize {
        self.h * self.w * in_c
    }
    /// Values in one output sample.
    pub fn out_len(&self, out_c: usize) -> usize {
        self.oh * self.ow * out_c
    }
}

/// The instruction sets a kernel can be compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512 (F, VL) with AVX2 and FMA: 16 `f32` per vector.
    Avx512,
    /// AVX2 with FMA: 8 `f32` per vector.
    Avx2,
    /// Whatever the build target allows (SSE2 on x86-64 by default).
    Portable,
}

impl Isa {
    /// Every instruction set this CPU can run, best first (always ends with `Portable`).
    pub fn available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|isa| isa.is_supported())
            .collect()
    }

    /// Whether this CPU can run code compiled for `self`.
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The name `CONSTNET_ISA` takes: `avx512`, `avx2` or `portable`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// The instruction set the kernels use, chosen once and cached: the best one of this CPU,
    /// or the one named by the environment variable `CONSTNET_ISA` (`avx512`, `avx2` or
    /// `portable`) if this CPU can run it, e.g. to measure what a machine without AVX-512
    /// would see. An unknown or unsupported name is ignored.
    pub fn detected() -> Isa {
        static CACHE: AtomicU8 = AtomicU8::new(0);
        match CACHE.load(Ordering::Relaxed) {
            1 => Isa::Avx512,
            2 => Isa::Avx2,
            3 => Isa::Portable,
            _ => {
                let available = Isa::available();
                let requested = std::env::var("CONSTNET_ISA").ok();
                let isa = available
                    .iter()
                    .copied()
                    .find(|isa| requested.as_deref() == Some(isa.name()))
                    .unwrap_or(available[0]);
                let code = match isa {
                    Isa::Avx512 => 1,
                    Isa::Avx2 => 2,
                    Isa::Portable => 3,
                };
                CACHE.store(code, Ordering::Relaxed);
                isa
            }
        }
    }
}

/// Runs `f` compiled for the best instruction set of this CPU. `f` must be an
/// `#[inline(always)]` closure over `#[inline(always)]` kernel bodies, so that its code is
/// generated inside the target-feature function.
#[inline(always)]
pub(crate) fn run<R>(f: impl FnOnce() -> R) -> R {
    run_on(Isa::detected(), f)
}

/// Runs `f` compiled for `isa`, or for [`Isa::Portable`] if this CPU cannot run `isa`.
#[inline(always)]
pub(crate) fn run_on<R>(isa: Isa, f: impl FnOnce() -> R) -> R {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `avx512` only requires that the CPU supports the features it enables;
        // `is_supported` has just checked exactly those (avx512f, avx512vl, avx2, fma) with
        // `is_x86_feature_detected!`. Tested by `kernels::tests` under every available Isa.
        Isa::Avx512 if isa.is_supported() => unsafe { x86::avx512(f) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for avx2 and fma.
        Isa::Avx2 if isa.is_supported() => unsafe { x86::avx2(f) },
        _ => f(),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// Calls `f` inside a function compiled with AVX-512; `f`'s body, inlined here, is compiled
    /// with these features too.
    #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
    pub(super) fn avx512<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// Calls `f` inside a function compiled with AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn avx2<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

/// Runs `f` on a thread of rayon's pool (at once if this thread is already one of them) and
/// returns its result.
///
/// The kernels split their work with rayon. Called from a thread outside the pool (a
/// program's main thread), every parallel loop is injected into the pool: a worker is woken,
/// the caller parks until the loop is done, and a training step has some thirty such loops.
/// From a pool thread, a loop runs its first half on the spot and only the other half waits
/// for the second worker. [`Network`](crate::Network) forward and backward passes and
/// [`Optimizer::step`](crate::train::Optimizer::step) call this themselves, so a training step
/// moves to the pool three times instead of some thirty; [`train_net`](crate::train::train_net)
/// wraps each whole step, which moves once. Measured on the SmallCnn at batch 10 (2 threads,
/// `bench_train`, before later kernel work): ~7,500 img/s with every loop injected, ~11,100
/// with the passes on a pool thread. The fewer moves, the fewer times a parked thread must be
/// woken, which on this virtual machine is the slowest part of a move.
///
/// While `f` runs, the pool's other threads do not go to sleep between its parallel loops:
/// each keeps looking for the next loop's work for up to a millisecond (as OpenMP runtimes spin
/// after a parallel region), so a loop starts on both threads without a wake-up. Rayon's own
/// idle threads sleep after some 30 rounds of looking for work, and a sleeping thread woken
/// through the kernel cost the whole gain of a second thread at batch 10 on an Intel Xeon
/// virtual machine (SmallCnn training, `bench_train`, 2 threads: no faster than one). Results
/// do not depend on which thread runs what.
///
/// ```
/// let sum: u64 = constnet::kernels::on_pool(|| (1..=10u64).sum());
/// assert_eq!(sum, 55);
/// ```
pub fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    if rayon::current_thread_index().is_some() {
        return f();
    }
    let done = AtomicBool::new(false);
    rayon::scope(|scope| {
        let caller = rayon::current_thread_index();
        let done = &done;
        scope.spawn_broadcast(move |_, thread| {
            // The thread running `f` may pick this up while it waits inside `f`: it must not
            // spin there, or `f` (and so `done`) would never finish.
            if Some(thread.index()) == caller {
                return;
            }
            let mut idle_since = None;
            while !done.load(Ordering::Acquire) {
                if rayon::yield_now() == Some(rayon::Yield::Executed) {
                    idle_since = None;
                    continue;
                }
                // Long sequential stretches (an all-reduce, say) let this thread sleep after
                // all; and the OS-level yield leaves the core to any other process that needs it
                // (an oversubscribed machine, several MPI ranks per core).
                if idle_since.get_or_insert_with(Instant::now).elapsed() > MAX_SPIN {
                    return;
                }
                std::thread::yield_now();
            }
        });
        // Set `done` even if `f` panics, so that the spinning threads end and the scope can
        // pass the panic on.
        let _done = SetOnDrop(done);
        f()
    })
}

/// How long [`on_pool`]'s waiting threads look for work before they leave it to rayon, which
/// puts them to sleep: longer than the gaps between a training step's parallel loops.
const MAX_SPIN: Duration = Duration::from_millis(1);

/// Sets the flag when dropped (at the end of [`on_pool`]'s closure, or while a panic unwinds).
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Work (multiply-adds or values moved) below which a kernel call stays on one thread: handing
/// half of it to a sleeping worker costs some microseconds, about this much work.
const PARALLEL_MIN_WORK: usize = 50_000;

/// How many tasks to split `work` into: one per rayon thread, or one if it is small.
pub(crate) fn tasks_for(work: usize) -> usize {
    if work < PARALLEL_MIN_WORK {
        1
    } else {
        rayon::current_num_threads()
    }
}

/// How many samples each parallel task takes: the batch split into one run per thread (one
/// run if the whole batch is less than [`PARALLEL_MIN_WORK`]).
pub(crate) fn samples_per_task(batch: usize, work_per_sample: usize) -> usize {
    batch
        .div_ceil(tasks_for(batch.saturating_mul(work_per_sample)))
        .max(1)
}
