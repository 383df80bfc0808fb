//! The training loop: the notebook's `train_net`, with a history, best-epoch selection, a guard
//! against divergence, and a [`TrainObserver`] that is told of every step and epoch (the library
//! prints nothing; programs draw their progress from it).

use super::metrics::{accuracy, predict_into};
use super::parallel::{all_reduce_sum, replica_slice};
use super::{
    GradientSync, LossError, LrSchedule, Optimizer, OptimizerKind, Regularization, Samples,
    SamplesError, Schedule, SoftmaxCrossEntropy, SyncError, TrainState, clip_grad_norm,
    save_train_state,
};
use crate::data::{Augment, fill_epoch_order};
use crate::{Float, Mode, Network, ParamKind, Shape, Tensor};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngCore, SeedableRng};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// How to train; [`TrainConfig::default`] gives the `small_cnn` example's defaults (listed in
/// `examples/README.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Passes over the training data (5).
    pub epochs: usize,
    /// Samples per mini-batch (10). The last batch of an epoch holds the remainder and may be
    /// smaller; it is included (as PyTorch's `DataLoader` with `drop_last=False`).
    pub batch_size: usize,
    /// Initial learning rate (0.001).
    pub learning_rate: f64,
    /// The learning rate of each epoch from the initial one (step decay: x0.95 every 10
    /// epochs).
    pub schedule: Schedule,
    /// The update rule (Adam).
    pub optimizer: OptimizerKind,
    /// Decoupled weight decay of [`OptimizerKind::AdamW`] (0.01, PyTorch's default); the other
    /// optimizers do not use it (use [`Regularization::L2`] with them).
    pub weight_decay: f64,
    /// The loss (softmax cross-entropy without label smoothing).
    pub loss: SoftmaxCrossEntropy,
    /// Which parameters the network holds at the end (the best validation epoch's).
    pub keep: Keep,
    /// Rescale the gradients of each step so that their global L2 norm is at most this
    /// ([`clip_grad_norm`]); `None` (the default) does not clip.
    pub clip_grad_norm: Option<f64>,
    /// Penalty on the weights (none).
    pub regularization: Regularization,
    /// Strength of the penalty (0.01).
    pub reg_lambda: f64,
    /// Seeds the mini-batch shuffles and the training-accuracy subset (123). The network's own
    /// initialisation has its own seed.
    pub seed: u64,
    /// Shuffle the training data afresh each epoch (true); false keeps data-set order.
    pub shuffle: bool,
    /// Augmentation of the training batches ([`Augment::NONE`], off); validation, test and the
    /// training-accuracy subset are never augmented. Each image's draws come from a generator
    /// of its own, seeded from `seed`, the epoch and the image's place in the epoch's order:
    /// the same seed gives the same bits, whatever the thread count, the replicas of a
    /// data-parallel run, or a resume.
    pub augment: Augment,
    /// Training accuracy is measured on this many training samples, drawn once at random from
    /// `seed` and the same every epoch (1000, as the notebook's check); `None` uses the whole set.
    pub train_eval_samples: Option<usize>,
    /// Batch size of the evaluation passes (100).
    pub eval_batch_size: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch_size: 10,
            learning_rate: 0.001,
            schedule: Schedule::default(),
            optimizer: OptimizerKind::Adam,
            weight_decay: 0.01,
            loss: SoftmaxCrossEntropy::default(),
            keep: Keep::Best,
            clip_grad_norm: None,
            regularization: Regularization::None,
            reg_lambda: 0.01,
            seed: 123,
            shuffle: true,
            augment: Augment::NONE,
            train_eval_samples: Some(1000),
            eval_batch_size: 100,
        }
    }
}

/// Which parameters a run leaves in the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// Those of the epoch with the best validation accuracy (the later epoch on ties).
    #[default]
    Best,
    /// Those of the last epoch.
    Last,
}

/// A name that is not `best` or `last`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown choice '{0}' of parameters to keep (expected best or last)")]
pub struct UnknownKeep(pub String);

impl FromStr for Keep {
    type Err = UnknownKeep;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "best" => Ok(Keep::Best),
            "last" => Ok(Keep::Last),
            _ => Err(UnknownKeep(s.to_string())),
        }
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Keep::Best => "best",
            Keep::Last => "last",
        })
    }
}

