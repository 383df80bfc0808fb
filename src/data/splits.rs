//! [`DataSplits`]: train / val / test with class names, normalisation and origin.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{DataFormat, Dataset, Normalization};
use crate::{Image, Shape};

/// Where a [`DataSplits`] came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// Files of a known format in this folder.
    Files {
        /// The format.
        format: DataFormat,
        /// The data folder.
        dir: PathBuf,
    },
    /// The built-in synthetic data set (not CIFAR-100).
    Synthetic,
    /// Data built in memory by the program.
    Memory,
}

impl DataSource {
    /// The data set's name (the `dataset` field of `metrics.json`): `"mnist"`, `"cifar10"`,
    /// `"cifar100"` (binary or Matlab files), `"image-folder"`, `"synthetic"` or `"memory"`.
    pub fn name(&self) -> &'static str {
        match self {
            DataSource::Files { format, .. } => match format {
                DataFormat::Mnist => "mnist",
                DataFormat::Cifar10 => "cifar10",
                DataFormat::Cifar100 | DataFormat::Cifar100Mat => "cifar100",
                DataFormat::Folder => "image-folder",
            },
            DataSource::Synthetic => "synthetic",
            DataSource::Memory => "memory",
        }
    }

    /// The data folder, for files (the `data_dir` field of `metrics.json`).
    pub fn dir(&self) -> Option<&Path> {
        match self {
            DataSource::Files { dir, .. } => Some(dir),
            _ => None,
        }
    }

    /// Whether this is the synthetic data set.
    pub fn is_synthetic(&self) -> bool {
        matches!(self, DataSource::Synthetic)
    }
}

impl fmt::Display for DataSource {
    /// `CIFAR-100 (data/cifar100)`, `MNIST-style IDX files (data/mnist)`, ... or
    /// `synthetic data (built in, not CIFAR-100)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataSource::Files { format, dir } => {
                let what = match format {
                    DataFormat::Mnist => "MNIST-style IDX files",
                    DataFormat::Cifar10 => "CIFAR-10",
                    DataFormat::Cifar100 | DataFormat::Cifar100Mat => "CIFAR-100",
                    DataFormat::Folder => "image folder",
                };
                write!(f, "{what} ({})", dir.display())
            }
            DataSource::Synthetic => write!(f, "synthetic data (built in, not CIFAR-100)"),
            DataSource::Memory => write!(f, "data built in memory"),
        }
    }
}

/// The three splits of a data set of images of shape `S`, with what is needed to describe and
/// un-normalise them.
#[derive(Clone, Debug)]
pub struct DataSplits<S: Shape = Image<32, 32, 3>> {
    /// Training images.
    pub train: Dataset<S>,
    /// Validation images.
    pub val: Dataset<S>,
    /// Test images.
    pub test: Dataset<S>,
    /// Class names, in label order (`train.num_classes` of them).
    pub label_names: Vec<String>,
    /// Per-channel mean and population standard deviation (ddof 0) of the training split in
    /// [0, 1] pixel units, applied to every image (`S::C` channels).
    pub normalization: Normalization,
    /// Where the data came from; say it wherever the data is shown.
    pub source: DataSource,
}

impl<S: Shape> DataSplits<S> {
    /// Splits from your own data sets: the normalisation is computed on `train` (whose values
    /// must be in [0, 1] units, e.g. from [`Dataset::from_u8`]) and applied to all three.
    /// `label_names` gives one name per class (`train.num_classes` of them, the same count in
    /// `val` and `test`).
    pub fn from_datasets(
        mut train: Dataset<S>,
        mut val: Dataset<S>,
        mut test: Dataset<S>,
        label_names: Vec<String>,
    ) -> Result<Self, super::DataError> {
        for (d, which) in [(&train, "train"), (&val, "val"), (&test, "test")] {
            d.validate()?;
            if d.num_classes != label_names.len() {
                return Err(super::DataError::BadClassNames {
                    path: PathBuf::from(which),
                    detail: format!(
                        "{} class names for {} classes",
                        label_names.len(),
                        d.num_classes
                    ),
                });
            }
        }
        let normalization = Normalization::of_images(&train.images, S::C.max(1));
        for d in [&mut train, &mut val, &mut test] {
            normalization.normalize(&mut d.images);
        }
        Ok(DataSplits {
            train,
            val,
            test,
            label_names,
            normalization,
            source: DataSource::Memory,
        })
    }

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

    /// The per-channel mean as `f32` (`S::C` values).
    pub fn channel_mean(&self) -> Vec<f32> {
        self.normalization.mean_f32()
    }

    /// The per-channel std as `f32` (`S::C` values).
    pub fn channel_std(&self) -> Vec<f32> {
        self.normalization.std_f32()
    }

    /// Undoes the normalisation of one NHWC image (any number of pixels), giving 8-bit RGB
    /// values (rounded, clamped to 0..=255), e.g. to draw it: with fewer than three channels the
    /// first is drawn grey (three times), with more the first three are drawn.
    pub fn to_rgb8(&self, image: &[f32]) -> Vec<u8> {
        let values = self.normalization.to_u8(image);
        let c = S::C.max(1);
        values
            .chunks_exact(c)
            .flat_map(|px| std::array::from_fn::<u8, 3, _>(|k| px[if c >= 3 { k } else { 0 }]))
            .collect()
    }
}
