//! [`run`]: one `small_cnn` or `train` run from options to files.

use super::{
    AppError, EpochRecord, Fingerprint, Metrics, Model, Program, Progress, Replica, RunOptions,
    ScheduleName, SmallCnn, SmallCnnBn,
};
use constnet::data::{
    Augment, DataSplits, Dataset, LoadOptions, SyntheticConfig, add_label_noise, load,
    load_cifar100, synthetic,
};
use constnet::models::{LeNet5, ResNet20};
use constnet::plot::{confusion_png, curves_png, feature_maps_png, filters_png, samples_png};
use constnet::report::{EpochRow, Figure, Report};
use constnet::torch::{load_state_dict, save_state_dict};
use constnet::train::{
    CheckpointInfo, ConfusionMatrix, CosineWarmup, GradientSync, OptimizerKind, Samples, Schedule,
    SoftmaxCrossEntropy, StepDecay, TrainConfig, TrainObserver, TrainSession, evaluate,
    load_checkpoint, load_train_state, save_checkpoint_with_info, train_session,
};
use constnet::{Image, Layer, Mode, Network, Shape, Tensor, Workspace};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The folder `small_cnn` looks in when `--data` is not given.
pub const DEFAULT_DATA_DIR: &str = "data/cifar100";

/// The state saved after every epoch, to resume the run with `--resume`.
pub const LAST_STATE: &str = "last.safetensors";

/// Training images shown in `samples.png`.
const SAMPLE_IMAGES: usize = 24;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// What was also written to `metrics.json`.
    pub metrics: Metrics,
    /// The confusion matrix of the test set.
    pub confusion: ConfusionMatrix,
    /// The run's folder.
    pub out: PathBuf,
    /// Every file written, in the run's folder.
    pub files: Vec<PathBuf>,
}

/// Runs `small_cnn` or `train` with `options` in a thread pool of `options.threads` threads (all cores by
/// default): loads the data, trains, evaluates the best-validation parameters on the test set,
/// and writes every file listed in `examples/README.md` into `options.out`. Progress goes to stdout (a
/// line per epoch) and stderr (the progress bar, on a terminal).
///
/// With `options.distributed` (and the `distributed` feature) the process is one rank of an
/// MPI job: see `distributed::run_distributed`.
pub fn run(options: &RunOptions) -> Result<RunOutcome, AppError> {
    options.validate()?;
    #[cfg(feature = "distributed")]
    if options.distributed {
        return super::distributed::run_distributed(options);
    }
    run_with(options, Replica::single())
}

/// [`run`] as `replica`: every replica loads the same data and trains on its slice of each
/// global batch; replica 0 alone prints and writes the files. Without `--threads`, the
/// replicas on one machine share its cores.
pub fn run_with(options: &RunOptions, replica: Replica<'_>) -> Result<RunOutcome, AppError> {
    options.validate()?;
    if !options.batch_size.is_multiple_of(replica.ranks) {
        return Err(AppError::BatchSplit {
            batch_size: options.batch_size,
            ranks: replica.ranks,
        });
    }
    let threads = options.threads.unwrap_or_else(|| {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        (cores / replica.local_ranks).max(1)
    });
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| AppError::Internal(format!("cannot start {threads} threads: {e}")))?;
    pool.install(|| run_in_pool(options, threads, replica))
}

/// Loads the data the options ask for as images of shape `S` (the model's input; another shape
/// in the files is an error naming the model); the second value is a notice to print when the
/// synthetic set replaces a missing CIFAR-100.
fn load_data<S: Shape>(options: &RunOptions) -> Result<(DataSplits<S>, Option<String>), AppError> {
    let model = options.model().name();
    if options.program == Program::Train {
        let dir = options
            .data
            .as_deref()
            .unwrap_or(Path::new(DEFAULT_DATA_DIR));
        let load_options = LoadOptions {
            cifar100_labels: options.cifar100_labels,
        };
        let data =
            load::<S>(dir, options.format, &load_options).map_err(|e| e.for_network(model))?;
        return Ok((data, None));
    }
    let [train, val, test] = options.synthetic_sizes;
    let synthetic_set = || {
        as_shape::<S>(synthetic(&SyntheticConfig {
            train,
            val,
            test,
            ..SyntheticConfig::default()
        }))
    };
    let cifar100 = |dir: &Path| load_cifar100::<S>(dir).map_err(|e| e.for_network(model));
    if options.synthetic {
        return Ok((synthetic_set()?, None));
    }
    match &options.data {
        Some(dir) => Ok((cifar100(dir)?, None)),
        None if Path::new(DEFAULT_DATA_DIR).join("train.mat").is_file() => {
            Ok((cifar100(Path::new(DEFAULT_DATA_DIR))?, None))
        }
        None => Ok((
            synthetic_set()?,
            Some(format!(
                "notice: {DEFAULT_DATA_DIR}/train.mat not found, so this run uses the built-in \
                 synthetic data set (not CIFAR-100); to train on CIFAR-100, put train.mat and \
                 test.mat from cifar-100-matlab.tar.gz in {DEFAULT_DATA_DIR} (see data/README.md)"
            )),
        )),
    }
}