/// What one epoch did.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochStats {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean of the epoch's iteration losses (regularization included).
    pub train_loss: f64,
    /// Accuracy on the training subset (see [`TrainConfig::train_eval_samples`]) after the epoch.
    pub train_acc: f64,
    /// Accuracy on the validation data after the epoch.
    pub val_acc: f64,
    /// The learning rate used during the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Images per second of the training steps alone (forward, loss, backward, update; the
    /// copying of batches and evaluation excluded). In a data-parallel run, global images (all
    /// replicas) per second.
    pub train_images_per_sec: f64,
    /// Seconds of the epoch spent exchanging gradients with the other replicas (the
    /// all-reduces of [`train_net_parallel`]; 0 without one).
    pub sync_seconds: f64,
}

/// The record of a training run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct History {
    /// The loss of every iteration (mini-batch), regularization included, in order.
    pub loss_per_iteration: Vec<f64>,
    /// One entry per epoch.
    pub epochs: Vec<EpochStats>,
    /// The epoch (from 1) with the best validation accuracy, the later on ties; its parameters
    /// are in the network when [`train_net`] returns with [`Keep::Best`] (with [`Keep::Last`],
    /// the last epoch's are). 0 if no epoch ran.
    pub best_epoch: usize,
    /// The validation accuracy of `best_epoch`.
    pub best_val_acc: f64,
}

impl History {
    /// Training accuracy per epoch.
    pub fn train_acc(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.train_acc).collect()
    }

    /// Validation accuracy per epoch.
    pub fn val_acc(&self) -> Vec<f64> {
        self.epochs.iter().map(|e| e.val_acc).collect()
    }

    /// The median over epochs of [`EpochStats::train_images_per_sec`] (mean of the middle two for
    /// an even count; 0 with no epochs).
    pub fn median_train_images_per_sec(&self) -> f64 {
        let mut v: Vec<f64> = self.epochs.iter().map(|e| e.train_images_per_sec).collect();
        v.sort_by(f64::total_cmp);
        match v.len() {
            0 => 0.0,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
        }
    }
}

/// One training step, as reported to [`TrainObserver::step_done`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The epoch, from 1.
    pub epoch: usize,
    /// The iteration within the epoch, from 1.
    pub iteration: usize,
    /// Iterations in this epoch.
    pub iterations: usize,
    /// The step's loss (regularization included).
    pub loss: f64,
    /// Images per second of this epoch's training steps so far.
    pub images_per_sec: f64,
}

/// What the training loop reports while it runs; every method does nothing by default. The
/// library prints nothing itself: a program implements this to draw a progress bar or log lines.
///
/// ```
/// use constnet::train::{EpochStats, TrainObserver};
/// struct Log(Vec<usize>);
/// impl TrainObserver for Log {
///     fn epoch_done(&mut self, stats: &EpochStats) {
///         self.0.push(stats.epoch);
///     }
/// }
/// ```
pub trait TrainObserver {
    /// An epoch starts; it will take `iterations` steps.
    fn epoch_started(&mut self, _epoch: usize, _iterations: usize) {}
    /// A training step is done.
    fn step_done(&mut self, _step: &StepInfo) {}
    /// An epoch is done and evaluated.
    fn epoch_done(&mut self, _stats: &EpochStats) {}
}

/// Observes nothing.
impl TrainObserver for () {}

/// A closure called after each epoch, as a [`TrainObserver`]:
/// `train_net_with(&mut net, train, val, &config, &mut OnEpoch(|e| println!("{}", e.val_acc)))`.
pub struct OnEpoch<F: FnMut(&EpochStats)>(pub F);

impl<F: FnMut(&EpochStats)> TrainObserver for OnEpoch<F> {
    fn epoch_done(&mut self, stats: &EpochStats) {
        (self.0)(stats)
    }
}

/// Why training stopped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrainError {
    /// The data does not fit the network.
    #[error(transparent)]
    Samples(#[from] SamplesError),
    /// A configuration value that cannot work.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The training or validation data has no samples.
    #[error("the {0} data is empty")]
    Empty(&'static str),
    /// The loss could not be computed (e.g. a label that is not a class).
    #[error("epoch {epoch}, iteration {iteration}: {source}")]
    Loss {
        /// The epoch, from 1.
        epoch: usize,
        /// The iteration within the epoch, from 1.
        iteration: usize,
        /// The cause.
        source: LossError,
    },
    /// The loss, or a parameter's gradient, became NaN or infinite; training stopped before
    /// updating the parameters with it.
    #[error(
        "training diverged at epoch {epoch}, iteration {iteration} (learning rate {learning_rate}): {}; try a smaller learning rate, or look for NaN or infinite inputs",
        match parameter {
            None => format!("the loss is {loss}"),
            Some(name) => format!("the gradient of {name} is not finite (loss {loss})"),
        }
    )]
    Diverged {
        /// The epoch, from 1.
        epoch: usize,
        /// The iteration within the epoch, from 1.
        iteration: usize,
        /// The learning rate at that point.
        learning_rate: f64,
        /// The loss of the iteration (regularization included).
        loss: f64,
        /// `None` when the loss is NaN or infinite; else the first parameter whose gradient is
        /// (a NaN can vanish from the loss, e.g. through a ReLU, and still poison the weights).
        parameter: Option<String>,
    },
    /// The state of the run could not be saved or does not fit the run being resumed.
    #[error("{0}")]
    State(String),
    /// The exchange with the other replicas of a data-parallel run failed, or another replica
    /// stopped; every replica stops at the same step.
    #[error("epoch {epoch}, iteration {iteration}: {source}")]
    Sync {
        /// The epoch, from 1.
        epoch: usize,
        /// The iteration within the epoch, from 1.
        iteration: usize,
        /// The cause.
        source: SyncError,
    },
}

