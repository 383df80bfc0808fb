//! The fixed schedule of the ring all-reduce: which chunk each rank sends and receives at each
//! step, and an in-memory run of the whole schedule (the tests check the arithmetic order on it
//! without MPI).
//!
//! The values are cut into `ranks` chunks of nearly equal length ([`chunk_range`]). The
//! reduce-scatter phase takes `ranks - 1` steps: at step `s`, rank `r` sends chunk
//! `(r - s) mod ranks` to rank `r + 1` and receives chunk `(r - s - 1) mod ranks` from rank
//! `r - 1`, adding its own values to what it received (`received + own`). So chunk `c` is summed
//! in one fixed order, `((v[c] + v[c+1]) + v[c+2]) + ...` around the ring, however fast each rank
//! is, and rank `r` ends with the complete sum of chunk `(r + 1) mod ranks`. The all-gather
//! phase (`ranks - 1` more steps) passes those finished chunks around the ring unchanged, so
//! every rank ends with the same bits.

use std::ops::{Add, Range};

/// The index range of chunk `chunk` when `len` values are cut into `ranks` chunks: chunk `c` is
/// `c * len / ranks .. (c + 1) * len / ranks` (lengths differ by at most one; some are empty
/// when `len < ranks`).
pub fn chunk_range(len: usize, ranks: usize, chunk: usize) -> Range<usize> {
    // u128 so that `chunk * len` cannot overflow.
    let at = |c: usize| ((c as u128 * len as u128) / ranks as u128) as usize;
    at(chunk)..at(chunk + 1)
}

/// One step of the ring: the chunk this rank sends to its right neighbour and the chunk it
/// receives from its left neighbour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingStep {
    /// The chunk sent to rank `rank + 1`.
    pub send: usize,
    /// The chunk received from rank `rank - 1`.
    pub receive: usize,
}

/// Step `step` (from 0 to `ranks - 2`) of the reduce-scatter phase for `rank`: the received
/// chunk is added to (`received + own`).
pub fn reduce_scatter_step(rank: usize, ranks: usize, step: usize) -> RingStep {
    RingStep {
        send: (rank + ranks - step % ranks) % ranks,
        receive: (rank + 2 * ranks - step % ranks - 1) % ranks,
    }
}

/// Step `step` (from 0 to `ranks - 2`) of the all-gather phase for `rank`: the received chunk
/// replaces this rank's own.
pub fn all_gather_step(rank: usize, ranks: usize, step: usize) -> RingStep {
    RingStep {
        send: (rank + 1 + ranks - step % ranks) % ranks,
        receive: (rank + ranks - step % ranks) % ranks,
    }
}

/// Runs the whole schedule on `replicas` (one vector per rank, all of one length) in memory,
/// exactly as the MPI ranks do; afterwards every replica holds the element-wise sum. The
/// tests use it to check the order of the additions and that every replica gets the same
/// bits. (The schedule's tests are in `tests/distributed.rs`, beside the MPI runs.)
pub fn simulate<T: Copy + Add<Output = T>>(replicas: &mut [Vec<T>]) {
    let ranks = replicas.len();
    let Some(len) = replicas.first().map(Vec::len) else {
        return;
    };
    for step in 0..ranks.saturating_sub(1) {
        // Every rank sends before any receives: take the messages first.
        let messages: Vec<Vec<T>> = (0..ranks)
            .map(|r| {
                replicas[r][chunk_range(len, ranks, reduce_scatter_step(r, ranks, step).send)]
                    .to_vec()
            })
            .collect();
        for (r, replica) in replicas.iter_mut().enumerate() {
            let left = (r + ranks - 1) % ranks;
            let range = chunk_range(len, ranks, reduce_scatter_step(r, ranks, step).receive);
            for (own, &received) in replica[range].iter_mut().zip(&messages[left]) {
                *own = received + *own;
            }
        }
    }
    for step in 0..ranks.saturating_sub(1) {
        let messages: Vec<Vec<T>> = (0..ranks)
            .map(|r| {
                replicas[r][chunk_range(len, ranks, all_gather_step(r, ranks, step).send)].to_vec()
            })
            .collect();
        for (r, replica) in replicas.iter_mut().enumerate() {
            let left = (r + ranks - 1) % ranks;
            let range = chunk_range(len, ranks, all_gather_step(r, ranks, step).receive);
            replica[range].copy_from_slice(&messages[left]);
        }
    }
}
