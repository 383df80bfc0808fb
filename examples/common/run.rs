//! [`run`]: one `small_cnn` run from options to files.

use super::{
    AppError, EpochRecord, Fingerprint, Metrics, Model, Progress, Replica, RunOptions,
    ScheduleName, SmallCnn, SmallCnnBn,
};
use constnet::data::{DataSplits, SyntheticConfig, add_label_noise, load_cifar100, synthetic};
use constnet::models::ResNet20;
use constnet::plot::{confusion_png, curves_png, feature_maps_png, filters_png, samples_png};
use constnet::report::{EpochRow, Figure, Report};
use constnet::torch::{load_state_dict, save_state_dict};
use constnet::train::{
    CheckpointInfo, ConfusionMatrix, CosineWarmup, GradientSync, OptimizerKind, Samples, Schedule,
    SoftmaxCrossEntropy, StepDecay, TrainConfig, TrainObserver, TrainSession, evaluate,
    load_checkpoint, load_train_state, save_checkpoint_with_info, train_session,
};
use constnet::{Image, Layer, Mode, Network, Tensor, Workspace};
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

/// Runs `small_cnn` with `options` in a thread pool of `options.threads` threads (all cores by
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

/// Loads the data the options ask for; the second value is a notice to print when the
/// synthetic set replaces a missing CIFAR-100.
fn load_data(options: &RunOptions) -> Result<(DataSplits, Option<String>), AppError> {
    let [train, val, test] = options.synthetic_sizes;
    let synthetic_set = || {
        synthetic(&SyntheticConfig {
            train,
            val,
            test,
            ..SyntheticConfig::default()
        })
    };
    if options.synthetic {
        return Ok((synthetic_set(), None));
    }
    match &options.data {
        Some(dir) => Ok((load_cifar100(dir)?, None)),
        None if Path::new(DEFAULT_DATA_DIR).join("train.mat").is_file() => {
            Ok((load_cifar100(DEFAULT_DATA_DIR)?, None))
        }
        None => Ok((
            synthetic_set(),
            Some(format!(
                "notice: {DEFAULT_DATA_DIR}/train.mat not found, so this run uses the built-in \
                 synthetic data set (not CIFAR-100); to train on CIFAR-100, put train.mat and \
                 test.mat from cifar-100-matlab.tar.gz in {DEFAULT_DATA_DIR} (see data/README.md)"
            )),
        )),
    }
}

fn run_in_pool(
    options: &RunOptions,
    threads: usize,
    mut replica: Replica<'_>,
) -> Result<RunOutcome, AppError> {
    let (mut data, notice) = load_data(options)?;
    if let (Some(notice), true) = (&notice, replica.leads()) {
        println!("{notice}");
    }
    if let Some(limit) = options.limit_train {
        data.train.truncate(limit);
    }
    if data.train.num_classes != 20 {
        return Err(AppError::Internal(format!(
            "the data has {} classes, but the network has 20 outputs",
            data.train.num_classes
        )));
    }
    // The sample pictures show the images with their true labels, before any label noise.
    let shown = SAMPLE_IMAGES.min(data.train.len());
    let sample_images = data.train.images[..shown * 32 * 32 * 3].to_vec();
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
    let run = Prepared {
        options,
        data,
        notice,
        threads,
        noisy_labels,
        sample_images,
        sample_labels,
        replica,
    };
    match options.model() {
        Model::SmallCnn => run.train(SmallCnn::<f32>::new(options.seed)),
        Model::SmallCnnBn => run.train(SmallCnnBn::<f32>::new(options.seed)),
        Model::ResNet20 => run.train(ResNet20::<20, f32>::new(options.seed)),
    }
}

/// A run with its data ready.
struct Prepared<'a, 'r> {
    options: &'a RunOptions,
    data: DataSplits,
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
    let probe = dir.join(format!(".small_cnn-write-test-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| AppError::Io {
            what: "write in the output folder (--out)".into(),
            path: dir.to_path_buf(),
            source,
        })
}

impl Prepared<'_, '_> {
    fn train<N>(mut self, mut net: N) -> Result<RunOutcome, AppError>
    where
        N: Network<f32, Input = Image<32, 32, 3>>,
    {
        let options = self.options;
        let data = &self.data;
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
            channel_mean: rgb(data.channel_mean()),
            channel_std: rgb(data.channel_std()),
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
        let weights = net.param("conv1.weight").unwrap_or(&[]).to_vec();
        filters_png(&written("filters.png"), &weights, 3, 3, 16)?;

        let image = data.train.image(0).to_vec();
        let (maps, [map_h, map_w, map_c]) = conv1_maps(&net, &image)?;
        let first_label = self.sample_labels.first().copied().unwrap_or(0);
        feature_maps_png(
            &written("feature_maps.png"),
            &image,
            (32, 32),
            rgb(data.channel_mean()),
            rgb(data.channel_std()),
            data.label_names.get(first_label).map_or("", String::as_str),
            &maps,
            (map_h, map_w, map_c),
            &maps_caption(&net),
        )?;
        samples_png(
            &written("samples.png"),
            &self.sample_images,
            (32, 32),
            &self.sample_labels,
            &data.label_names,
            rgb(data.channel_mean()),
            rgb(data.channel_std()),
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
            title: format!("small_cnn: {} on {}", metrics.model, metrics.dataset),
            data_description: format!(
                "{}. Channel mean {:?}, std {:?} (training split, [0, 1] units).",
                data.summary(),
                rgb(data.channel_mean()),
                rgb(data.channel_std())
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
                    "conv1's 16 filters (3x3, RGB) of the best-validation parameters, normalised together to [0, 1] with their global minimum and maximum, as in the notebook.",
                ),
                figure(
                    "Feature maps",
                    "feature_maps.png",
                    "The 16 outputs of conv1 (before GELU) for the first training image, each scaled to its own range.",
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

/// The output of `net`'s layer `conv1` (its feature maps) for one image, and its shape.
fn conv1_maps(
    net: &impl Network<f32, Input = Image<32, 32, 3>>,
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
    } else {
        "conv1 output".into()
    }
}

/// The model's name in checkpoint metadata: its `--model` value.
fn model_tag(model: Model) -> &'static str {
    match model {
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

/// The three channel values of the CIFAR-shaped data this program trains on.
fn rgb(values: Vec<f32>) -> [f32; 3] {
    std::array::from_fn(|c| values.get(c).copied().unwrap_or(0.0))
}
