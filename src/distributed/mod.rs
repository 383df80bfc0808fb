//! Data-parallel training over MPI (the `distributed` feature): [`MpiSync`], the training
//! loop's gradient all-reduce over an MPI job's ranks.
//!
//! Every rank holds the whole network and the same data, and visits the same global order of
//! mini-batches (shuffled from the shared seed). Each rank computes the gradients of its slice
//! of every global batch; the gradients are summed across ranks, and every rank takes the same
//! optimiser step, so the replicas stay identical. BatchNorm uses each rank's local batch
//! statistics (as PyTorch's DDP without `SyncBatchNorm`); its running statistics are those of
//! each rank's slices (the copy on rank 0 is the one saved).
//!
//! ```no_run
//! use constnet::distributed::MpiSync;
//! let mut sync = MpiSync::init()?; // MPI_Init; the world communicator
//! let mut grad = vec![1.0f32; 4];
//! sync.sum_f32(&mut grad); // on 2 ranks: [2.0; 4] on both
//! if sync.rank() == 0 { /* only rank 0 writes files */ }
//! # Ok::<(), constnet::distributed::DistributedError>(())
//! // Dropping `sync` finalises MPI.
//! ```
//!
//! ## The same bits every time
//!
//! Float addition is not associative, so a sum over ranks has the bits of its order. The
//! `MPI_Allreduce` of an MPI library does not fix that order: Open MPI's `tuned` component picks
//! among recursive doubling, ring, segmented ring, Rabenseifner and others by message size and
//! communicator size, from tables that differ between versions and can be changed with MCA
//! parameters (`coll_tuned_*`), and other components (`han`, `hcoll`, network offloads) can take
//! over depending on hardware and environment. The MPI standard only advises that a reduction
//! give the same result on every rank. So the bits of a run would depend on the library, its
//! version and settings, not only on the seed and the number of ranks.
//!
//! [`MpiSync`] therefore sums with its own ring all-reduce over point-to-point messages, with a
//! fixed schedule ([`ring`]): the values are cut into one chunk per rank; chunk `c` is summed
//! starting at rank `c` and going round the ring (`((v[c] + v[c+1]) + v[c+2]) + ...`), then the
//! finished chunks are copied around the ring. The order depends only on the number of ranks
//! and the length, never on timing, so the same seed and the same number of ranks give the
//! same bits, and every rank gets the same bits (its replicas stay identical). With 2 ranks
//! the sum is `a + b`, which is also what a single process gets by summing two half-batches.
//! Each rank sends and receives `2 (N - 1) / N` times the values' bytes per all-reduce, the
//! least any all-reduce can (what `MPI_Allreduce`'s ring algorithm also sends).
//!
//! ## Faults
//!
//! MPI's default error handler (`MPI_ERRORS_ARE_FATAL`) ends the job when a message cannot be
//! delivered, and Open MPI's `mpirun` ends every rank when one exits without finalising MPI
//! (killed, crashed, out of memory). A rank whose own work fails (unreadable data, a diverged
//! loss) calls [`MpiSync::abort`] after printing its error, which stops the other ranks
//! instead of leaving them waiting in the next all-reduce.

pub mod mpi_sync;
pub mod ring;

pub use mpi_sync::{DistributedError, MpiSync, abort_world};
