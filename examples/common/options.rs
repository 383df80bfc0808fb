//! [`RunOptions`]: the `small_cnn` and `train` command lines (every option is listed in
//! `examples/README.md`) as a plain struct, and its validation.

use constnet::data::{Cifar100Labels, DataFormat};
use constnet::train::{Keep, OptimizerKind, Regularization};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The learning-rate schedule of `--schedule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScheduleName {
    /// `step`: x`--lr-decay` every `--lr-decay-every` epochs.
    #[default]
    Step,
    /// `cosine`: linear warm-up over `--warmup-epochs`, then cosine to 0 at the last epoch.
    Cosine,
}

impl FromStr for ScheduleName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "step" => Ok(ScheduleName::Step),
            "cosine" => Ok(ScheduleName::Cosine),
            _ => Err(format!("unknown schedule '{s}' (expected step or cosine)")),
        }
    }
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ScheduleName::Step => "step",
            ScheduleName::Cosine => "cosine",
        })
    }
}

/// The program a run belongs to: what it reads and how its files are titled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Program {
    /// `small_cnn`, the notebook's job: CIFAR-100's Matlab files or the synthetic set, 32x32x3
    /// models at 20 classes.
    #[default]
    SmallCnn,
    /// `train`: any supported data format in `--data`, any model whose input shape and class
    /// count fit the data.
    Train,
}

impl Program {
    /// `"small_cnn"` or `"train"`.
    pub fn name(self) -> &'static str {
        match self {
            Program::SmallCnn => "small_cnn",
            Program::Train => "train",
        }
    }
}

/// Which network to train (`--model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Model {
    /// [`LeNet5`](constnet::models::LeNet5), 28x28x1 images, 10 classes: `lenet5` (`train`
    /// only).
    LeNet5,
    /// [`SmallCnn`](super::SmallCnn): `small-cnn`.
    #[default]
    SmallCnn,
    /// [`SmallCnnBn`](super::SmallCnnBn): `small-cnn-bn` (or `--batchnorm`).
    SmallCnnBn,
    /// [`ResNet20`](constnet::models::ResNet20): `resnet20`, with 20 classes in `small_cnn`
    /// and the data set's 10, 20 or 100 in `train`.
    ResNet20,
}

impl Model {
    /// `"LeNet5"`, `"SmallCnn"`, `"SmallCnnBn"` or `"ResNet20"` (the `model` field of
    /// `metrics.json`).
    pub fn name(self) -> &'static str {
        match self {
            Model::LeNet5 => "LeNet5",
            Model::SmallCnn => "SmallCnn",
            Model::SmallCnnBn => "SmallCnnBn",
            Model::ResNet20 => "ResNet20",
        }
    }
}

impl std::str::FromStr for Model {
    type Err = String;

    /// `lenet5`, `small-cnn`, `small-cnn-bn` or `resnet20`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lenet5" => Ok(Model::LeNet5),
            "small-cnn" => Ok(Model::SmallCnn),
            "small-cnn-bn" => Ok(Model::SmallCnnBn),
            "resnet20" => Ok(Model::ResNet20),
            other => Err(format!(
                "unknown model '{other}' (expected lenet5, small-cnn, small-cnn-bn or resnet20)"
            )),
        }
    }
}

