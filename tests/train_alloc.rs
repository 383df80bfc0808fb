//! The training step does not allocate: twice as many iterations cost (almost) no more
//! allocations. Counted with a global allocator wrapper, so this test has its own binary.

use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{OptimizerKind, Samples, TrainConfig, train_net};
use constnet::{Image, net};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call unchanged to the system allocator; it only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

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
        quiet: true,
        ..TrainConfig::default()
    };
    let mut net = Cnn::<f32>::new(1);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    train_net(&mut net, train, val, &config).unwrap();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn training_steps_do_not_allocate() {
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
