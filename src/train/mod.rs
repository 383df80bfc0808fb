//! Training: the loss and regularization, four optimizers, the training loop with progress and
//! history, checkpoints, and evaluation metrics.
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
//! batch holds the remainder and is kept, as PyTorch's `DataLoader` does by default. A step is
//! forward ([`Mode::Train`](crate::Mode)), [`softmax_cross_entropy`], backward, the
//! [`Regularization`] gradient (weights only), and an [`Optimizer`] step; it reuses its batch,
//! label and gradient buffers, so it does not allocate. After each epoch the network is
//! evaluated in [`Mode::Eval`](crate::Mode) on a fixed random subset of 1000 training samples
//! (as the seed's check; [`TrainConfig::train_eval_samples`]) and on the whole validation set,
//! and the learning rate is multiplied by `lr_decay` after every `lr_decay_every` epochs. The
//! parameters (buffers included) of the epoch with the best validation accuracy are kept and
//! put back into the network at the end. A NaN or infinite loss stops the run with
//! [`TrainError::Diverged`] before the parameters are touched.
//!
//! Data-parallel training goes through [`train_net_parallel`] and a [`GradientSync`] (the
//! exchange with the other replicas; [`SingleProcess`] for one): each replica trains on its
//! slice of every global batch and the gradients are summed before every replica takes the
//! same step.
//!
//! The library prints nothing: a [`TrainObserver`] passed to [`train_net_with`] is told of every
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
pub mod loss;
pub mod metrics;
pub mod optimizer;
pub mod parallel;
pub mod regularization;
pub mod samples;
pub mod trainer;

pub use checkpoint::{CheckpointError, load_checkpoint, save_checkpoint};
pub use loss::{LossError, softmax_cross_entropy};
pub use metrics::{ConfusedPair, ConfusionError, ConfusionMatrix, accuracy, evaluate, predictions};
pub use optimizer::{Optimizer, OptimizerKind, UnknownOptimizer};
pub use parallel::{GradientSync, SingleProcess, SyncError, replica_slice};
pub use regularization::{Regularization, UnknownRegularization};
pub use samples::{Samples, SamplesError};
pub use trainer::{
    EpochStats, History, OnEpoch, StepInfo, TrainConfig, TrainError, TrainObserver, train_net,
    train_net_parallel, train_net_with,
};
