//! The programs' shared code (not part of the library): the notebook's whole job in one call.
//!
//! Every example pulls this in with `mod common;`; integration tests with
//! `#[path = "../examples/common/mod.rs"] mod common;`. Not every program uses every item.
//!
//! [`run`] takes validated [`RunOptions`] (the `small_cnn` command line, see `examples/README.md`), loads
//! CIFAR-100 or the synthetic data set, trains [`SmallCnn`] or [`SmallCnnBn`], and writes every
//! file of the run (`metrics.json`, the pictures, `confusion.csv`, `model.safetensors`,
//! `report.html`) into [`RunOptions::out`]. The `small_cnn` example is argument parsing around
//! it; tests call it in-process on a tiny synthetic set.
//!

#[cfg(feature = "distributed")]
mod distributed;
mod error;
mod metrics;
mod options;
mod progress;
mod replica;
mod run;

pub use constnet::models::{SmallCnn, SmallCnnBn};
pub use error::AppError;
pub use metrics::{EpochRecord, Metrics};
pub use options::{Model, OptionError, RunOptions, ScheduleName};
pub use progress::Progress;
pub use replica::{Fingerprint, Replica, ReplicaSync};
pub use run::{RunOutcome, run, run_with};
