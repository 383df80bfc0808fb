//! The `small_cnn` program as a library: the seed notebook's whole job in one call.
//!
//! [`run`] takes validated [`RunOptions`] (the command line of SPEC.md section 5), loads
//! CIFAR-100 or the synthetic data set, trains [`SmallCnn`] or [`SmallCnnBn`], and writes every
//! file of the run (`metrics.json`, the pictures, `confusion.csv`, `model.safetensors`,
//! `report.html`) into [`RunOptions::out`]. The `small_cnn` example is argument parsing around
//! it; tests call it in-process on a tiny synthetic set.
//!
//! ```no_run
//! use constnet::app::{RunOptions, run};
//! let options = RunOptions { epochs: 1, synthetic: true, ..RunOptions::default() };
//! options.validate()?;
//! let outcome = run(&options)?;
//! println!("test accuracy {:.3}", outcome.metrics.test_acc);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod metrics;
mod options;
mod run;

pub use crate::models::{FirstConv, SmallCnn, SmallCnnBn};
pub use error::AppError;
pub use metrics::Metrics;
pub use options::{Model, OptionError, RunOptions};
pub use run::{RunOutcome, run};