/// Trains `net` on `train` with mini-batch gradient descent, evaluating on `val` after each
/// epoch, and leaves the parameters of the best validation epoch in `net` (see
/// [`TrainConfig::keep`]). See the [module docs](super) for an example and for
/// reproducibility.
pub fn train_net<'a, T: Float, N: Network<T>>(
    net: &mut N,
    train: impl Into<Samples<'a, T>>,
    val: impl Into<Samples<'a, T>>,
    config: &TrainConfig,
) -> Result<History, TrainError> {
    train_session(net, train, val, config, TrainSession::default())
}

/// As [`train_net`], telling `observer` of every step and epoch (e.g. to draw progress).
pub fn train_net_with<'a, T: Float, N: Network<T>>(
    net: &mut N,
    train: impl Into<Samples<'a, T>>,
    val: impl Into<Samples<'a, T>>,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<History, TrainError> {
    let session = TrainSession {
        observer: Some(observer),
        ..TrainSession::default()
    };
    train_session(net, train, val, config, session)
}

/// As [`train_net_with`], as one replica of a data-parallel run that exchanges values through
/// `sync` (see [`GradientSync`]).
///
/// Every replica must be called with the same network initialisation, data, and `config`.
/// Each visits the same global order of samples (from `config.seed`), trains on its contiguous
/// slice of every global batch of `n` samples ([`replica_slice`]),
/// scales its gradients by `local_n / n` (the loss is a mean over the global batch), and sums
/// all trained gradients, the loss and an error flag over the replicas in one all-reduce of a
/// flat buffer (allocated once); the regularisation gradient is then added, the gradients
/// clipped, and the optimiser step taken, on the summed gradient, identically on every
/// replica. The reported loss is the global batch's mean. A non-finite loss or gradient, or a
/// label that is not a class, on any replica stops every replica at the same step (decided
/// from the summed values, so all agree). Every replica evaluates after each epoch (same
/// parameters, same results).
///
/// BatchNorm layers use each replica's local batch statistics (as PyTorch's
/// `DistributedDataParallel` without `SyncBatchNorm`), and their running statistics are not
/// exchanged: they follow each replica's own slices (evaluation uses them).
///
/// With [`SingleProcess`](super::SingleProcess) (one replica) the result is bit-identical to
/// [`train_net_with`].
pub fn train_net_parallel<'a, T: Float, N: Network<T>>(
    net: &mut N,
    train: impl Into<Samples<'a, T>>,
    val: impl Into<Samples<'a, T>>,
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
    sync: &mut dyn GradientSync,
) -> Result<History, TrainError> {
    let session = TrainSession {
        observer: Some(observer),
        sync: Some(sync),
        ..TrainSession::default()
    };
    train_session(net, train, val, config, session)
}

/// Everything of a run besides the network, the data and the [`TrainConfig`]: who is told of
/// progress, the exchange with other replicas, the state to resume from, and where to save the
/// state after each epoch. `TrainSession::default()` is none of these (as [`train_net`]).
#[derive(Default)]
pub struct TrainSession<'s, T> {
    /// Told of every step and epoch.
    pub observer: Option<&'s mut dyn TrainObserver>,
    /// The exchange of a data-parallel run (see [`train_net_parallel`]).
    pub sync: Option<&'s mut dyn GradientSync>,
    /// Continue a run from this state (read with
    /// [`load_train_state`](super::load_train_state), which also puts the run's parameters
    /// into the network): the run goes on from the epoch after `resume.epoch` up to
    /// `config.epochs` and gives the same bits as a run that never stopped (see
    /// [`TrainState`]).
    pub resume: Option<TrainState<T>>,
    /// After each epoch, save the run's [`TrainState`] and parameters there, atomically
    /// ([`save_train_state`]); in a data-parallel run, replica 0 only.
    pub save_state: Option<PathBuf>,
}

