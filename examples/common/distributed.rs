//! `--distributed`: a run as one rank of an MPI job (the `distributed` feature).
//!
//! [`run_distributed`] starts MPI, runs [`run_with`](super::run::run_with) as replica `rank` of
//! `ranks`, and on any error prints it (with the rank) on stderr and stops the whole job with
//! `MPI_Abort`, so that no other rank waits for ever. A watchdog thread stops the job too when
//! one all-reduce waits longer than `--sync-timeout` (a peer that is stuck rather than dead;
//! a dead peer makes `mpirun` end the job by itself).
//!
//! Test hook (for the fault tests only): a rank started with the environment variable
//! `CONSTNET_TEST_FAULT=nan-data` replaces its training images by NaN after the ranks have
//! checked that their data agree, so that its loss becomes NaN at its first step.

use super::replica::{Replica, ReplicaSync};
use super::{AppError, RunOutcome};
use constnet::distributed::{MpiSync, abort_world};
use constnet::train::{GradientSync, SyncError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The environment variable of the fault-test hook (see the module docs).
pub const FAULT_ENV: &str = "CONSTNET_TEST_FAULT";

/// Runs `options` as one rank of the MPI job this process belongs to (a job of one rank when
/// started without `mpirun`). Returns only on success or on a one-rank job's error; a failing
/// rank of a larger job stops the job and exits with the error's exit code.
pub fn run_distributed(options: &super::RunOptions) -> Result<RunOutcome, AppError> {
    let mpi = MpiSync::init().map_err(|e| AppError::Distributed(e.to_string()))?;
    let (rank, ranks) = (mpi.rank(), mpi.ranks());
    let timeout = Duration::from_secs_f64(options.sync_timeout);
    let mut sync = Watched::new(mpi, timeout);
    let replica = Replica {
        rank,
        ranks,
        local_ranks: local_ranks(),
        sync: Some(&mut sync),
    };
    match super::run::run_with(options, replica) {
        Ok(outcome) => Ok(outcome),
        Err(e) if ranks > 1 => {
            eprintln!("error (rank {rank} of {ranks}): {e}");
            sync.mpi.abort(i32::from(e.exit_code()))
        }
        Err(e) => Err(e),
    }
}

/// Ranks of the job on this machine, from the launcher's environment (Open MPI, MPICH); 1 when
/// unknown.
fn local_ranks() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|name| std::env::var(name).ok()?.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1)
}

/// [`MpiSync`] with a watchdog: a thread that stops the job when an all-reduce lasts longer
/// than the timeout.
struct Watched {
    mpi: MpiSync,
    /// Milliseconds since `epoch` + 1 at which the current all-reduce started; 0 when none runs.
    busy_since: Arc<AtomicU64>,
    epoch: Instant,
}

impl Watched {
    fn new(mpi: MpiSync, timeout: Duration) -> Watched {
        let busy_since = Arc::new(AtomicU64::new(0));
        let epoch = Instant::now();
        let watched = Arc::clone(&busy_since);
        let rank = mpi.rank();
        let check_every = (timeout / 10).clamp(Duration::from_millis(50), Duration::from_secs(1));
        // The thread runs until the process ends.
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(check_every);
                let since = watched.load(Ordering::Relaxed);
                if since == 0 {
                    continue;
                }
                let now = epoch.elapsed().as_millis() as u64 + 1;
                if Duration::from_millis(now.saturating_sub(since)) > timeout {
                    eprintln!(
                        "error (rank {rank}): an all-reduce has waited more than {:.0} s \
                         (--sync-timeout) for the other ranks; stopping the job",
                        timeout.as_secs_f64()
                    );
                    abort_world(1);
                }
            }
        });
        Watched {
            mpi,
            busy_since,
            epoch,
        }
    }

    fn watch<R>(&mut self, f: impl FnOnce(&mut MpiSync) -> R) -> R {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        self.busy_since.store(now, Ordering::Relaxed);
        let result = f(&mut self.mpi);
        self.busy_since.store(0, Ordering::Relaxed);
        result
    }
}

impl GradientSync for Watched {
    fn rank(&self) -> usize {
        self.mpi.rank()
    }

    fn replicas(&self) -> usize {
        self.mpi.ranks()
    }

    fn all_reduce_sum_f32(&mut self, values: &mut [f32]) -> Result<(), SyncError> {
        self.watch(|mpi| mpi.sum_f32(values));
        Ok(())
    }

    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), SyncError> {
        self.watch(|mpi| mpi.sum_f64(values));
        Ok(())
    }
}

impl ReplicaSync for Watched {
    fn reduce_seconds(&self) -> f64 {
        self.mpi.reduce_time().as_secs_f64()
    }

    fn check_same(&mut self, value: u64, what: &str) -> Result<(), AppError> {
        self.watch(|mpi| mpi.check_same(value, what))
            .map_err(|e| AppError::Distributed(e.to_string()))
    }
}

/// Whether this rank was asked, for a fault test, to poison its training data.
pub fn fault_nan_data() -> bool {
    std::env::var(FAULT_ENV).is_ok_and(|v| v == "nan-data")
}
