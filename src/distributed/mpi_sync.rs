//! [`MpiSync`]: MPI's world communicator as a gradient all-reduce with a fixed summation order.

use super::ring::{all_gather_step, chunk_range, reduce_scatter_step};
use mpi::Threading;
use mpi::datatype::Equivalence;
use mpi::environment::Universe;
use mpi::point_to_point::send_receive_into_with_tags;
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::traits::Root;
use std::ops::Add;
use std::time::{Duration, Instant};

/// Tag of the reduce-scatter messages.
const TAG_REDUCE: i32 = 11;
/// Tag of the all-gather messages.
const TAG_GATHER: i32 = 12;

/// MPI could not be started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DistributedError {
    /// `MPI_Init_thread` was already called in this process (MPI starts once per process).
    #[error("MPI is already initialised in this process")]
    AlreadyInitialized,
    /// The MPI library cannot be called from several threads, which the training loop needs
    /// (its steps run on a worker thread).
    #[error(
        "the MPI library offers thread support {provided}, but constnet needs at least \
         MPI_THREAD_SERIALIZED (an Open MPI built with thread support)"
    )]
    Threading {
        /// What the library provided.
        provided: String,
    },
    /// The ranks were not started alike: a value differs from rank 0's.
    #[error(
        "rank {rank} differs from rank 0 in {what}: start every rank with the same options and data"
    )]
    Mismatch {
        /// The rank that differs.
        rank: usize,
        /// What differs.
        what: String,
    },
}

/// The MPI world as the training loop's all-reduce. Creating one initialises MPI
/// ([`MpiSync::init`]); dropping it finalises MPI (call it once per process, and drop it at the
/// end of `main`'s work). Every rank must make the same calls in the same order.
///
/// The sums use a ring all-reduce over point-to-point messages with a fixed schedule (see the
/// [module docs](super) for why not `MPI_Allreduce`): the same ranks and inputs give the same
/// bits on every rank and in every run.
pub struct MpiSync {
    world: SimpleCommunicator,
    rank: usize,
    ranks: usize,
    scratch_f32: Vec<f32>,
    scratch_f64: Vec<f64>,
    reduce_time: Duration,
    reduce_calls: u64,
    // Last, so MPI is finalised after the communicator handle is gone.
    _universe: Universe,
}

// SAFETY: MPI handles are plain values that any thread may pass to MPI once the library
// allows calls from several threads: `MpiSync::init` refuses a library below
// MPI_THREAD_SERIALIZED, and every MPI call of an `MpiSync` goes through `&mut self` (or
// `&self` for `abort`, which ends the process), so no two threads call MPI through one
// `MpiSync` at once. The distributed tests run the all-reduce on a thread-pool thread while
// MPI was initialised on the main thread.
unsafe impl Send for MpiSync {}

impl std::fmt::Debug for MpiSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiSync")
            .field("rank", &self.rank)
            .field("ranks", &self.ranks)
            .field("reduce_calls", &self.reduce_calls)
            .finish_non_exhaustive()
    }
}