/// Trains as [`train_net`] with everything a [`TrainSession`] adds: progress, data-parallel
/// exchange, resume, and the state saved after each epoch.
///
/// A run of 2 epochs that saved its state, resumed to 4, gives the parameters, history and
/// kept parameters of a 4-epoch run, bit for bit:
///
/// ```
/// use constnet::layers::{Linear, Relu};
/// use constnet::train::{Samples, TrainConfig, TrainSession, load_train_state, train_session};
/// use constnet::{Image, Network, net};
/// net! { struct Mlp { input: Image<1, 1, 2>, fc1: Linear<2, 8>, relu: Relu, fc2: Linear<8, 2> } }
/// let images: Vec<f32> = (0..80).map(|i| ((i * 7 % 13) as f32 - 6.0) / 3.0).collect();
/// let labels: Vec<usize> = (0..40).map(|i| usize::from(images[2 * i] > images[2 * i + 1])).collect();
/// let (train, val) = (Samples::new(&images[..60], &labels[..30]), Samples::new(&images[60..], &labels[30..]));
/// let dir = std::env::temp_dir().join(format!("constnet-resume-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let state_file = dir.join("last.safetensors");
///
/// let config = |epochs| TrainConfig { epochs, batch_size: 4, learning_rate: 0.01, ..TrainConfig::default() };
/// let mut whole = Mlp::<f32>::new(3);
/// let four = train_session(&mut whole, train, val, &config(4), TrainSession::default())?;
///
/// let mut first = Mlp::<f32>::new(3);
/// let session = TrainSession { save_state: Some(state_file.clone()), ..TrainSession::default() };
/// train_session(&mut first, train, val, &config(2), session)?;
/// let mut resumed = Mlp::<f32>::new(3);
/// let state = load_train_state(&mut resumed, &state_file)?;
/// let session = TrainSession { resume: Some(state), ..TrainSession::default() };
/// let continued = train_session(&mut resumed, train, val, &config(4), session)?;
/// assert_eq!(continued.loss_per_iteration, four.loss_per_iteration);
/// assert_eq!(resumed.param("fc1.weight"), whole.param("fc1.weight"));
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn train_session<'a, T: Float, N: Network<T>>(
    net: &mut N,
    train: impl Into<Samples<'a, T>>,
    val: impl Into<Samples<'a, T>>,
    config: &TrainConfig,
    session: TrainSession<'_, T>,
) -> Result<History, TrainError> {
    let mut no_observer = ();
    let observer = match session.observer {
        Some(o) => o,
        None => &mut no_observer,
    };
    run(
        net,
        (train.into(), val.into()),
        config,
        observer,
        session.sync,
        session.resume,
        session.save_state,
    )
}

/// A data-parallel run's exchange and its flat buffer: the trained gradients, then the loss,
/// then an error flag.
struct Exchange<'s, T> {
    sync: &'s mut dyn GradientSync,
    buffer: Vec<T>,
    time: Duration,
}

