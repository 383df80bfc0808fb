//! Training: the loss and regularization, six optimizers, learning-rate schedules, the training
//! loop with progress and history, data-parallel training, checkpoints and exact resume, and
//! evaluation metrics.
//!
//! A complete run on a tiny problem made inline (two clusters of 2-D points):
//!
//! ```
//! use constnet::layers::{Linear, Relu};
//! use constnet::train::{ConfusionMatrix, OnEpoch, Samples, TrainConfig, evaluate, train_net_with};
//! use constnet::{Image, net};
//!
//! net! { struct Mlp { input: Image<1, 1, 2>, fc1: Linear<2, 8>, relu: Relu, fc2: Linear<8, 2> } }
//!
//! // Class 0 around (-1, -1), class 1 around (1, 1).
//! let (mut images, mut labels) = (Vec::new(), Vec::new());
//! for i in 0..200 {
//!     let (class, wobble) = (i % 2, (i as f32 * 0.37).sin() * 0.5);
//!     let centre = if class == 0 { -1.0 } else { 1.0 };
//!     images.extend([centre + wobble, centre - wobble]);
//!     labels.push(class);
//! }
//! let (train, val) = (Samples::new(&images[..300], &labels[..150]), Samples::new(&images[300..], &labels[150..]));
//!
//! let mut net = Mlp::<f32>::new(1);
//! let config = TrainConfig { epochs: 3, batch_size: 10, learning_rate: 0.01, ..TrainConfig::default() };
//! let history = train_net_with(&mut net, train, val, &config, &mut OnEpoch(|e| {
//!     println!("epoch {}: loss {:.3}, train {:.2}, val {:.2}", e.epoch, e.train_loss, e.train_acc, e.val_acc)
//! }))?;
//! assert_eq!(history.best_val_acc, 1.0);
//! assert!(history.loss_per_iteration.last() < history.loss_per_iteration.first());
//!
//! let predicted = evaluate(&mut net, val, 100)?;
//! let confusion = ConfusionMatrix::from_predictions(2, val.labels, &predicted)?;
//! assert_eq!(confusion.accuracy(), 1.0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## How a run goes
//!
//! Each epoch visits the training samples in a fresh order (shuffled from [`TrainConfig::seed`],
//! or in data-set order when `shuffle` is false), in mini-batches of `batch_size`; the last
//! batch holds the remainder and is kept, as PyTorch's `DataLoader` does by default. Each
//! batch's images are augmented if [`TrainConfig::augment`] asks for it (random crop and flip,
//! [`Augment`](crate::data::Augment); off by default). A step is
//! forward ([`Mode::Train`](crate::Mode)), the loss ([`SoftmaxCrossEntropy`], with optional
//! label smoothing), backward, the [`Regularization`] gradient (weights only), optional
//! clipping of the gradients' global norm ([`clip_grad_norm`]), and an [`Optimizer`] step; it
//! reuses its batch, label and gradient buffers, so it does not allocate. Each epoch's learning
//! rate comes from the [`Schedule`] ([`StepDecay`] by default, or [`CosineWarmup`]). After each
//! epoch the network is evaluated in [`Mode::Eval`](crate::Mode) on a fixed random subset of
//! 1000 training samples (as the notebook's check; [`TrainConfig::train_eval_samples`]) and on the
//! whole validation set. With [`Keep::Best`] (the default) the parameters (buffers included)
//! of the epoch with the best validation accuracy (the later one on ties) are kept and put back
//! into the network at the end; with [`Keep::Last`] the last epoch's stay. A NaN or infinite
//! loss stops the run with [`TrainError::Diverged`] before the parameters are touched.
//!
//! A [`TrainSession`] can save the run's [`TrainState`] after every epoch
//! ([`save_train_state`]) and resume from it ([`load_train_state`], [`train_session`]), with
//! the same bits as a run that never stopped.
//!
//! Data-parallel training goes through [`train_net_parallel`] and a [`GradientSync`] (the
//! exchange with the other replicas; [`SingleProcess`] for one): each replica trains on its
//! slice of every global batch and the gradients are summed before every replica takes the
//! same step.
//!
//! The library prints nothing: a [`TrainObserver`] passed to [`train_net_with`] (or in a
//! [`TrainSession`]) is told of every
//! step and epoch (the examples draw a progress bar from it).
//!
//! ## Reproducibility
//!
//! The same network seed, data, [`TrainConfig`] and thread count give the same loss history and
//! parameters, bit for bit. The thread count does not change results either: the layers split
//! work across threads only where each output value is computed by one thread, and every sum
//! (over the batch, for parameter gradients) runs in a fixed order (see `Conv2d` and `Linear`
//! backward); the tests run one training in rayon pools of 1 and 2 threads and compare.
pub mod checkpoint;
pub mod clip;
pub mod loss;
pub mod metrics;
pub mod optimizer;
pub mod parallel;
pub mod regularization;
pub mod samples;
pub mod schedule;
pub mod state;
pub mod trainer;

pub use checkpoint::{
    CheckpointError, CheckpointInfo, LAYOUT, LAYOUT_KEY, load_checkpoint,
    load_checkpoint_with_info, load_train_state, read_checkpoint_info, save_checkpoint,
    save_checkpoint_with_info, save_train_state,
};
pub use clip::clip_grad_norm;
pub use loss::{LossError, SoftmaxCrossEntropy, softmax_cross_entropy};
pub use metrics::{ConfusedPair, ConfusionError, ConfusionMatrix, accuracy, evaluate, predictions};
pub use optimizer::{
    Adam, AdamW, Momentum, Nesterov, Optimizer, OptimizerKind, OptimizerState, OptimizerStateError,
    RmsProp, Sgd, Trainable, UnknownOptimizer,
};
pub use parallel::{GradientSync, SingleProcess, SyncError, replica_slice};
pub use regularization::{Regularization, UnknownRegularization};
pub use samples::{Samples, SamplesError};
pub use schedule::{CosineWarmup, LrSchedule, Schedule, StepDecay};
pub use state::TrainState;
pub use trainer::{
    EpochStats, History, Keep, OnEpoch, StepInfo, TrainConfig, TrainError, TrainObserver,
    TrainSession, UnknownKeep, train_net, train_net_parallel, train_net_with, train_session,
};