/// The synthetic set (32x32x3) as a data set of shape `S`, which must be 32x32x3: `small_cnn`'s
/// models all are.
fn as_shape<S: Shape>(data: DataSplits) -> Result<DataSplits<S>, AppError> {
    if [S::H, S::W, S::C] != [32, 32, 3] {
        return Err(AppError::Internal(format!(
            "the synthetic data set is 32x32x3, the network takes {}x{}x{}",
            S::H,
            S::W,
            S::C
        )));
    }
    let cast = |d: Dataset| Dataset::<S>::new(d.images, d.labels, d.num_classes);
    Ok(DataSplits {
        train: cast(data.train)?,
        val: cast(data.val)?,
        test: cast(data.test)?,
        label_names: data.label_names,
        normalization: data.normalization,
        source: data.source,
    })
}

/// Loads the data in the model's input shape and trains the model the options name. Each model
/// has a fixed class count except ResNet-20, built for 10, 20 or 100 classes (CIFAR-10,
/// CIFAR-100's superclasses and its classes) as the data set has.
fn run_in_pool(
    options: &RunOptions,
    threads: usize,
    replica: Replica<'_>,
) -> Result<RunOutcome, AppError> {
    let seed = options.seed;
    match options.model() {
        Model::LeNet5 => prepare(options, threads, replica)?.train(LeNet5::<f32>::new(seed)),
        Model::SmallCnn => prepare(options, threads, replica)?.train(SmallCnn::<f32>::new(seed)),
        Model::SmallCnnBn => {
            prepare(options, threads, replica)?.train(SmallCnnBn::<f32>::new(seed))
        }
        Model::ResNet20 => {
            let run = prepare::<Image<32, 32, 3>>(options, threads, replica)?;
            match run.data.train.num_classes {
                10 => run.train(ResNet20::<10, f32>::new(seed)),
                20 => run.train(ResNet20::<20, f32>::new(seed)),
                100 => run.train(ResNet20::<100, f32>::new(seed)),
                classes => Err(AppError::ClassCount {
                    model: Model::ResNet20.name(),
                    outputs: "10, 20 or 100".into(),
                    data: run.data.source.to_string(),
                    classes,
                }),
            }
        }
    }
}

/// Loads the data as images of shape `S` and makes it ready to train on.
fn prepare<'a, 'r, S: Shape>(
    options: &'a RunOptions,
    threads: usize,
    mut replica: Replica<'r>,
) -> Result<Prepared<'a, 'r, S>, AppError> {
    let (mut data, notice) = load_data::<S>(options)?;
    if let (Some(notice), true) = (&notice, replica.leads()) {
        println!("{notice}");
    }
    if let Some(limit) = options.limit_train {
        data.train.truncate(limit);
    }
    // The sample pictures show the images with their true labels, before any label noise.
    let shown = SAMPLE_IMAGES.min(data.train.len());
    let sample_images = data.train.images[..shown * S::LEN].to_vec();
    let sample_labels = data.train.labels[..shown].to_vec();
    let noisy_labels = add_label_noise(&mut data.train, options.label_noise, options.seed);
    if let Some(sync) = replica.sync.as_deref_mut() {
        // Replicas that differ would train apart (or wait for ever on each other).
        sync.check_same(options_fingerprint(options), "the options")?;
        let mut data_print = Fingerprint::default();
        data_print
            .add_f32s(&data.train.images)
            .add_usizes(&data.train.labels)
            .add_f32s(&data.val.images)
            .add_usizes(&data.val.labels);
        sync.check_same(data_print.value(), "the training and validation data")?;
    }
    #[cfg(feature = "distributed")]
    if super::distributed::fault_nan_data() {
        data.train.images.fill(f32::NAN);
    }
    Ok(Prepared {
        options,
        data,
        notice,
        threads,
        noisy_labels,
        sample_images,
        sample_labels,
        replica,
    })
}