fn run<T: Float, N: Network<T>>(
    net: &mut N,
    (train, val): (Samples<'_, T>, Samples<'_, T>),
    config: &TrainConfig,
    observer: &mut dyn TrainObserver,
    sync: Option<&mut dyn GradientSync>,
    resume: Option<TrainState<T>>,
    save_state: Option<PathBuf>,
) -> Result<History, TrainError> {
    check_config(config)?;
    train.check::<N::Input>("training")?;
    val.check::<N::Input>("validation")?;
    if train.is_empty() {
        return Err(TrainError::Empty("training"));
    }
    if val.is_empty() {
        return Err(TrainError::Empty("validation"));
    }
    let sample_len = <N::Input as Shape>::LEN;
    let classes = <N::Output as Shape>::LEN;

    let mut rng = StdRng::seed_from_u64(config.seed);
    let (train_eval_images, train_eval_labels) = train_eval_subset(train, config, sample_len);

    let mut optimizer = config
        .optimizer
        .build::<T>(config.learning_rate, config.weight_decay);
    let mut exchange = sync.map(|sync| {
        let mut len = 2; // the loss and the error flag
        net.params(&mut |_, p| {
            if p.kind != ParamKind::Buffer {
                len += p.value.len();
            }
        });
        Exchange {
            sync,
            buffer: vec![T::ZERO; len],
            time: Duration::ZERO,
        }
    });
    let mut history = History::default();
    let mut best_params: Vec<Vec<T>> = Vec::new();
    // Buffers reused by every step and evaluation.
    let mut order: Vec<usize> = Vec::with_capacity(train.len());
    let mut first_epoch = 1;
    if let Some(state) = resume {
        check_resume(&state, config, train.len())?;
        optimizer
            .load_state(state.optimizer)
            .map_err(|e| TrainError::State(e.to_string()))?;
        history = state.history;
        best_params = state.best;
        first_epoch = state.epoch + 1;
        // The shuffles are one stream from the seed: replaying those of the epochs done puts
        // the generator where the interrupted run left it.
        if config.shuffle {
            for _ in 0..state.epoch {
                fill_epoch_order(&mut order, train.len(), Some(&mut rng as &mut dyn RngCore));
            }
        }
    }
    let mut batch = Tensor::<N::Input, T>::zeros(config.batch_size.min(train.len()));
    let mut labels: Vec<usize> = Vec::with_capacity(config.batch_size);
    let mut grad: Vec<T> = Vec::new();
    let mut eval_ws = crate::Workspace::<T>::new();
    let (mut scratch, mut predicted) = (Vec::new(), Vec::new());
    let saves = exchange.as_ref().is_none_or(|e| e.sync.rank() == 0);

    let iterations = train.len().div_ceil(config.batch_size);
    for epoch in first_epoch..=config.epochs {
        let started = Instant::now();
        optimizer.set_learning_rate(config.schedule.learning_rate(config.learning_rate, epoch));
        let shuffle = if config.shuffle {
            Some(&mut rng as &mut dyn RngCore)
        } else {
            None
        };
        fill_epoch_order(&mut order, train.len(), shuffle);
        observer.epoch_started(epoch, iterations);
        let mut step_time = Duration::ZERO;
        let mut loss_sum = 0.0;
        if let Some(exchange) = exchange.as_mut() {
            exchange.time = Duration::ZERO;
        }
        for (it, global) in order.chunks(config.batch_size).enumerate() {
            let iteration = it + 1;
            let slice = match &exchange {
                Some(e) => replica_slice(global.len(), e.sync.rank(), e.sync.replicas()),
                None => 0..global.len(),
            };
            // Where this replica's first sample is in the epoch's order.
            let first = it * config.batch_size + slice.start;
            let indices = &global[slice];
            batch.set_batch(indices.len());
            labels.clear();
            for (j, &i) in indices.iter().enumerate() {
                let sample = batch.sample_mut(j);
                sample.copy_from_slice(&train.images[i * sample_len..(i + 1) * sample_len]);
                if !config.augment.is_off() {
                    let mut draws = augment_rng(config.seed, epoch, first + j);
                    config
                        .augment
                        .apply_to::<N::Input, T, _>(sample, &mut draws);
                }
                labels.push(train.labels[i]);
            }

            let step_started = Instant::now();
            let step = StepBatch {
                images: &batch,
                labels: &labels,
                classes,
                epoch,
                iteration,
            };
            let loss = match exchange.as_mut() {
                None => train_step(net, optimizer.as_mut(), step, &mut grad, config)?,
                Some(exchange) => parallel_step(
                    net,
                    optimizer.as_mut(),
                    step,
                    global.len(),
                    &mut grad,
                    config,
                    exchange,
                )?,
            };
            step_time += step_started.elapsed();

            history.loss_per_iteration.push(loss);
            loss_sum += loss;
            let done = (it * config.batch_size + global.len()) as f64;
            observer.step_done(&StepInfo {
                epoch,
                iteration,
                iterations,
                loss,
                images_per_sec: done / step_time.as_secs_f64().max(1e-9),
            });
        }

        predicted.clear();
        predict_into(
            net,
            train_eval_images.as_deref().unwrap_or(train.images),
            config.eval_batch_size,
            &mut eval_ws,
            &mut scratch,
            &mut predicted,
        )?;
        let train_acc = accuracy(
            &predicted,
            train_eval_labels.as_deref().unwrap_or(train.labels),
        );
        predicted.clear();
        predict_into(
            net,
            val.images,
            config.eval_batch_size,
            &mut eval_ws,
            &mut scratch,
            &mut predicted,
        )?;
        let val_acc = accuracy(&predicted, val.labels);

        // The later epoch wins a tie.
        if history.best_epoch == 0 || val_acc >= history.best_val_acc {
            history.best_epoch = epoch;
            history.best_val_acc = val_acc;
            if config.keep == Keep::Best {
                snapshot(net, &mut best_params);
            }
        }
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / iterations as f64,
            train_acc,
            val_acc,
            learning_rate: optimizer.learning_rate(),
            seconds: started.elapsed().as_secs_f64(),
            train_images_per_sec: train.len() as f64 / step_time.as_secs_f64().max(1e-9),
            sync_seconds: exchange.as_ref().map_or(0.0, |e| e.time.as_secs_f64()),
        };
        observer.epoch_done(&stats);
        history.epochs.push(stats);

        if let Some(path) = save_state.as_ref().filter(|_| saves) {
            let state = TrainState {
                epoch,
                seed: config.seed,
                batch_size: config.batch_size,
                train_len: train.len(),
                augment: config.augment,
                history: history.clone(),
                optimizer: optimizer.state(),
                best: best_params.clone(),
            };
            save_train_state(net, &state, path).map_err(|e| TrainError::State(e.to_string()))?;
        }
    }
    if config.keep == Keep::Best {
        restore(net, &best_params);
    }
    Ok(history)
}

