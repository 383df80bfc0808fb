//! `kernels::on_pool` on a two-thread pool: while its closure runs, the other thread spins for
//! work instead of sleeping; these tests check that the work is still done once and right, that
//! the spinning ends (a panic inside reaches the caller instead of hanging the pool), and that
//! nested and concurrent calls finish.

use constnet::kernels::on_pool;
use rayon::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The global pool with two threads, whatever the machine has (once per test process).
fn two_threads() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build_global()
            .expect("the global pool is built only here");
    });
    assert_eq!(rayon::current_num_threads(), 2);
}

#[test]
fn parallel_loops_inside_run_on_both_threads_and_give_the_right_sums() {
    two_threads();
    let threads_seen = Mutex::new([0usize; 2]);
    for round in 0..200u64 {
        let sum: u64 = on_pool(|| {
            // Several loops per call, with sequential work between them, as in a training step.
            let mut total = 0;
            for lap in 0..5u64 {
                total += (0..10_000usize)
                    .into_par_iter()
                    .with_min_len(5_000)
                    .map(|i| {
                        if i % 5_000 == 0 {
                            let index = rayon::current_thread_index().expect("a pool thread");
                            threads_seen.lock().expect("no panics")[index] += 1;
                        }
                        i as u64 * (round + lap)
                    })
                    .sum::<u64>();
            }
            total
        });
        let expected: u64 = (0..5u64).map(|lap| 49_995_000 * (round + lap)).sum();
        assert_eq!(sum, expected, "round {round}");
    }
    let seen = threads_seen.into_inner().expect("no panics");
    assert_eq!(
        seen.iter().sum::<usize>(),
        200 * 5 * 2,
        "every chunk ran once"
    );
    assert!(
        seen[0] > 0 && seen[1] > 0,
        "both threads took chunks: {seen:?}"
    );
}

#[test]
fn a_panic_inside_reaches_the_caller_and_the_pool_goes_on() {
    two_threads();
    let result = std::panic::catch_unwind(|| {
        on_pool(|| {
            let sum: u64 = (0..1_000u64).into_par_iter().sum();
            if sum > 0 {
                panic!("inside on_pool");
            }
            sum
        })
    });
    let message = result.expect_err("the panic comes out of on_pool");
    assert_eq!(message.downcast_ref::<&str>(), Some(&"inside on_pool"));
    assert_eq!(on_pool(|| (1..=100u64).into_par_iter().sum::<u64>()), 5050);
}

#[test]
fn nested_and_concurrent_calls_finish() {
    two_threads();
    let calls = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..50 {
                    let inner = on_pool(|| on_pool(|| (0..1_000u64).into_par_iter().sum::<u64>()));
                    assert_eq!(inner, 499_500);
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert_eq!(calls.into_inner(), 150);
}
