//! [`Metrics`]: the contents of `metrics.json`, in the key order of the schema in
//! `examples/README.md` (the library has no serde: the programs own their serialisation).

use constnet::train::EpochStats;

/// Everything `metrics.json` holds, key by key in this order; `examples/README.md` documents the
/// schema. The keys from `lr_decay` on add the remaining options of the run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Metrics {
    /// `"cifar100"`, `"cifar10"`, `"mnist"`, `"image-folder"` or `"synthetic"`.
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
    /// Per-channel mean of the whole training split, in [0, 1] pixel units (one value per
    /// image channel).
    pub channel_mean: Vec<f32>,
    /// Per-channel standard deviation of the whole training split, in [0, 1] pixel units.
    pub channel_std: Vec<f32>,
    /// `"LeNet5"`, `"SmallCnn"`, `"SmallCnnBn"` or `"ResNet20"`.
    pub model: String,
    /// Trained parameters (weights and biases).
    pub parameters: usize,
    /// `"sgd"`, `"momentum"`, `"nesterov"`, `"rmsprop"`, `"adam"` or `"adamw"`.
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
    pub history: Vec<EpochRecord>,
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
    /// How the parameters started: `"he"` (He normal initialisation from `seed`) or the path
    /// of the `--init` checkpoint.
    pub init: String,
    /// AdamW's decoupled weight decay (`null` for the other optimizers).
    pub weight_decay: Option<f64>,
    /// `"step"` or `"cosine"`.
    pub schedule: String,
    /// Warm-up epochs of the cosine schedule.
    pub warmup_epochs: usize,
    /// Label smoothing of the loss.
    pub label_smoothing: f64,
    /// The gradients' global-norm limit, `null` when not clipped.
    pub clip_grad_norm: Option<f64>,
    /// `"best"` or `"last"`: whose parameters `model.safetensors` holds and the test set
    /// measures.
    pub keep: String,
    /// The `--resume` file, if any.
    pub resumed_from: Option<String>,
    /// MPI ranks that trained together (`--distributed`); 1 for a single process.
    pub ranks: usize,
    /// Mean wall time per training step spent in the gradient all-reduce on rank 0 (waiting
    /// for slower ranks included); 0 for a single process.
    pub allreduce_seconds_per_step: f64,
    /// The augmentation of the training batches: `"none"`, or `"crop4+flip"` with `--augment`.
    pub augment: String,
}

/// One epoch in `metrics.json`'s `history`: [`EpochStats`], field for field.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EpochRecord {
    /// The epoch, from 1.
    pub epoch: usize,
    /// Mean training loss of the epoch's iterations.
    pub train_loss: f64,
    /// Accuracy on a fixed subset of up to 1000 training images after the epoch.
    pub train_acc: f64,
    /// Validation accuracy after the epoch.
    pub val_acc: f64,
    /// The learning rate used during the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch, evaluation included.
    pub seconds: f64,
    /// Images per second of the training steps alone.
    pub train_images_per_sec: f64,
    /// Seconds spent exchanging gradients with other replicas (0 in one process).
    pub sync_seconds: f64,
}

impl From<&EpochStats> for EpochRecord {
    fn from(e: &EpochStats) -> Self {
        EpochRecord {
            epoch: e.epoch,
            train_loss: e.train_loss,
            train_acc: e.train_acc,
            val_acc: e.val_acc,
            learning_rate: e.learning_rate,
            seconds: e.seconds,
            train_images_per_sec: e.train_images_per_sec,
            sync_seconds: e.sync_seconds,
        }
    }
}