/// Checks that `state` continues a run of `config` on training data of `train_len` samples.
fn check_resume<T>(
    state: &TrainState<T>,
    config: &TrainConfig,
    train_len: usize,
) -> Result<(), TrainError> {
    let differs = |what: &str, was: String, now: String| {
        Err(TrainError::State(format!(
            "the saved run used {what} {was}, this one {now}: a resumed run must use the same"
        )))
    };
    if state.seed != config.seed {
        return differs("seed", state.seed.to_string(), config.seed.to_string());
    }
    if state.batch_size != config.batch_size {
        return differs(
            "batch size",
            state.batch_size.to_string(),
            config.batch_size.to_string(),
        );
    }
    if state.train_len != train_len {
        return differs(
            "a number of training samples of",
            state.train_len.to_string(),
            train_len.to_string(),
        );
    }
    if state.augment != config.augment {
        return differs(
            "augmentation",
            state.augment.to_string(),
            config.augment.to_string(),
        );
    }
    if state.optimizer.name != config.optimizer.name() {
        return differs(
            "the optimizer",
            state.optimizer.name.clone(),
            config.optimizer.name().to_string(),
        );
    }
    if state.epoch > config.epochs {
        return Err(TrainError::State(format!(
            "the saved run is at epoch {}, past the {} epochs asked for",
            state.epoch, config.epochs
        )));
    }
    Ok(())
}

/// The generator of the augmentation draws of the sample at `position` in `epoch`'s order: a
/// function of the three alone (not a stream), so that a replica's slice, a resumed run and a
/// run that never stopped draw the same for every sample.
fn augment_rng(seed: u64, epoch: usize, position: usize) -> StdRng {
    // SplitMix64's finaliser mixes each input in, so nearby seeds, epochs and positions give
    // unrelated generators.
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    // "augment" in ASCII: the augmentation's draws differ from the shuffles' of the same seed.
    let salt = 0x0061_7567_6d65_6e74;
    StdRng::seed_from_u64(mix(mix(mix(seed ^ salt) ^ epoch as u64) ^ position as u64))
}

/// A training step's batch, and where it is in the run (for error messages).
struct StepBatch<'b, I: Shape, T: Float> {
    images: &'b Tensor<I, T>,
    labels: &'b [usize],
    classes: usize,
    epoch: usize,
    iteration: usize,
}

/// One training step on a batch: forward pass, loss, backward pass, then [`finish_step`];
/// returns the loss. It runs on a pool thread as a whole, so the step moves to the pool once
/// instead of once per pass (see [`on_pool`](crate::kernels::on_pool)).
fn train_step<T: Float, N: Network<T>>(
    net: &mut N,
    optimizer: &mut dyn Optimizer<T>,
    step: StepBatch<'_, N::Input, T>,
    grad: &mut Vec<T>,
    config: &TrainConfig,
) -> Result<f64, TrainError> {
    let StepBatch {
        images,
        labels,
        classes,
        epoch,
        iteration,
    } = step;
    let at = (epoch, iteration);
    crate::kernels::on_pool(move || {
        let scores = net.forward(images, Mode::Train);
        grad.resize(scores.len(), T::ZERO);
        let data_loss = config
            .loss
            .compute(scores, labels, classes, grad)
            .map_err(|source| TrainError::Loss {
                epoch,
                iteration,
                source,
            })?
            .to_f64();
        if !data_loss.is_finite() {
            return Err(diverged(at, optimizer.learning_rate(), data_loss, None));
        }
        net.backward(grad);
        finish_step(net, optimizer, data_loss, config, at)
    })
}