/// A run with its data (images of shape `S`) ready.
struct Prepared<'a, 'r, S: Shape> {
    options: &'a RunOptions,
    data: DataSplits<S>,
    notice: Option<String>,
    threads: usize,
    noisy_labels: usize,
    sample_images: Vec<f32>,
    sample_labels: Vec<usize>,
    replica: Replica<'r>,
}

/// The options every replica must share, as a fingerprint. `--out` (only rank 0 writes),
/// `--threads` (results do not depend on it) and `--data` (the data's contents are compared
/// instead: machines may keep them in different folders) may differ.
fn options_fingerprint(options: &RunOptions) -> u64 {
    let shared = RunOptions {
        out: PathBuf::new(),
        threads: None,
        data: None,
        ..options.clone()
    };
    Fingerprint::default()
        .add(format!("{shared:?}").as_bytes())
        .value()
}

/// Creates the output folder and checks that a file can be written in it, so that a run never
/// trains for nothing.
fn create_out_dir(dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(|source| AppError::Io {
        what: "create the output folder (--out)".into(),
        path: dir.to_path_buf(),
        source,
    })?;
    let probe = dir.join(format!(".constnet-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| AppError::Io {
            what: "write in the output folder (--out)".into(),
            path: dir.to_path_buf(),
            source,
        })
}

