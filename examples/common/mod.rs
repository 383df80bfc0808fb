//! The programs' shared code (not part of the library): a whole training run in one call.
//!
//! Every example pulls this in with `mod common;`; integration tests with
//! `#[path = "../examples/common/mod.rs"] mod common;`. Not every program uses every item.
//!
//! [`run`] takes validated [`RunOptions`] (the `small_cnn` or `train` command line, see
//! `examples/README.md`), loads the data (CIFAR-100 or the synthetic set for `small_cnn`, any
//! supported format for `train`) in the model's input shape, trains the model, and writes every
//! file of the run (`metrics.json`, the pictures, `confusion.csv`, `model.safetensors`,
//! `report.html`) into [`RunOptions::out`]. The two examples are argument parsing around it
//! ([`TrainArgs`] holds the options they share); tests call it in-process on tiny data sets.
//!

mod cli;
#[cfg(feature = "distributed")]
mod distributed;
mod error;
mod metrics;
mod options;
mod progress;
mod replica;
mod run;

pub use cli::{Parsed, TrainArgs, finish, parse_with};
pub use constnet::models::{SmallCnn, SmallCnnBn};
pub use error::AppError;
pub use metrics::{EpochRecord, Metrics};
pub use options::{Model, OptionError, Program, RunOptions, ScheduleName};
pub use progress::Progress;
pub use replica::{Fingerprint, Replica, ReplicaSync};
pub use run::{RunOutcome, run, run_with};
