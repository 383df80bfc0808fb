//! Data: datasets of any image shape, loaders for the usual file formats, a
//! built-in synthetic stand-in, normalisation, augmentation and mini-batch
//! helpers.
//!
//! - [`Dataset<S>`](Dataset) holds labelled images of the shape `S`
//!   ([`Image<H, W, C>`](crate::Image), 32x32x3 by default), NHWC f32; build
//!   one from your own data with [`Dataset::new`] / [`Dataset::from_u8`].
//!   [`DataSplits<S>`](DataSplits) holds train / val / test, the class names
//!   and the [`Normalization`].
//! - [`load`] reads any supported format into `DataSplits<S>`, checking the
//!   files' image shape against `S` ([`DataError::ShapeMismatch`]);
//!   [`detect_format`] tells the format from the files in a folder. The
//!   formats ([`DataFormat`]): MNIST / Fashion-MNIST IDX files
//!   ([`load_idx`]), CIFAR-10 binary ([`load_cifar10`]), CIFAR-100 binary
//!   ([`load_cifar100_binary`]), CIFAR-100 Matlab (`mat` feature) and an
//!   image folder `ROOT/<class>/*.png` (`image-folder` feature), whose
//!   decoder also reads a single image: `read_png`.
//!   `data/README.md` says where to get each.
//! - [`Augment`]: random crop with zero padding and horizontal flip of
//!   training batches, seeded.
//! - `load_cifar100` (`mat` feature) reads `train.mat` and `test.mat` (see
//!   `data/README.md` for where to get them) into [`DataSplits`]: train (the
//!   first 4/5 of `train.mat`), val (its last fifth) and test, NHWC f32
//!   images normalised per channel with the training split's mean and std,
//!   the 20 coarse labels and their names. Every bad folder or file gives a
//!   one-line [`DataError`] naming the file; nothing panics.
//! - [`synthetic`](fn@synthetic) makes a seeded synthetic data set with the same shapes
//!   and the same normalisation; it says it is synthetic
//!   ([`DataSource::Synthetic`], class names `synthetic_...`).
//! - [`epoch_order`] and [`Dataset::gather`] give allocation-free
//!   mini-batches; [`Dataset::truncate`] and [`add_label_noise`] serve
//!   `--limit-train` and `--label-noise`.
//! - `mat_writer` (`mat` feature) writes MAT level-5 files (for tests and
//!   benchmarks); `fixtures` (hidden) writes small files of every format for
//!   tests.
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

mod augment;
mod build;
#[cfg(feature = "mat")]
mod cifar;
mod cifar_bin;
mod dataset;
mod error;
#[doc(hidden)]
pub mod fixtures;
mod format;
mod idx;
#[cfg(feature = "image-folder")]
mod image_folder;
#[cfg(feature = "mat")]
mod mat_read;
#[cfg(feature = "mat")]
pub mod mat_writer;
mod normalize;
#[cfg(feature = "image-folder")]
mod png_image;
mod splits;
mod synthetic;

pub use augment::{Augment, UnknownAugment};
#[cfg(feature = "mat")]
pub use cifar::load_cifar100;
pub use cifar_bin::{
    CIFAR10_CLASSES, CIFAR100_CLASSES, Cifar100Labels, load_cifar10, load_cifar100_binary,
};
pub use dataset::{Dataset, add_label_noise, epoch_order, fill_epoch_order};
pub use error::DataError;
pub use format::{DataFormat, LoadOptions, UnknownFormatName, detect_format, load};
pub use idx::load_idx;
#[cfg(feature = "image-folder")]
pub use image_folder::load_image_folder;
pub use normalize::Normalization;
#[cfg(feature = "image-folder")]
pub use png_image::{PngImage, read_png};
pub use splits::{DataSource, DataSplits};
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