/// The error of a step at `(epoch, iteration)` whose loss or gradient is not finite.
fn diverged(
    (epoch, iteration): (usize, usize),
    learning_rate: f64,
    loss: f64,
    parameter: Option<String>,
) -> TrainError {
    TrainError::Diverged {
        epoch,
        iteration,
        learning_rate,
        loss,
        parameter,
    }
}

/// The end of a step whose gradients of the data loss `data_loss` are in `net`: the
/// regularisation gradient, the divergence checks, gradient clipping and the update; returns
/// the loss (regularisation included).
fn finish_step<T: Float, N: Network<T>>(
    net: &mut N,
    optimizer: &mut dyn Optimizer<T>,
    data_loss: f64,
    config: &TrainConfig,
    at: (usize, usize),
) -> Result<f64, TrainError> {
    let lr = optimizer.learning_rate();
    if !data_loss.is_finite() {
        return Err(diverged(at, lr, data_loss, None));
    }
    let penalty = config.regularization.add_gradient(net, config.reg_lambda);
    let loss = data_loss + penalty;
    if !loss.is_finite() {
        return Err(diverged(at, lr, loss, None));
    }
    if let Some(parameter) = first_non_finite_gradient(net) {
        return Err(diverged(at, lr, loss, Some(parameter)));
    }
    if let Some(max_norm) = config.clip_grad_norm {
        clip_grad_norm(net, max_norm);
    }
    optimizer.step(net);
    Ok(loss)
}

/// One data-parallel training step on this replica's slice (`step`) of a global batch of
/// `global_n` samples; see [`train_net_parallel`]. Returns the global batch's loss.
fn parallel_step<T: Float, N: Network<T>>(
    net: &mut N,
    optimizer: &mut dyn Optimizer<T>,
    step: StepBatch<'_, N::Input, T>,
    global_n: usize,
    grad: &mut Vec<T>,
    config: &TrainConfig,
    exchange: &mut Exchange<'_, T>,
) -> Result<f64, TrainError> {
    let StepBatch {
        images,
        labels,
        classes,
        epoch,
        iteration,
    } = step;
    let buffer = &mut exchange.buffer;
    let (loss_at, flag_at) = (buffer.len() - 2, buffer.len() - 1);
    // This replica's share of the global mean: exactly 1 with one replica.
    let scale = T::from_f64(labels.len() as f64 / global_n as f64);
    // Forward, loss and backward on the pool; the exchange on this thread (an MPI library may
    // insist on being called from the thread that started it).
    let local_error = crate::kernels::on_pool(|| {
        if labels.is_empty() {
            // A global batch smaller than the number of replicas: nothing to add.
            buffer.fill(T::ZERO);
            return None;
        }
        let scores = net.forward(images, Mode::Train);
        grad.resize(scores.len(), T::ZERO);
        match config.loss.compute(scores, labels, classes, grad) {
            Err(source) => {
                buffer.fill(T::ZERO);
                buffer[flag_at] = T::ONE;
                Some(source)
            }
            Ok(data_loss) => {
                net.backward(grad);
                let mut at = 0;
                net.params(&mut |_, p| {
                    if p.kind != ParamKind::Buffer {
                        for (b, &g) in buffer[at..at + p.grad.len()].iter_mut().zip(p.grad) {
                            *b = g * scale;
                        }
                        at += p.grad.len();
                    }
                });
                buffer[loss_at] = data_loss * scale;
                buffer[flag_at] = T::ZERO;
                None
            }
        }
    });
    let started = Instant::now();
    let reduced = all_reduce_sum(exchange.sync, buffer);
    exchange.time += started.elapsed();
    let sync_error = |source| TrainError::Sync {
        epoch,
        iteration,
        source,
    };
    reduced.map_err(sync_error)?;
    if let Some(source) = local_error {
        return Err(TrainError::Loss {
            epoch,
            iteration,
            source,
        });
    }
    if buffer[flag_at] != T::ZERO {
        return Err(sync_error(SyncError::new(
            "another replica could not compute its loss (a label that is not a class)",
        )));
    }
    let buffer = &exchange.buffer;
    crate::kernels::on_pool(move || {
        let mut at = 0;
        net.params_mut(&mut |_, p| {
            if p.kind != ParamKind::Buffer {
                p.grad.copy_from_slice(&buffer[at..at + p.grad.len()]);
                at += p.grad.len();
            }
        });
        let data_loss = buffer[loss_at].to_f64();
        finish_step(net, optimizer, data_loss, config, (epoch, iteration))
    })
}