/// The options of a `small_cnn` or `train` run; [`RunOptions::default`] gives `small_cnn`'s
/// documented defaults (`examples/README.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    /// The program: what `data` holds and how the files are titled.
    pub program: Program,
    /// `--data DIR`. `small_cnn`: CIFAR-100's Matlab files; `None` when not given, then
    /// `data/cifar100` is used if it holds `train.mat`, the synthetic data set (with a notice)
    /// otherwise. `train`: any supported format (required).
    pub data: Option<PathBuf>,
    /// `train --format`: the data's format (`None`: told from the files).
    pub format: Option<DataFormat>,
    /// `train --cifar100-labels coarse|fine` (coarse): CIFAR-100 binary files' labels.
    pub cifar100_labels: Cifar100Labels,
    /// `--augment`: random crop (pad 4) and horizontal flip of the training batches.
    pub augment: bool,
    /// `--synthetic`: use the synthetic data set.
    pub synthetic: bool,
    /// Train, validation and test sizes of the synthetic data set (4000, 1000, 1000); not a
    /// command-line option, tests make it small.
    pub synthetic_sizes: [usize; 3],
    /// `--epochs N` (5).
    pub epochs: usize,
    /// `--batch-size N` (10).
    pub batch_size: usize,
    /// `--optimizer` (adam).
    pub optimizer: OptimizerKind,
    /// `--lr F` (0.001).
    pub lr: f64,
    /// `--lr-decay F` (0.95).
    pub lr_decay: f64,
    /// `--lr-decay-every N` (10).
    pub lr_decay_every: usize,
    /// `--weight-decay F`: AdamW's decoupled weight decay (`None`: 0.01); adamw only.
    pub weight_decay: Option<f64>,
    /// `--schedule` (step).
    pub schedule: ScheduleName,
    /// `--warmup-epochs N` (0): linear warm-up of the cosine schedule.
    pub warmup_epochs: usize,
    /// `--label-smoothing F` (0), in [0, 1].
    pub label_smoothing: f64,
    /// `--clip-grad-norm F`: clip the gradients' global norm to F (none by default).
    pub clip_grad_norm: Option<f64>,
    /// `--keep best|last` (best): which epoch's parameters the run ends with.
    pub keep: Keep,
    /// `--resume FILE`: continue the run saved in FILE (an `OUT/last.safetensors`).
    pub resume: Option<PathBuf>,
    /// `--regularization` (none).
    pub regularization: Regularization,
    /// `--reg-lambda F` (0.01).
    pub reg_lambda: f64,
    /// `--seed N` (123): network initialisation, shuffling and label noise.
    pub seed: u64,
    /// `--threads N`: `None` for all cores.
    pub threads: Option<usize>,
    /// `--limit-train N`: use only the first N training images.
    pub limit_train: Option<usize>,
    /// `--label-noise F` (0): fraction of training labels replaced by another class.
    pub label_noise: f64,
    /// `--model NAME` (`small-cnn`): the network to train.
    pub network: Model,
    /// `--batchnorm`: train [`Model::SmallCnnBn`] (a synonym of `--model small-cnn-bn`).
    pub batchnorm: bool,
    /// `--init FILE`: start from a safetensors checkpoint.
    pub init: Option<PathBuf>,
    /// `--init-torch FILE`: start from a PyTorch `state_dict` (safetensors), converted by
    /// `constnet::torch::load_state_dict`.
    pub init_torch: Option<PathBuf>,
    /// `--export-torch FILE`: also write the final parameters as a PyTorch `state_dict`.
    pub export_torch: Option<PathBuf>,
    /// `--no-shuffle` sets this to false.
    pub shuffle: bool,
    /// `--out DIR` (`runs/small_cnn`).
    pub out: PathBuf,
    /// Hide the per-iteration progress bar (the per-epoch lines are still printed).
    pub quiet: bool,
    /// `--distributed`: train data-parallel over the ranks of an MPI job (`mpirun -np N
    /// small_cnn --distributed ...`); needs the `distributed` feature. `batch_size` is then the
    /// global batch, split evenly over the ranks.
    pub distributed: bool,
    /// `--sync-timeout SECONDS` (300): with `--distributed`, a rank that waits longer than this
    /// in one all-reduce (a peer stuck, not dead) stops the whole job.
    pub sync_timeout: f64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            program: Program::SmallCnn,
            data: None,
            format: None,
            cifar100_labels: Cifar100Labels::Coarse,
            augment: false,
            synthetic: false,
            synthetic_sizes: [4000, 1000, 1000],
            epochs: 5,
            batch_size: 10,
            optimizer: OptimizerKind::Adam,
            lr: 0.001,
            lr_decay: 0.95,
            lr_decay_every: 10,
            weight_decay: None,
            schedule: ScheduleName::Step,
            warmup_epochs: 0,
            label_smoothing: 0.0,
            clip_grad_norm: None,
            keep: Keep::Best,
            resume: None,
            regularization: Regularization::None,
            reg_lambda: 0.01,
            seed: 123,
            threads: None,
            limit_train: None,
            label_noise: 0.0,
            network: Model::SmallCnn,
            batchnorm: false,
            init: None,
            init_torch: None,
            export_torch: None,
            shuffle: true,
            out: PathBuf::from("runs/small_cnn"),
            quiet: false,
            distributed: false,
            sync_timeout: 300.0,
        }
    }
}

