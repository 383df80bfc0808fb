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
/// bits.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_values_once() {
        for (len, ranks) in [(10, 3), (2, 5), (176_000, 16), (0, 4), (7, 1)] {
            let ranges: Vec<_> = (0..ranks).map(|c| chunk_range(len, ranks, c)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[ranks - 1].end, len);
            for w in ranges.windows(2) {
                assert_eq!(w[0].end, w[1].start);
            }
            let lengths: Vec<usize> = ranges.iter().map(|r| r.len()).collect();
            let (min, max) = (lengths.iter().min(), lengths.iter().max());
            assert!(max.zip(min).is_some_and(|(a, b)| a - b <= 1), "{lengths:?}");
        }
        assert_eq!(chunk_range(10, 3, 1), 3..6);
    }

    #[test]
    fn a_rank_receives_what_its_left_neighbour_sends() {
        for ranks in 2..7 {
            for step in 0..ranks - 1 {
                for r in 0..ranks {
                    let left = (r + ranks - 1) % ranks;
                    assert_eq!(
                        reduce_scatter_step(r, ranks, step).receive,
                        reduce_scatter_step(left, ranks, step).send
                    );
                    assert_eq!(
                        all_gather_step(r, ranks, step).receive,
                        all_gather_step(left, ranks, step).send
                    );
                }
            }
        }
    }

    /// Values whose float sum depends on the order: 1e8 + 1 - 1e8 is 0 or 1.
    #[test]
    fn every_replica_gets_the_sum_in_the_fixed_ring_order() {
        let ranks = 4;
        let len = 9;
        let value = |r: usize, i: usize| -> f32 {
            match (r + i) % 4 {
                0 => 1e8,
                1 => 1.0,
                2 => -1e8,
                _ => 0.5 + i as f32,
            }
        };
        let mut replicas: Vec<Vec<f32>> = (0..ranks)
            .map(|r| (0..len).map(|i| value(r, i)).collect())
            .collect();
        simulate(&mut replicas);
        for i in 0..len {
            // The chunk holding i starts its sum at rank c and goes round the ring.
            let c = (0..ranks)
                .find(|&c| chunk_range(len, ranks, c).contains(&i))
                .unwrap_or(0);
            let mut expected = value(c, i);
            for k in 1..ranks {
                expected += value((c + k) % ranks, i);
            }
            for replica in &replicas {
                assert_eq!(replica[i].to_bits(), expected.to_bits(), "value {i}");
            }
        }
        // The order matters for these values: a plain rank-order sum differs somewhere.
        let rank_order: Vec<f32> = (0..len)
            .map(|i| (0..ranks).fold(0.0f32, |s, r| s + value(r, i)))
            .collect();
        assert_ne!(replicas[0], rank_order);
    }

    #[test]
    fn one_rank_is_left_alone_and_sums_are_exact_for_integers() {
        let mut one = vec![vec![1.5f64, -2.0]];
        simulate(&mut one);
        assert_eq!(one, vec![vec![1.5, -2.0]]);
        let mut replicas: Vec<Vec<f64>> = (0..5)
            .map(|r| vec![r as f64, 10.0 * r as f64, 1.0])
            .collect();
        simulate(&mut replicas);
        for replica in &replicas {
            assert_eq!(replica, &vec![10.0, 100.0, 5.0]);
        }
    }
}