impl MpiSync {
    /// Initialises MPI (`MPI_Init_thread`, asking for `MPI_THREAD_MULTIPLE` so that a watchdog
    /// thread may call [`abort_world`]; `MPI_THREAD_SERIALIZED` is enough for training) and
    /// takes the world communicator. Run without `mpirun`, it is a world of one rank.
    pub fn init() -> Result<MpiSync, DistributedError> {
        let (universe, provided) = mpi::initialize_with_threading(Threading::Multiple)
            .ok_or(DistributedError::AlreadyInitialized)?;
        if !matches!(provided, Threading::Serialized | Threading::Multiple) {
            return Err(DistributedError::Threading {
                provided: format!("{provided:?}"),
            });
        }
        let world = universe.world();
        // Ranks and sizes are never negative.
        let rank = usize::try_from(world.rank()).unwrap_or(0);
        let ranks = usize::try_from(world.size()).unwrap_or(1).max(1);
        Ok(MpiSync {
            world,
            rank,
            ranks,
            scratch_f32: Vec::new(),
            scratch_f64: Vec::new(),
            reduce_time: Duration::ZERO,
            reduce_calls: 0,
            _universe: universe,
        })
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn ranks(&self) -> usize {
        self.ranks
    }

    /// Wall time spent in the all-reduces so far (waiting for slower ranks included).
    pub fn reduce_time(&self) -> Duration {
        self.reduce_time
    }

    /// Number of all-reduces so far.
    pub fn reduce_calls(&self) -> u64 {
        self.reduce_calls
    }

    /// Stops every rank of the job (`MPI_Abort` on the world) with exit status `code`; use it
    /// when this rank fails, so that the others do not wait for it for ever.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Checks that every rank has the same `value` as rank 0 (e.g. a fingerprint of the options
    /// and data); `what` names it in the error. Collective: every rank must call it.
    pub fn check_same(&mut self, value: u64, what: &str) -> Result<(), DistributedError> {
        let mut root_value = value;
        self.world
            .process_at_rank(0)
            .broadcast_into(&mut root_value);
        if root_value == value {
            Ok(())
        } else {
            Err(DistributedError::Mismatch {
                rank: self.rank,
                what: what.to_string(),
            })
        }
    }

    /// Element-wise sum of `values` over all ranks, in place, in the ring's fixed order; every
    /// rank ends with the same bits. Collective: every rank must call it with the same length.
    pub fn sum_f32(&mut self, values: &mut [f32]) {
        let started = Instant::now();
        ring_all_reduce(
            &self.world,
            self.rank,
            self.ranks,
            values,
            &mut self.scratch_f32,
        );
        self.record(started);
    }

    /// As [`MpiSync::sum_f32`], for `f64`.
    pub fn sum_f64(&mut self, values: &mut [f64]) {
        let started = Instant::now();
        ring_all_reduce(
            &self.world,
            self.rank,
            self.ranks,
            values,
            &mut self.scratch_f64,
        );
        self.record(started);
    }

    fn record(&mut self, started: Instant) {
        self.reduce_time += started.elapsed();
        self.reduce_calls += 1;
    }
}

/// Stops every rank of the MPI job with exit status `code` (`MPI_Abort` on the world
/// communicator), from any thread: for a watchdog that finds a rank stuck. Needs MPI to be
/// initialised with `MPI_THREAD_MULTIPLE` (as [`MpiSync::init`] asks) when another thread may be
/// inside an MPI call.
pub fn abort_world(code: i32) -> ! {
    SimpleCommunicator::world().abort(code)
}

/// The ring all-reduce of the [`ring`](super::ring) schedule over MPI point-to-point messages
/// (`MPI_Sendrecv`, so that no rank's send waits for its own receive).
fn ring_all_reduce<T>(
    world: &SimpleCommunicator,
    rank: usize,
    ranks: usize,
    values: &mut [T],
    scratch: &mut Vec<T>,
) where
    T: Equivalence + Copy + Default + Add<Output = T>,
{
    if ranks < 2 {
        return;
    }
    let len = values.len();
    let right = world.process_at_rank(to_rank((rank + 1) % ranks));
    let left = world.process_at_rank(to_rank((rank + ranks - 1) % ranks));
    scratch.resize(len.div_ceil(ranks), T::default());
    for step in 0..ranks - 1 {
        let s = reduce_scatter_step(rank, ranks, step);
        let (send, receive) = (
            chunk_range(len, ranks, s.send),
            chunk_range(len, ranks, s.receive),
        );
        let buf = &mut scratch[..receive.len()];
        send_receive_into_with_tags(&values[send], &right, TAG_REDUCE, buf, &left, TAG_REDUCE);
        for (own, &received) in values[receive].iter_mut().zip(buf.iter()) {
            *own = received + *own;
        }
    }
    for step in 0..ranks - 1 {
        let s = all_gather_step(rank, ranks, step);
        let (send, receive) = (
            chunk_range(len, ranks, s.send),
            chunk_range(len, ranks, s.receive),
        );
        let buf = &mut scratch[..receive.len()];
        send_receive_into_with_tags(&values[send], &right, TAG_GATHER, buf, &left, TAG_GATHER);
        values[receive].copy_from_slice(buf);
    }
}

/// A rank index as MPI's `int` (the world has at most `i32::MAX` ranks).
fn to_rank(rank: usize) -> i32 {
    i32::try_from(rank).unwrap_or(i32::MAX)
}