/// The name of the first trained parameter with a NaN or infinite gradient. A pass over the
/// gradients costs one comparison per parameter, little next to a forward and backward pass.
fn first_non_finite_gradient<T: Float, N: Network<T> + ?Sized>(net: &N) -> Option<String> {
    let mut found = None;
    net.params(&mut |layer, p| {
        if found.is_none() && p.kind != ParamKind::Buffer && !all_finite(p.grad) {
            found = Some(format!("{layer}.{}", p.name));
        }
    });
    found
}

/// Whether every value is finite. Whole chunks are checked without an early exit inside, so
/// that the check vectorises (a per-value early exit kept it scalar: ~10 % of a batch-10 step
/// of the SmallCnn, 176,000 gradient values).
fn all_finite<T: Float>(values: &[T]) -> bool {
    values
        .chunks(256)
        .all(|chunk| chunk.iter().fold(true, |ok, v| ok & v.is_finite()))
}

fn check_config(config: &TrainConfig) -> Result<(), TrainError> {
    let bad = |what: String| Err(TrainError::Config(what));
    if config.batch_size == 0 {
        return bad("the batch size must be at least 1".into());
    }
    if config.eval_batch_size == 0 {
        return bad("the evaluation batch size must be at least 1".into());
    }
    if !(config.learning_rate.is_finite() && config.learning_rate > 0.0) {
        return bad(format!(
            "the learning rate must be positive, not {}",
            config.learning_rate
        ));
    }
    match config.schedule {
        Schedule::Step(s) if !(s.factor.is_finite() && s.factor > 0.0) => {
            return bad(format!(
                "the learning-rate decay must be positive, not {}",
                s.factor
            ));
        }
        Schedule::Cosine(s) if !(s.min_lr.is_finite() && s.min_lr >= 0.0) => {
            return bad(format!(
                "the cosine schedule's minimum learning rate must be zero or positive, not {}",
                s.min_lr
            ));
        }
        _ => {}
    }
    if !(config.weight_decay.is_finite() && config.weight_decay >= 0.0) {
        return bad(format!(
            "the weight decay must be zero or positive, not {}",
            config.weight_decay
        ));
    }
    let smoothing = config.loss.label_smoothing;
    if !(0.0..=1.0).contains(&smoothing) {
        return bad(format!(
            "the label smoothing must be in [0, 1], not {smoothing}"
        ));
    }
    if let Some(max) = config.clip_grad_norm
        && !(max.is_finite() && max > 0.0)
    {
        return bad(format!(
            "the gradient-clipping norm must be positive, not {max}"
        ));
    }
    if !(config.reg_lambda.is_finite() && config.reg_lambda >= 0.0) {
        return bad(format!(
            "the regularization strength must be zero or positive, not {}",
            config.reg_lambda
        ));
    }
    Ok(())
}

/// The training samples used to measure training accuracy: `None` for the whole set, else a
/// copy of a subset drawn once (sorted, so it is read in data-set order).
fn train_eval_subset<'a, T: Float>(
    train: Samples<'a, T>,
    config: &TrainConfig,
    sample_len: usize,
) -> (Option<Vec<T>>, Option<Vec<usize>>) {
    match config.train_eval_samples {
        Some(n) if n < train.len() => {
            // A generator of its own, so the subset does not shift the shuffles.
            let mut rng = StdRng::seed_from_u64(config.seed ^ 0x7472_6169_6e5f_6576);
            let all: Vec<usize> = (0..train.len()).collect();
            let mut chosen: Vec<usize> = all.choose_multiple(&mut rng, n).copied().collect();
            chosen.sort_unstable();
            let mut images = Vec::with_capacity(n * sample_len);
            for &i in &chosen {
                images.extend_from_slice(&train.images[i * sample_len..(i + 1) * sample_len]);
            }
            let labels = chosen.iter().map(|&i| train.labels[i]).collect();
            (Some(images), Some(labels))
        }
        _ => (None, None),
    }
}

/// Copies every parameter (buffers included) into `store`, reusing its vectors.
fn snapshot<T: Float, N: Network<T> + ?Sized>(net: &N, store: &mut Vec<Vec<T>>) {
    let mut index = 0;
    net.params(&mut |_, p| {
        if store.len() <= index {
            store.push(Vec::new());
        }
        store[index].clear();
        store[index].extend_from_slice(p.value);
        index += 1;
    });
}

/// Puts a [`snapshot`] back.
fn restore<T: Float, N: Network<T> + ?Sized>(net: &mut N, store: &[Vec<T>]) {
    let mut index = 0;
    net.params_mut(&mut |_, p| {
        match store.get(index) {
            Some(saved) if saved.len() == p.value.len() => p.value.copy_from_slice(saved),
            _ => {}
        }
        index += 1;
    });
}
