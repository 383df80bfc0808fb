//! [`AppError`]: why a `small_cnn` or `train` run failed, with the exit code the program should use.

use super::OptionError;
use constnet::data::DataError;
use constnet::plot::PlotError;
use constnet::report::ReportError;
use constnet::torch::TorchError;
use constnet::train::{CheckpointError, SamplesError, TrainError};
use std::path::PathBuf;

/// Why a run failed. Every message is one line; [`AppError::exit_code`] is 2 for bad options
/// and 1 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An option value out of range.
    #[error(transparent)]
    Options(#[from] OptionError),
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// `--init` could not be loaded, or the model could not be saved.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// `--init-torch` could not be loaded, or `--export-torch` written.
    #[error(transparent)]
    Torch(#[from] TorchError),
    /// A weights file given to `--init` or `--init-torch` is of the other option's layout:
    /// the loader's error and the option to use.
    #[error("{source}; {hint}")]
    OtherLayout {
        /// The loader's error.
        source: Box<AppError>,
        /// Which option takes the file.
        hint: &'static str,
    },
    /// Training stopped.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The data does not fit the network.
    #[error(transparent)]
    Samples(#[from] SamplesError),
    /// A picture could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The report could not be written.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A file or folder could not be written: `cannot write metrics.json runs/x/metrics.json:
    /// ...`, `cannot create the output folder (--out) runs/x: ...`.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done (`"write metrics.json"`).
        what: String,
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The global batch cannot be split evenly over the ranks of a `--distributed` run.
    #[error(
        "the global batch size {batch_size} (--batch-size) cannot be split evenly over {ranks} \
         ranks: use a multiple of {ranks}"
    )]
    BatchSplit {
        /// `--batch-size`.
        batch_size: usize,
        /// The ranks of the MPI job.
        ranks: usize,
    },
    /// The network's class count does not fit the data set's: `LeNet5 has 10 outputs, but
    /// image folder (data/x) holds 3 classes`.
    #[error(
        "{model} has {outputs} outputs, but {data} holds {classes} classes (see examples/README.md \
         for the class counts of each model)"
    )]
    ClassCount {
        /// The model's name.
        model: &'static str,
        /// Its output counts (`"10"`, or `"10, 20 or 100"`).
        outputs: String,
        /// The data set, as [`DataSource`](constnet::data::DataSource) displays it.
        data: String,
        /// The data set's classes.
        classes: usize,
    },
    /// MPI could not start, or the ranks disagree (options, data).
    #[error("distributed run: {0}")]
    Distributed(String),
    /// Something the run needs failed (thread pool, confusion matrix, JSON encoding).
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// The process exit code for this error: 2 for a bad option value (as for a usage error),
    /// 1 for anything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            AppError::Options(e) => e.exit_code(),
            AppError::BatchSplit { .. } => 2,
            _ => 1,
        }
    }
}
