//! [`Metrics`]: the contents of `metrics.json` (SPEC.md section 5; keys in the SPEC's order,
//! extra keys after them).

use constnet::train::EpochStats;

/// Everything `metrics.json` holds. The first keys are exactly SPEC.md's schema; the last ones
/// (from `lr_decay` on) add the remaining options of the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// `"cifar100"` or `"synthetic"`.
    pub dataset: String,
    /// The CIFAR-100 folder, `null` for synthetic data.
    pub data_dir: Option<String>,
    /// Training images used (after `--limit-train`).
    pub train_size: usize,
    /// Validation images.
    pub val_size: usize,
    /// Test images.
    pub test_size: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// Class names, in label order.
    pub label_names: Vec<String>,
    /// Per-channel mean of the whole training split, in [0, 1] pixel units.
    pub channel_mean: [f32; 3],
    /// Per-channel standard deviation of the whole training split, in [0, 1] pixel units.
    pub channel_std: [f32; 3],
    /// `"SmallCnn"` or `"SmallCnnBn"`.
    pub model: String,
    /// Trained parameters (weights and biases).
    pub parameters: usize,
    /// `"sgd"`, `"momentum"`, `"rmsprop"` or `"adam"`.
    pub optimizer: String,
    /// The initial learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// The run's seed.
    pub seed: u64,
    /// Threads of the pool the run used.
    pub threads: usize,
    /// Fraction of training labels replaced by another class.
    pub label_noise: f64,
    /// One entry per epoch.
    pub history: Vec<EpochStats>,
    /// The loss of every training iteration.
    pub loss_per_iteration: Vec<f64>,
    /// The epoch (from 1) with the best validation accuracy.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_val_acc: f64,
    /// Test accuracy of the best-validation parameters.
    pub test_acc: f64,
    /// Median over epochs of training images per second (training steps alone).
    pub train_images_per_sec: f64,
    /// Images per second of the test-set evaluation.
    pub eval_images_per_sec: f64,
    /// Learning-rate decay factor.
    pub lr_decay: f64,
    /// Epochs between decays.
    pub lr_decay_every: usize,
    /// `"none"`, `"l1"` or `"l2"`.
    pub regularization: String,
    /// Regularization strength.
    pub reg_lambda: f64,
    /// Whether mini-batches were shuffled.
    pub shuffle: bool,
    /// Training labels actually changed by the label noise.
    pub noisy_labels: usize,
    /// The `--init` checkpoint, if any.
    pub init: Option<String>,
    /// MPI ranks that trained together (`--distributed`); 1 for a single process.
    pub ranks: usize,
    /// Mean wall time per training step spent in the gradient all-reduce on rank 0 (waiting
    /// for slower ranks included); 0 for a single process.
    pub allreduce_seconds_per_step: f64,
}
