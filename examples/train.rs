//! Train a network on your own data: MNIST / Fashion-MNIST IDX files, CIFAR-10 or CIFAR-100
//! (binary or Matlab) files, or a folder of PNG images, then write the same files as
//! `small_cnn` (curves, filters, feature maps, samples, confusion matrix, `metrics.json`, the
//! kept parameters and an HTML report).
//!
//! ```text
//! cargo run --release --example train -- --model lenet5 --data data/mnist
//! cargo run --release --example train -- --model resnet20 --data data/cifar10 --augment
//! ```
//!
//! The options, formats, models and files are listed in `examples/README.md`; the work is
//! `common::run`, shared with `small_cnn`.

use clap::Parser;
#[allow(dead_code, unused_imports)]
pub mod common;

pub use common::Parsed;
use common::{Model, Program, RunOptions, TrainArgs};
use constnet::data::{Cifar100Labels, DataFormat};
use std::path::PathBuf;
use std::process::ExitCode;

/// Train a network on a data set in a folder and write a report of the run.
#[derive(Debug, Parser)]
// Negative numbers are values, not options, so that `--lr -1` reaches the range check.
#[command(name = "train", version, allow_negative_numbers = true)]
struct Cli {
    /// The network: lenet5 (28x28x1, 10 classes), small-cnn or small-cnn-bn (32x32x3, 20
    /// classes), resnet20 (32x32x3, 10, 20 or 100 classes)
    #[arg(long, value_name = "NAME")]
    model: Model,
    /// Folder holding the data set (see data/README.md for each format's layout)
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// mnist, cifar10, cifar100, cifar100-mat or folder [default: told from the files]
    #[arg(long, value_name = "NAME")]
    format: Option<DataFormat>,
    /// CIFAR-100 binary files: coarse (20 superclasses) or fine (100 classes) labels
    #[arg(long, value_name = "WHICH", default_value = "coarse", value_parser = parse_labels)]
    cifar100_labels: Cifar100Labels,
    /// Where the run's files go
    #[arg(long, value_name = "DIR", default_value = "runs/train")]
    out: PathBuf,
    #[command(flatten)]
    train: TrainArgs,
}

/// `coarse` or `fine`.
fn parse_labels(s: &str) -> Result<Cifar100Labels, String> {
    match s {
        "coarse" => Ok(Cifar100Labels::Coarse),
        "fine" => Ok(Cifar100Labels::Fine),
        other => Err(format!(
            "unknown labels '{other}' (expected coarse or fine)"
        )),
    }
}

impl Cli {
    fn into_options(self) -> RunOptions {
        RunOptions {
            program: Program::Train,
            data: Some(self.data),
            format: self.format,
            cifar100_labels: self.cifar100_labels,
            ..self.train.into_options(self.model, self.out)
        }
    }
}

/// Parses the `train` command line (`args` starts with the program's name).
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