impl<S: Shape> Prepared<'_, '_, S> {
    fn train<N>(mut self, mut net: N) -> Result<RunOutcome, AppError>
    where
        N: Network<f32, Input = S>,
    {
        let options = self.options;
        let data = &self.data;
        let outputs = <N::Output as Shape>::LEN;
        if outputs != data.train.num_classes {
            return Err(AppError::ClassCount {
                model: options.model().name(),
                outputs: outputs.to_string(),
                data: data.source.to_string(),
                classes: data.train.num_classes,
            });
        }
        if let Some(init) = &options.init {
            load_checkpoint(&mut net, init).map_err(|e| match e {
                constnet::train::CheckpointError::Layout { .. } => AppError::OtherLayout {
                    source: Box::new(e.into()),
                    hint: "give a PyTorch state_dict with --init-torch FILE",
                },
                e => e.into(),
            })?;
        }
        if let Some(torch) = &options.init_torch {
            load_state_dict(&mut net, torch).map_err(|e| match e {
                constnet::torch::TorchError::ConstnetFile { .. } => AppError::OtherLayout {
                    source: Box::new(e.into()),
                    hint: "give a constnet checkpoint with --init FILE",
                },
                e => e.into(),
            })?;
        }
        // The saved run's parameters go into the network; the rest continues the run.
        let resume = match &options.resume {
            Some(file) => Some(load_train_state(&mut net, file)?),
            None => None,
        };
        let leads = self.replica.leads();
        let ranks = self.replica.ranks;
        if leads {
            // Fail on an unwritable output folder before training, not after.
            create_out_dir(&options.out)?;

            println!("data: {}", data.summary());
            if self.noisy_labels > 0 {
                println!(
                    "label noise: {} of {} training labels replaced by another class",
                    self.noisy_labels,
                    data.train.len()
                );
            }
            let per_rank = if ranks > 1 {
                format!(
                    " per rank, {ranks} ranks (global batch {}, {} per rank)",
                    options.batch_size,
                    options.batch_size / ranks
                )
            } else {
                String::new()
            };
            println!(
                "model: {} ({} parameters), {} threads{per_rank}\n{}",
                options.model().name(),
                net.num_params(),
                self.threads,
                net.summary()
            );
        }

        let config = TrainConfig {
            epochs: options.epochs,
            batch_size: options.batch_size,
            learning_rate: options.lr,
            schedule: match options.schedule {
                ScheduleName::Step => Schedule::Step(StepDecay {
                    factor: options.lr_decay,
                    every: options.lr_decay_every,
                }),
                ScheduleName::Cosine => Schedule::Cosine(CosineWarmup {
                    warmup_epochs: options.warmup_epochs,
                    total_epochs: options.epochs,
                    min_lr: 0.0,
                }),
            },
            optimizer: options.optimizer,
            weight_decay: options.weight_decay.unwrap_or(0.01),
            loss: SoftmaxCrossEntropy {
                label_smoothing: options.label_smoothing,
            },
            keep: options.keep,
            clip_grad_norm: options.clip_grad_norm,
            regularization: options.regularization,
            reg_lambda: options.reg_lambda,
            seed: options.seed,
            shuffle: options.shuffle,
            augment: if options.augment {
                Augment::CIFAR
            } else {
                Augment::NONE
            },
            ..TrainConfig::default()
        };
        let mut progress = Progress::new(options.epochs, options.quiet);
        let observer: &mut dyn TrainObserver = if leads { &mut progress } else { &mut () };
        let sync: Option<&mut dyn GradientSync> = match self.replica.sync.as_deref_mut() {
            Some(sync) => Some(sync),
            None => None,
        };
        let history = train_session(
            &mut net,
            Samples::new(&data.train.images, &data.train.labels),
            Samples::new(&data.val.images, &data.val.labels),
            &config,
            TrainSession {
                observer: Some(observer),
                sync,
                resume,
                // Only the leading rank writes files.
                save_state: leads.then(|| options.out.join(LAST_STATE)),
            },
        )?;
        let steps = history.loss_per_iteration.len().max(1) as f64;
        let allreduce_seconds_per_step = self
            .replica
            .sync
            .as_deref()
            .map_or(0.0, |sync| sync.reduce_seconds() / steps);

        let start = Instant::now();
        let predicted = evaluate(
            &mut net,
            Samples::new(&data.test.images, &data.test.labels),
            config.eval_batch_size,
        )?;
        let eval_seconds = start.elapsed().as_secs_f64();
        let confusion = ConfusionMatrix::from_predictions(
            data.train.num_classes,
            &data.test.labels,
            &predicted,
        )
        .map_err(|e| AppError::Internal(e.to_string()))?;
        let test_acc = confusion.accuracy();

        let metrics = Metrics {
            dataset: data.source.name().to_string(),
            data_dir: data.source.dir().map(|d| d.display().to_string()),
            train_size: data.train.len(),
            val_size: data.val.len(),
            test_size: data.test.len(),
            num_classes: data.train.num_classes,
            label_names: data.label_names.clone(),
            channel_mean: data.channel_mean(),
            channel_std: data.channel_std(),
            model: options.model().name().to_string(),
            parameters: net.num_params(),
            optimizer: options.optimizer.to_string(),
            learning_rate: options.lr,
            batch_size: options.batch_size,
            epochs: options.epochs,
            seed: options.seed,
            threads: self.threads,
            label_noise: options.label_noise,
            history: history.epochs.iter().map(EpochRecord::from).collect(),
            loss_per_iteration: history.loss_per_iteration.clone(),
            best_epoch: history.best_epoch,
            best_val_acc: history.best_val_acc,
            test_acc,
            train_images_per_sec: history.median_train_images_per_sec(),
            eval_images_per_sec: if eval_seconds > 0.0 {
                data.test.len() as f64 / eval_seconds
            } else {
                0.0
            },
            lr_decay: options.lr_decay,
            lr_decay_every: options.lr_decay_every,
            regularization: options.regularization.to_string(),
            reg_lambda: options.reg_lambda,
            shuffle: options.shuffle,
            noisy_labels: self.noisy_labels,
            init: match (&options.init, &options.init_torch) {
                (Some(p), _) => p.display().to_string(),
                (None, Some(p)) => format!("pytorch:{}", p.display()),
                (None, None) => "he".to_string(),
            },
            weight_decay: (options.optimizer == OptimizerKind::AdamW)
                .then_some(config.weight_decay),
            schedule: options.schedule.to_string(),
            warmup_epochs: options.warmup_epochs,
            label_smoothing: options.label_smoothing,
            clip_grad_norm: options.clip_grad_norm,
            keep: options.keep.to_string(),
            resumed_from: options.resume.as_ref().map(|p| p.display().to_string()),
            ranks,
            allreduce_seconds_per_step,
            augment: config.augment.to_string(),
        };
        if !leads {
            // Only replica 0 writes files and prints.
            return Ok(RunOutcome {
                metrics,
                confusion,
                out: options.out.clone(),
                files: Vec::new(),
            });
        }

        let out = &options.out;
        let mut files = Vec::new();
        files.push(out.join(LAST_STATE));
        let mut written = |name: &str| {
            let path = out.join(name);
            files.push(path.clone());
            path
        };

        // The metadata that `predict` reads: model (as --model spells it), class names and
        // normalisation.
        let info = CheckpointInfo {
            model: Some(model_tag(options.model()).to_string()),
            class_names: data.label_names.clone(),
            normalization: Some(data.normalization.clone()),
        };
        save_checkpoint_with_info(&net, &info, written("model.safetensors"))?;
        if let Some(torch) = &options.export_torch {
            save_state_dict(&net, torch)?;
        }
        let json = serde_json::to_string_pretty(&metrics)
            .map_err(|e| AppError::Internal(format!("cannot encode metrics.json: {e}")))?;
        write_file(&written("metrics.json"), json + "\n")?;
        write_file(
            &written("confusion.csv"),
            confusion.to_csv(&data.label_names),
        )?;

        curves_png(
            &written("curves.png"),
            &history.loss_per_iteration,
            &history.train_acc(),
            &history.val_acc(),
        )?;
        let (weights, [kernel, _, in_channels, out_channels]) = conv1_weight(&net)?;
        filters_png(
            &written("filters.png"),
            &weights,
            kernel,
            in_channels,
            out_channels,
        )?;

        let image = data.train.image(0).to_vec();
        let (maps, [map_h, map_w, map_c]) = conv1_maps(&net, &image)?;
        let first_label = self.sample_labels.first().copied().unwrap_or(0);
        let (mean, std) = (rgb(data.channel_mean()), rgb(data.channel_std()));
        feature_maps_png(
            &written("feature_maps.png"),
            &to_rgb::<S>(&image),
            (S::H, S::W),
            mean,
            std,
            data.label_names.get(first_label).map_or("", String::as_str),
            &maps,
            (map_h, map_w, map_c),
            &maps_caption(&net),
        )?;
        samples_png(
            &written("samples.png"),
            &to_rgb::<S>(&self.sample_images),
            (S::H, S::W),
            &self.sample_labels,
            &data.label_names,
            mean,
            std,
            &format!("Training images ({})", data.source.name()),
        )?;
        confusion_png(
            &written("confusion.png"),
            &confusion.counts,
            &data.label_names,
            &format!(
                "Confusion matrix, test set ({} images, accuracy {:.2} %)",
                data.test.len(),
                test_acc * 100.0
            ),
        )?;

        let report = self.report(&net, &metrics, &confusion);
        report.write(out, "report.html")?;
        files.push(out.join("report.html"));

        println!(
            "test accuracy (parameters of epoch {}, best validation accuracy {:.2} %): {:.2} %",
            metrics.best_epoch,
            metrics.best_val_acc * 100.0,
            test_acc * 100.0
        );
        println!(
            "files in {}: {}",
            out.display(),
            files
                .iter()
                .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if self.notice.is_some() {
            println!("(synthetic data: see the notice above for how to use CIFAR-100)");
        }
        Ok(RunOutcome {
            metrics,
            confusion,
            out: out.clone(),
            files,
        })
    }

    fn report<N: Network<f32>>(
        &self,
        net: &N,
        metrics: &Metrics,
        confusion: &ConfusionMatrix,
    ) -> Report {
        let options = self.options;
        let data = &self.data;
        let name = |i: usize| {
            data.label_names
                .get(i)
                .cloned()
                .unwrap_or_else(|| i.to_string())
        };
        let mut notes = Vec::new();
        if self.noisy_labels > 0 {
            notes.push(format!(
                "Label noise: {} of {} training labels ({:.0} %) were replaced by a uniformly drawn \
                 other class before training; validation and test labels are clean.",
                self.noisy_labels,
                data.train.len(),
                options.label_noise * 100.0
            ));
        }
        if let Some(limit) = options.limit_train {
            notes.push(format!(
                "--limit-train {limit}: only the first {limit} training images were used."
            ));
        }
        let hyper = |k: &str, v: String| (k.to_string(), v);
        Report {
            title: format!(
                "{}: {} on {}",
                options.program.name(),
                metrics.model,
                metrics.dataset
            ),
            data_description: format!(
                "{}. Channel mean {:?}, std {:?} (training split, [0, 1] units).",
                data.summary(),
                data.channel_mean(),
                data.channel_std()
            ),
            synthetic: data.source.is_synthetic(),
            notes,
            hyper_parameters: vec![
                hyper("model", metrics.model.clone()),
                hyper("parameters", metrics.parameters.to_string()),
                hyper("optimizer", metrics.optimizer.clone()),
                hyper("learning rate", options.lr.to_string()),
                hyper(
                    "learning-rate schedule",
                    match options.schedule {
                        ScheduleName::Step => format!(
                            "x{} every {} epochs",
                            options.lr_decay, options.lr_decay_every
                        ),
                        ScheduleName::Cosine => {
                            format!("cosine to 0 after {} warm-up epochs", options.warmup_epochs)
                        }
                    },
                ),
                hyper(
                    "loss",
                    format!(
                        "softmax cross-entropy, label smoothing {}",
                        options.label_smoothing
                    ),
                ),
                hyper(
                    "gradient clipping",
                    options
                        .clip_grad_norm
                        .map_or("none".to_string(), |n| format!("global norm {n}")),
                ),
                hyper("parameters kept", options.keep.to_string()),
                hyper(
                    "regularization",
                    format!("{} (lambda {})", options.regularization, options.reg_lambda),
                ),
                hyper("batch size", options.batch_size.to_string()),
                hyper("epochs", options.epochs.to_string()),
                hyper("shuffle", options.shuffle.to_string()),
                hyper("augmentation", metrics.augment.clone()),
                hyper("label noise", options.label_noise.to_string()),
                hyper(
                    "initialisation",
                    match (&options.init, &options.init_torch) {
                        (Some(p), _) => format!("from {}", p.display()),
                        (None, Some(p)) => format!("from PyTorch state_dict {}", p.display()),
                        (None, None) => format!("He normal, seed {}", options.seed),
                    },
                ),
                hyper("seed", options.seed.to_string()),
                hyper("threads", self.threads.to_string()),
                hyper("ranks (MPI)", metrics.ranks.to_string()),
                hyper(
                    "training images/s (median)",
                    format!("{:.0}", metrics.train_images_per_sec),
                ),
                hyper(
                    "evaluation images/s",
                    format!("{:.0}", metrics.eval_images_per_sec),
                ),
            ],
            model_summary: net.summary().to_string(),
            epochs: metrics
                .history
                .iter()
                .map(|e| EpochRow {
                    epoch: e.epoch,
                    train_loss: e.train_loss,
                    train_acc: e.train_acc,
                    val_acc: e.val_acc,
                    learning_rate: e.learning_rate,
                    seconds: e.seconds,
                    train_images_per_sec: e.train_images_per_sec,
                })
                .collect(),
            best_epoch: metrics.best_epoch,
            best_val_acc: metrics.best_val_acc,
            test_acc: metrics.test_acc,
            figures: vec![
                figure(
                    "Learning curves",
                    "curves.png",
                    "Top: training loss of every iteration and its moving average. Bottom: training accuracy (on a fixed subset of up to 1000 training images) and validation accuracy after each epoch.",
                ),
                figure(
                    "First-layer filters",
                    "filters.png",
                    "conv1's filters of the kept parameters (RGB tiles for RGB images, grey tiles per input channel otherwise), normalised together to [0, 1] with their global minimum and maximum, as in the notebook.",
                ),
                figure(
                    "Feature maps",
                    "feature_maps.png",
                    "The outputs of conv1 for the first training image, each scaled to its own range.",
                ),
                figure(
                    "Training samples",
                    "samples.png",
                    "The first training images, un-normalised, with their (true) labels.",
                ),
                figure(
                    "Confusion matrix",
                    "confusion.png",
                    "Test set: true class per row, predicted class per column; the counts are in confusion.csv.",
                ),
            ],
            confused_pairs: confusion
                .most_confused_pairs(5)
                .iter()
                .map(|p| (name(p.true_class), name(p.predicted), p.count))
                .collect(),
            files: vec![
                (
                    "metrics.json".into(),
                    "every number of the run (the schema is in examples/README.md)".into(),
                ),
                ("confusion.csv".into(), "the test confusion matrix".into()),
                (
                    "model.safetensors".into(),
                    format!(
                        "the {} parameters (load with --init)",
                        if options.keep == constnet::train::Keep::Best {
                            "best-validation"
                        } else {
                            "last epoch's"
                        }
                    ),
                ),
                (
                    LAST_STATE.into(),
                    "the last epoch's parameters and training state (continue with --resume)"
                        .into(),
                ),
            ],
        }
    }
}

/// The weight of `net`'s layer `conv1` and its shape `[K, K, IN_C, OUT_C]`.
fn conv1_weight(net: &impl Network<f32>) -> Result<(Vec<f32>, [usize; 4]), AppError> {
    let mut found = None;
    net.params(&mut |layer, p| {
        if p.name == "weight"
            && layer.to_string() == "conv1"
            && let [k, k2, i, o] = p.shape[..]
        {
            found = Some((p.value.to_vec(), [k, k2, i, o]));
        }
    });
    found.ok_or_else(|| AppError::Internal("the network has no conv1.weight to draw".into()))
}

/// The output of `net`'s layer `conv1` (its feature maps) for one image, and its shape.
fn conv1_maps<S: Shape>(
    net: &impl Network<f32, Input = S>,
    image: &[f32],
) -> Result<(Vec<f32>, [usize; 3]), AppError> {
    let internal = |e: &dyn std::fmt::Display| AppError::Internal(format!("feature maps: {e}"));
    let image = Tensor::from_slice(image).map_err(|e| internal(&e))?;
    let mut workspace = Workspace::new();
    let maps = net
        .activation("conv1", &image, &mut workspace)
        .map_err(|e| internal(&e))?;
    Ok((maps.values.to_vec(), maps.shape))
}

/// The feature maps' caption: conv1's output, before the layer that follows it.
fn maps_caption(net: &impl Network<f32>) -> String {
    let layers = net.layers();
    let next = layers
        .iter()
        .skip_while(|l| l.name != "conv1")
        .nth(1)
        .map_or("", |l| l.signature.as_str());
    if next.starts_with("Gelu") {
        "conv1 output, before GELU".into()
    } else if next.starts_with("BatchNorm") {
        "conv1 output, before BatchNorm".into()
    } else if next.starts_with("Tanh") {
        "conv1 output, before tanh".into()
    } else {
        "conv1 output".into()
    }
}

/// The model's name in checkpoint metadata: its `--model` value.
fn model_tag(model: Model) -> &'static str {
    match model {
        Model::LeNet5 => "lenet5",
        Model::SmallCnn => "small-cnn",
        Model::SmallCnnBn => "small-cnn-bn",
        Model::ResNet20 => "resnet20",
    }
}

fn figure(title: &str, file: &str, caption: &str) -> Figure {
    Figure {
        title: title.to_string(),
        file: file.to_string(),
        caption: caption.to_string(),
    }
}

fn write_file(path: &Path, contents: String) -> Result<(), AppError> {
    std::fs::write(path, contents).map_err(|source| AppError::Io {
        what: format!(
            "write {}",
            path.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        ),
        path: path.to_path_buf(),
        source,
    })
}

/// Three channel values for the pictures, which draw RGB: one grey channel's value three
/// times, else the first three (the first repeated when there are two).
fn rgb(values: Vec<f32>) -> [f32; 3] {
    std::array::from_fn(|c| values.get(c).or(values.first()).copied().unwrap_or(0.0))
}

/// NHWC images of shape `S` as RGB for the pictures, channel for channel as [`rgb`] picks them
/// (a grey image becomes three equal channels).
fn to_rgb<S: Shape>(images: &[f32]) -> Vec<f32> {
    if S::C == 3 {
        return images.to_vec();
    }
    images
        .chunks_exact(S::C.max(1))
        .flat_map(|px| std::array::from_fn::<f32, 3, _>(|c| *px.get(c).unwrap_or(&px[0])))
        .collect()
}
