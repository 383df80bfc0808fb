//! The command-line options `small_cnn` and `train` share ([`TrainArgs`], flattened into each
//! program's own clap parser), the parsing into [`RunOptions`] ([`parse_with`]) and the end of
//! `main` ([`finish`]).

use super::{Model, RunOptions, ScheduleName, run};
use clap::{Args, Parser};
use constnet::train::{Keep, OptimizerKind, Regularization};
use std::ffi::OsString;
use std::path::PathBuf;

/// The options of the training run itself, the same in both programs (`examples/README.md`
/// lists them).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Passes over the training data
    #[arg(long, value_name = "N", default_value_t = 5)]
    epochs: usize,
    /// Images per mini-batch
    #[arg(long, value_name = "N", default_value_t = 10)]
    batch_size: usize,
    /// sgd, momentum, nesterov, rmsprop, adam or adamw
    #[arg(long, value_name = "NAME", default_value = "adam")]
    optimizer: OptimizerKind,
    /// Decoupled weight decay of adamw [default: 0.01]
    #[arg(long, value_name = "F")]
    weight_decay: Option<f64>,
    /// Learning-rate schedule: step (x--lr-decay every --lr-decay-every epochs) or cosine
    /// (linear warm-up, then cosine to 0)
    #[arg(long, value_name = "NAME", default_value = "step")]
    schedule: ScheduleName,
    /// Epochs of linear warm-up of the cosine schedule
    #[arg(long, value_name = "N", default_value_t = 0)]
    warmup_epochs: usize,
    /// Label smoothing of the cross-entropy loss, in [0, 1]
    #[arg(long, value_name = "F", default_value_t = 0.0)]
    label_smoothing: f64,
    /// Clip the gradients' global L2 norm to F [default: no clipping]
    #[arg(long, value_name = "F")]
    clip_grad_norm: Option<f64>,
    /// Parameters the run ends with: best (validation) or last (epoch)
    #[arg(long, value_name = "WHICH", default_value = "best")]
    keep: Keep,
    /// Continue the run saved in FILE (a run's last.safetensors) up to --epochs
    #[arg(long, value_name = "FILE", conflicts_with = "init")]
    resume: Option<PathBuf>,
    /// Learning rate
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value_t = 0.001
    )]
    lr: f64,
    /// Factor applied to the learning rate after every --lr-decay-every epochs
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value_t = 0.95
    )]
    lr_decay: f64,
    /// Epochs between learning-rate decays
    #[arg(long, value_name = "N", default_value_t = 10)]
    lr_decay_every: usize,
    /// none, l1 or l2 (weights only)
    #[arg(long, value_name = "NAME", default_value = "none")]
    regularization: Regularization,
    /// Strength of the regularization
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value_t = 0.01
    )]
    reg_lambda: f64,
    /// Seed of the initialisation, shuffling, augmentation and label noise
    #[arg(long, value_name = "N", default_value_t = 123)]
    seed: u64,
    /// Worker threads [default: all cores]
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Use only the first N training images
    #[arg(long, value_name = "N")]
    limit_train: Option<usize>,
    /// Fraction of training labels replaced by a uniformly drawn other class, in [0, 1)
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "F",
        default_value_t = 0.0
    )]
    label_noise: f64,
    /// Augment the training batches: random crop with 4 pixels of zero padding and horizontal
    /// flip (seeded)
    #[arg(long)]
    augment: bool,
    /// Start from the parameters in this safetensors file
    #[arg(long, value_name = "FILE")]
    init: Option<PathBuf>,
    /// Start from a PyTorch state_dict in this safetensors file (safetensors.torch.save_file)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["init", "resume"])]
    init_torch: Option<PathBuf>,
    /// Also write the final parameters to FILE as a PyTorch state_dict (safetensors)
    #[arg(long, value_name = "FILE")]
    export_torch: Option<PathBuf>,
    /// Mini-batches in data-set order
    #[arg(long)]
    no_shuffle: bool,
    /// Train data-parallel over the ranks of an MPI job (mpirun -np N PROGRAM --distributed);
    /// --batch-size is the global batch. Needs a build with the `distributed` feature
    #[arg(long)]
    distributed: bool,
    /// With --distributed: stop the whole job when one all-reduce waits longer than this
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0)]
    sync_timeout: f64,
}

impl TrainArgs {
    /// Run options with these values; the program's own options (data, model, output folder)
    /// are set by the caller, the rest keep [`RunOptions::default`]'s values.
    pub fn into_options(self, network: Model, out: PathBuf) -> RunOptions {
        RunOptions {
            epochs: self.epochs,
            batch_size: self.batch_size,
            optimizer: self.optimizer,
            weight_decay: self.weight_decay,
            schedule: self.schedule,
            warmup_epochs: self.warmup_epochs,
            label_smoothing: self.label_smoothing,
            clip_grad_norm: self.clip_grad_norm,
            keep: self.keep,
            resume: self.resume,
            lr: self.lr,
            lr_decay: self.lr_decay,
            lr_decay_every: self.lr_decay_every,
            regularization: self.regularization,
            reg_lambda: self.reg_lambda,
            seed: self.seed,
            threads: self.threads,
            limit_train: self.limit_train,
            label_noise: self.label_noise,
            augment: self.augment,
            network,
            init: self.init,
            init_torch: self.init_torch,
            export_torch: self.export_torch,
            shuffle: !self.no_shuffle,
            out,
            distributed: self.distributed,
            sync_timeout: self.sync_timeout,
            ..RunOptions::default()
        }
    }
}

/// What the command line asks for: a run, or an exit with this message and status (`--help`
/// and `--version` exit 0; bad options or values exit 2 with a one-line `error: ...`).
pub enum Parsed {
    /// Run with these (validated) options.
    Run(Box<RunOptions>),
    /// Print `message` (on stdout for status 0, stderr otherwise) and exit with `code`.
    Exit {
        /// The text to print.
        message: String,
        /// The exit status.
        code: u8,
    },
}

/// Parses `args` (the program's name first) with the program's parser `C`, turns them into
/// [`RunOptions`] with `into_options` and validates them.
pub fn parse_with<C, I, T>(args: I, into_options: impl FnOnce(C) -> RunOptions) -> Parsed
where
    C: Parser,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    match C::try_parse_from(args) {
        Ok(cli) => {
            let options = into_options(cli);
            match options.validate() {
                Ok(()) => Parsed::Run(Box::new(options)),
                Err(e) => Parsed::Exit {
                    message: format!("error: {e}"),
                    code: e.exit_code(),
                },
            }
        }
        Err(e) if !e.use_stderr() => Parsed::Exit {
            // --help or --version: clap's full text, exit 0.
            message: e.to_string(),
            code: 0,
        },
        Err(e) => Parsed::Exit {
            // clap's first line is `error: ...`; the rest is usage and tips.
            message: e.to_string().lines().next().unwrap_or("error").to_string(),
            code: u8::try_from(e.exit_code()).unwrap_or(2),
        },
    }
}

/// The rest of a program's `main` after parsing: runs, and prints the one-line error of a
/// failed run (or the parser's message). Returns the exit status.
pub fn finish(parsed: Parsed) -> u8 {
    let options = match parsed {
        Parsed::Run(options) => options,
        Parsed::Exit { message, code: 0 } => {
            print!("{message}");
            return 0;
        }
        Parsed::Exit { message, code } => {
            eprintln!("{message}");
            return code;
        }
    };
    match run(&options) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
