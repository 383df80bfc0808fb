//! The notebook's whole job as one command: train SmallCnn on CIFAR-100's 20 superclasses
//! (or the built-in synthetic set), then write curves, filters, feature maps, samples, the
//! confusion matrix, `metrics.json`, the best parameters and an HTML report.
//!
//! ```text
//! cargo run --release --example small_cnn -- [OPTIONS]
//! ```
//!
//! The options and files are listed in `examples/README.md`; the work is `common::run`.

use clap::Parser;
#[allow(dead_code, unused_imports)]
pub mod common;

pub use common::Parsed;
use common::{Model, Program, RunOptions, TrainArgs};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train the notebook's small CNN and write a report of the run.
#[derive(Debug, Parser)]
// Negative numbers are values, not options, so that `--lr -1` (or `-1e-3`, hence
// `allow_hyphen_values` on the float options) reaches the range check and its message.
#[command(name = "small_cnn", version, allow_negative_numbers = true)]
struct Cli {
    /// Folder holding CIFAR-100's train.mat and test.mat [default: data/cifar100, or the
    /// synthetic set with a notice when it has no train.mat]
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Use the built-in synthetic data set
    #[arg(long, conflicts_with = "data")]
    synthetic: bool,
    /// The network: small-cnn (the notebook's), small-cnn-bn (BatchNorm after each convolution)
    /// or resnet20
    #[arg(long, value_name = "NAME", default_value = "small-cnn")]
    model: Model,
    /// Train SmallCnnBn (the same as --model small-cnn-bn)
    #[arg(long)]
    batchnorm: bool,
    /// Where the run's files go
    #[arg(long, value_name = "DIR", default_value = "runs/small_cnn")]
    out: PathBuf,
    #[command(flatten)]
    train: TrainArgs,
}

impl Cli {
    fn into_options(self) -> RunOptions {
        RunOptions {
            program: Program::SmallCnn,
            data: self.data,
            synthetic: self.synthetic,
            batchnorm: self.batchnorm,
            ..self.train.into_options(self.model, self.out)
        }
    }
}

/// Parses the `small_cnn` command line (`args` starts with the program's name).
pub fn parse<I, T>(args: I) -> Parsed
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    common::parse_with(args, Cli::into_options)
}

fn main() -> ExitCode {
    ExitCode::from(common::finish(parse(std::env::args_os())))
}
