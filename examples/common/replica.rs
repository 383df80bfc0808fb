//! [`Replica`]: which copy of a data-parallel run this process is, and how it exchanges
//! gradients with the others ([`ReplicaSync`]). A single process is replica 0 of 1 with no
//! exchange.

use super::AppError;
use constnet::train::GradientSync;

/// A program's gradient exchange: the training loop's [`GradientSync`] plus what the program
/// reports and checks around it. `Send`, as the run moves into its thread pool.
pub trait ReplicaSync: GradientSync + Send {
    /// Wall time spent in all-reduces so far, in seconds (waiting for slower replicas included).
    fn reduce_seconds(&self) -> f64;
    /// Fails on the replicas whose `value` differs from replica 0's; `what` names it.
    /// Collective: every replica calls it.
    fn check_same(&mut self, value: u64, what: &str) -> Result<(), AppError>;
}

/// This process's place in a run.
pub struct Replica<'a> {
    /// This replica's index, from 0. Replica 0 prints and writes the files; the others are
    /// silent and write nothing.
    pub rank: usize,
    /// How many replicas train together.
    pub ranks: usize,
    /// How many replicas run on this machine (they share its cores).
    pub local_ranks: usize,
    /// The exchange; `None` for a single process.
    pub sync: Option<&'a mut dyn ReplicaSync>,
}

impl Replica<'_> {
    /// A process training alone.
    pub fn single() -> Replica<'static> {
        Replica {
            rank: 0,
            ranks: 1,
            local_ranks: 1,
            sync: None,
        }
    }

    /// Whether this replica prints and writes files (replica 0).
    pub fn leads(&self) -> bool {
        self.rank == 0
    }
}

/// FNV-1a, 64 bits: a fingerprint of the options and data, so that replicas started unlike
/// each other stop at once instead of training apart.
#[derive(Debug, Clone, Copy)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    /// Adds `bytes`.
    pub fn add(&mut self, bytes: &[u8]) -> &mut Self {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Adds the bits of `values` (a word at a time: a whole training set takes well under a
    /// second).
    pub fn add_f32s(&mut self, values: &[f32]) -> &mut Self {
        for v in values {
            self.0 = (self.0 ^ u64::from(v.to_bits())).wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// Adds `values`.
    pub fn add_usizes(&mut self, values: &[usize]) -> &mut Self {
        for v in values {
            self.add(&(*v as u64).to_le_bytes());
        }
        self
    }

    /// The fingerprint.
    pub fn value(&self) -> u64 {
        self.0
    }
}
