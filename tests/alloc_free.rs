//! A training step of the SmallCnn (forward in train mode, softmax cross-entropy, backward and an
//! Adam update) allocates nothing once the first step has run: every buffer is sized by the
//! first batch and reused.
//!
//! The optimiser is the training module's Adam (`constnet::train::Optimizer`).

#[path = "../benches/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting every allocation (and reallocation).
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract; the only addition is a relaxed atomic increment, which neither
// allocates nor unwinds, so the layout, alignment and ownership guarantees are System's own.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `layout` are passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` (every allocation goes through this wrapper)
        // with `layout`; the caller's guarantees are passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`, as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_training_step_allocates_nothing_after_the_first() {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let (images, labels) = support::random_data(16, 1);
    let batch = 8;
    let image_values = batch * support::IMAGE;
    pool.install(|| {
        let mut trainer = support::Trainer::new();
        let first = trainer.step(&images[..image_values], &labels[..batch]);
        assert!(first.is_finite());
        // The first step sized every buffer; a second one warms up the rayon workers' deques.
        trainer.step(&images[image_values..], &labels[batch..]);
        let before = ALLOCATIONS.load(Ordering::SeqCst);
        let mut losses = [0.0f32; 4];
        for (i, loss) in losses.iter_mut().enumerate() {
            let at = i % 2;
            *loss = trainer.step(
                &images[at * image_values..][..image_values],
                &labels[at * batch..][..batch],
            );
        }
        let after = ALLOCATIONS.load(Ordering::SeqCst);
        assert_eq!(after - before, 0, "allocations in 4 training steps");
        // The steps did train: the loss on the same batch went down.
        assert!(losses[2] < losses[0], "losses {losses:?}");
        // The counter does count: a fresh vector is one allocation.
        let v = std::hint::black_box(vec![1u8; 10]);
        assert!(ALLOCATIONS.load(Ordering::SeqCst) > after);
        drop(v);
    });
}
