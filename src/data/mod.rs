//! Data: CIFAR-100 (Matlab version) with the notebook's split and
//! normalisation, a built-in synthetic stand-in with the same shapes, and
//! mini-batch helpers.
//!
//! - [`load_cifar100`] reads `train.mat` and `test.mat` (see
//!   `data/README.md` for where to get them) into [`DataSplits`]: train (the
//!   first 4/5 of `train.mat`), val (its last fifth) and test, NHWC f32
//!   images normalised per channel with the training split's mean and std,
//!   the 20 coarse labels and their names. Every bad folder or file gives a
//!   one-line [`DataError`] naming the file; nothing panics.
//! - [`synthetic`] makes a seeded synthetic data set with the same shapes
//!   and the same normalisation; it says it is synthetic
//!   ([`DataSource::Synthetic`], class names `synthetic_...`).
//! - [`epoch_order`] and [`Dataset::gather`] give allocation-free
//!   mini-batches; [`Dataset::truncate`] and [`add_label_noise`] serve
//!   `--limit-train` and `--label-noise`.
//! - [`mat_writer`] writes MAT level-5 files (for tests and benchmarks).
//!
//! ```
//! use constnet::data::{epoch_order, synthetic, SyntheticConfig};
//! use rand::SeedableRng;
//!
//! let data = synthetic(&SyntheticConfig { train: 200, val: 40, test: 40, seed: 1 });
//! println!("{}", data.summary());
//! let mut rng = rand::rngs::StdRng::seed_from_u64(123);
//! let order = epoch_order(data.train.len(), Some(&mut rng));
//! let (mut x, mut y) = (Vec::new(), Vec::new());
//! for batch in order.chunks(10) {
//!     data.train.gather(batch, &mut x, &mut y); // x: [10, 32, 32, 3], y: [10]
//! }
//! ```

#![deny(missing_docs)]

#[cfg(feature = "mat")]
mod cifar;
mod dataset;
mod error;
#[cfg(feature = "mat")]
mod mat_read;
#[cfg(feature = "mat")]
pub mod mat_writer;
mod normalize;
mod synthetic;

use std::fmt;
use std::path::{Path, PathBuf};

#[cfg(feature = "mat")]
pub use cifar::load_cifar100;
pub use dataset::{Dataset, add_label_noise, epoch_order, fill_epoch_order};
pub use error::DataError;
pub use synthetic::{SYNTHETIC_CLASSES, SyntheticConfig, synthetic, synthetic_class_names};

/// The names of CIFAR-100's 20 superclasses, in label order (`coarse_labels`
/// 0..=19). They are not read from `meta.mat`: the `matfile` crate cannot
/// read its cell array.
pub const CIFAR100_SUPERCLASSES: [&str; 20] = [
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
];

/// Where a [`DataSplits`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// CIFAR-100 (Matlab version) loaded from this folder.
    Cifar100 {
        /// The folder holding `train.mat` and `test.mat`.
        dir: PathBuf,
    },
    /// The built-in synthetic data set (not CIFAR-100).
    Synthetic,
}

impl DataSource {
    /// `"cifar100"` or `"synthetic"` (the `dataset` field of `metrics.json`).
    pub fn name(&self) -> &'static str {
        match self {
            DataSource::Cifar100 { .. } => "cifar100",
            DataSource::Synthetic => "synthetic",
        }
    }

    /// The data folder, for CIFAR-100 (the `data_dir` field of `metrics.json`).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            DataSource::Cifar100 { dir } => Some(dir),
            DataSource::Synthetic => None,
        }
    }

    /// Whether this is the synthetic data set.
    pub fn is_synthetic(&self) -> bool {
        matches!(self, DataSource::Synthetic)
    }
}

impl fmt::Display for DataSource {
    /// `CIFAR-100 (data/cifar100)` or `synthetic data (built in, not CIFAR-100)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Cifar100 { dir } => write!(f, "CIFAR-100 ({})", dir.display()),
            DataSource::Synthetic => write!(f, "synthetic data (built in, not CIFAR-100)"),
        }
    }
}

/// The three splits of a data set, with what is needed to describe and
/// un-normalise them.
#[derive(Clone, Debug)]
pub struct DataSplits {
    /// Training images.
    pub train: Dataset,
    /// Validation images.
    pub val: Dataset,
    /// Test images.
    pub test: Dataset,
    /// Class names, in label order (`train.num_classes` of them).
    pub label_names: Vec<String>,
    /// Per-channel (R, G, B) mean of the training split in [0, 1] pixel
    /// units, subtracted from every image.
    pub channel_mean: [f32; 3],
    /// Per-channel population standard deviation (ddof 0) of the training
    /// split in [0, 1] pixel units, by which every image was divided (1 for
    /// a channel that is constant over the training split).
    pub channel_std: [f32; 3],
    /// Where the data came from; say it wherever the data is shown.
    pub source: DataSource,
}

impl DataSplits {
    /// A one-line description, e.g.
    /// `synthetic data (built in, not CIFAR-100): 4000 train / 1000 val / 1000 test images, 20 classes`.
    pub fn summary(&self) -> String {
        format!(
            "{}: {} train / {} val / {} test images, {} classes",
            self.source,
            self.train.len(),
            self.val.len(),
            self.test.len(),
            self.train.num_classes
        )
    }

    /// Undoes the normalisation of one NHWC image (any number of pixels),
    /// giving 8-bit RGB values (rounded, clamped to 0..=255), e.g. to draw it.
    pub fn to_rgb8(&self, image: &[f32]) -> Vec<u8> {
        image
            .chunks_exact(Dataset::CHANNELS)
            .flat_map(|px| {
                std::array::from_fn::<u8, 3, _>(|c| {
                    let v = (px[c] * self.channel_std[c] + self.channel_mean[c]) * 255.0;
                    v.round().clamp(0.0, 255.0) as u8
                })
            })
            .collect()
    }
}