/// An option value out of range. Its message is one line; the program exits with
/// [`OptionError::exit_code`] (2, as for a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value '{value}' for '{option}': {expected}")]
pub struct OptionError {
    /// The option (`"--epochs"`).
    pub option: &'static str,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub expected: &'static str,
}

impl OptionError {
    /// 2: the exit status of a command-line usage error.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

fn check(
    ok: bool,
    option: &'static str,
    value: impl ToString,
    expected: &'static str,
) -> Result<(), OptionError> {
    if ok {
        Ok(())
    } else {
        Err(OptionError {
            option,
            value: value.to_string(),
            expected,
        })
    }
}

impl RunOptions {
    /// The network these options train.
    pub fn model(&self) -> Model {
        if self.batchnorm {
            Model::SmallCnnBn
        } else {
            self.network
        }
    }

    /// Checks every value's range: epochs, batch size, threads and `--limit-train` at least 1;
    /// learning rate and decay positive and finite; `--reg-lambda` finite and not negative;
    /// `--weight-decay` finite, not negative, and with adamw only; `--warmup-epochs` with the
    /// cosine schedule only and at most `--epochs`; `--label-smoothing` in [0, 1];
    /// `--clip-grad-norm` positive and finite; `--resume` not with `--init`; label noise in
    /// [0, 1); synthetic sizes at least 1.
    ///
    /// For example, `--label-noise 1` gives
    /// `invalid value '1' for '--label-noise': must be in [0, 1)` and exit status 2 (tested in
    /// `tests/small_cnn_cli.rs`).
    pub fn validate(&self) -> Result<(), OptionError> {
        check(
            self.program == Program::Train || self.model() != Model::LeNet5,
            "--model",
            "lenet5",
            "small_cnn trains 32x32x3 networks (lenet5 takes 28x28x1 images: use the train program)",
        )?;
        check(
            self.program == Program::SmallCnn || self.data.is_some(),
            "--data",
            "",
            "the train program needs a data folder",
        )?;
        check(
            self.epochs >= 1,
            "--epochs",
            self.epochs,
            "must be at least 1",
        )?;
        check(
            self.batch_size >= 1,
            "--batch-size",
            self.batch_size,
            "must be at least 1",
        )?;
        check(
            self.lr.is_finite() && self.lr > 0.0,
            "--lr",
            self.lr,
            "must be a positive finite number",
        )?;
        check(
            self.lr_decay.is_finite() && self.lr_decay > 0.0,
            "--lr-decay",
            self.lr_decay,
            "must be a positive finite number",
        )?;
        check(
            self.reg_lambda.is_finite() && self.reg_lambda >= 0.0,
            "--reg-lambda",
            self.reg_lambda,
            "must be a finite number, 0 or more",
        )?;
        if let Some(decay) = self.weight_decay {
            check(
                decay.is_finite() && decay >= 0.0,
                "--weight-decay",
                decay,
                "must be a finite number, 0 or more",
            )?;
            check(
                self.optimizer == OptimizerKind::AdamW,
                "--weight-decay",
                decay,
                "applies to --optimizer adamw only (use --regularization l2 with the others)",
            )?;
        }
        check(
            self.warmup_epochs == 0 || self.schedule == ScheduleName::Cosine,
            "--warmup-epochs",
            self.warmup_epochs,
            "applies to --schedule cosine only",
        )?;
        check(
            self.warmup_epochs <= self.epochs,
            "--warmup-epochs",
            self.warmup_epochs,
            "must not exceed --epochs",
        )?;
        check(
            (0.0..=1.0).contains(&self.label_smoothing),
            "--label-smoothing",
            self.label_smoothing,
            "must be in [0, 1]",
        )?;
        if let Some(norm) = self.clip_grad_norm {
            check(
                norm.is_finite() && norm > 0.0,
                "--clip-grad-norm",
                norm,
                "must be a positive finite number",
            )?;
        }
        if let Some(resume) = &self.resume {
            check(
                self.init.is_none(),
                "--resume",
                resume.display(),
                "cannot be used with --init (the saved run has its parameters)",
            )?;
        }
        if let Some(torch) = &self.init_torch {
            check(
                self.init.is_none() && self.resume.is_none(),
                "--init-torch",
                torch.display(),
                "cannot be used with --init or --resume",
            )?;
        }
        if let Some(threads) = self.threads {
            check(threads >= 1, "--threads", threads, "must be at least 1")?;
        }
        if let Some(limit) = self.limit_train {
            check(limit >= 1, "--limit-train", limit, "must be at least 1")?;
        }
        check(
            (0.0..1.0).contains(&self.label_noise),
            "--label-noise",
            self.label_noise,
            "must be in [0, 1)",
        )?;
        check(
            !self.distributed || cfg!(feature = "distributed"),
            "--distributed",
            "true",
            "this program was built without MPI support; build it with \
             `cargo build --release --features distributed --example PROGRAM` (see the README, \
             Training on several machines)",
        )?;
        check(
            self.sync_timeout.is_finite() && self.sync_timeout > 0.0,
            "--sync-timeout",
            self.sync_timeout,
            "must be a positive number of seconds",
        )?;
        let [train, val, test] = self.synthetic_sizes;
        check(
            train >= 1 && val >= 1 && test >= 1,
            "synthetic sizes",
            format!("{train}/{val}/{test}"),
            "every split needs at least 1 image",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_out_of_range_value_is_refused_with_exit_code_2() {
        let base = RunOptions::default();
        let cases: Vec<(RunOptions, &str)> = vec![
            (
                RunOptions {
                    epochs: 0,
                    ..base.clone()
                },
                "--epochs",
            ),
            (
                RunOptions {
                    batch_size: 0,
                    ..base.clone()
                },
                "--batch-size",
            ),
            (
                RunOptions {
                    threads: Some(0),
                    ..base.clone()
                },
                "--threads",
            ),
            (
                RunOptions {
                    lr: 0.0,
                    ..base.clone()
                },
                "--lr",
            ),
            (
                RunOptions {
                    lr: -1e-3,
                    ..base.clone()
                },
                "--lr",
            ),
            (
                RunOptions {
                    lr: f64::NAN,
                    ..base.clone()
                },
                "--lr",
            ),
            (
                RunOptions {
                    lr: f64::INFINITY,
                    ..base.clone()
                },
                "--lr",
            ),
            (
                RunOptions {
                    lr_decay: 0.0,
                    ..base.clone()
                },
                "--lr-decay",
            ),
            (
                RunOptions {
                    reg_lambda: -0.1,
                    ..base.clone()
                },
                "--reg-lambda",
            ),
            (
                RunOptions {
                    label_noise: -0.1,
                    ..base.clone()
                },
                "--label-noise",
            ),
            (
                RunOptions {
                    label_noise: 1.0,
                    ..base.clone()
                },
                "--label-noise",
            ),
            (
                RunOptions {
                    label_noise: f64::NAN,
                    ..base.clone()
                },
                "--label-noise",
            ),
            (
                RunOptions {
                    limit_train: Some(0),
                    ..base.clone()
                },
                "--limit-train",
            ),
            (
                RunOptions {
                    weight_decay: Some(0.1),
                    ..base.clone()
                },
                "--weight-decay",
            ),
            (
                RunOptions {
                    optimizer: OptimizerKind::AdamW,
                    weight_decay: Some(-0.1),
                    ..base.clone()
                },
                "--weight-decay",
            ),
            (
                RunOptions {
                    warmup_epochs: 1,
                    ..base.clone()
                },
                "--warmup-epochs",
            ),
            (
                RunOptions {
                    schedule: ScheduleName::Cosine,
                    warmup_epochs: 6,
                    ..base.clone()
                },
                "--warmup-epochs",
            ),
            (
                RunOptions {
                    label_smoothing: 1.5,
                    ..base.clone()
                },
                "--label-smoothing",
            ),
            (
                RunOptions {
                    clip_grad_norm: Some(0.0),
                    ..base.clone()
                },
                "--clip-grad-norm",
            ),
            (
                RunOptions {
                    resume: Some("a".into()),
                    init: Some("b".into()),
                    ..base.clone()
                },
                "--resume",
            ),
        ];
        for (options, option) in cases {
            let err = options.validate().unwrap_err();
            assert_eq!(err.option, option);
            assert_eq!(err.exit_code(), 2);
            assert!(!err.to_string().contains('\n'));
        }
        let fine = RunOptions {
            label_noise: 0.4,
            threads: Some(1),
            limit_train: Some(5),
            reg_lambda: 0.0,
            ..base
        };
        assert_eq!(fine.validate(), Ok(()));
        assert_eq!(fine.model(), Model::SmallCnn);
    }
}
