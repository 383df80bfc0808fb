//! [`DataFormat`]: the file formats the loaders read, told apart by [`detect_format`], and
//! [`load`], which reads any of them.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use super::build::check_dir;
use super::cifar_bin::{CIFAR10_SUBDIR, CIFAR100_SUBDIR, resolve};
use super::{Cifar100Labels, DataError, DataSplits, idx, load_cifar10, load_cifar100_binary};
use crate::Shape;

/// A data set file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// MNIST / Fashion-MNIST IDX files (`train-images-idx3-ubyte`, ..., plain or `.gz`).
    Mnist,
    /// CIFAR-10 binary version (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`).
    Cifar10,
    /// CIFAR-100 binary version (`train.bin`, `test.bin`).
    Cifar100,
    /// CIFAR-100 Matlab version (`train.mat`, `test.mat`).
    Cifar100Mat,
    /// A folder of PNG images, one sub-folder per class (`ROOT/<class>/*.png`).
    Folder,
}

impl DataFormat {
    /// Every format, in the order [`detect_format`] tries them.
    pub const ALL: [DataFormat; 5] = [
        DataFormat::Cifar100Mat,
        DataFormat::Cifar100,
        DataFormat::Cifar10,
        DataFormat::Mnist,
        DataFormat::Folder,
    ];

    /// The name used by the programs' `--format`: `mnist`, `cifar10`, `cifar100`,
    /// `cifar100-mat` or `folder`.
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::Mnist => "mnist",
            DataFormat::Cifar10 => "cifar10",
            DataFormat::Cifar100 => "cifar100",
            DataFormat::Cifar100Mat => "cifar100-mat",
            DataFormat::Folder => "folder",
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`DataFormat::name`]'s.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown data format '{0}' (expected mnist, cifar10, cifar100, cifar100-mat or folder)")]
pub struct UnknownFormatName(pub String);

impl FromStr for DataFormat {
    type Err = UnknownFormatName;

    /// Parses a [`DataFormat::name`] (`fashion-mnist` and `idx` are accepted for `mnist`,
    /// `image-folder` for `folder`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "mnist" | "fashion-mnist" | "idx" => DataFormat::Mnist,
            "cifar10" => DataFormat::Cifar10,
            "cifar100" => DataFormat::Cifar100,
            "cifar100-mat" => DataFormat::Cifar100Mat,
            "folder" | "image-folder" => DataFormat::Folder,
            other => return Err(UnknownFormatName(other.to_string())),
        })
    }
}

/// Options of [`load`] that some formats use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// CIFAR-100 (binary): the coarse (default) or fine labels.
    pub cifar100_labels: Cifar100Labels,
}

/// Tells the format of the data set in `dir` from its files:
///
/// - `train.mat` → [`DataFormat::Cifar100Mat`];
/// - `train.bin` (also in `cifar-100-binary/`) → [`DataFormat::Cifar100`];
/// - `data_batch_1.bin` (also in `cifar-10-batches-bin/`) → [`DataFormat::Cifar10`];
/// - `train-images-idx3-ubyte` (or `train-images.idx3-ubyte`, either with `.gz`) →
///   [`DataFormat::Mnist`];
/// - sub-folders holding `.png` files (`ROOT/<class>/*.png` or `ROOT/train/<class>/*.png`) →
///   [`DataFormat::Folder`].
///
/// A missing folder, or one with none of these, is an error.
///
/// ```
/// use constnet::data::{detect_format, fixtures, DataFormat};
///
/// let dir = std::env::temp_dir().join(format!("constnet-detect-doc-{}", std::process::id()));
/// fixtures::write_mnist(&dir, 5, 2, 10, false)?;
/// assert_eq!(detect_format(&dir)?, DataFormat::Mnist);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn detect_format(dir: impl AsRef<Path>) -> Result<DataFormat, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    let has = |p: &Path| p.is_file();
    if has(&dir.join("train.mat")) {
        return Ok(DataFormat::Cifar100Mat);
    }
    if has(&resolve(dir, "train.bin", CIFAR100_SUBDIR).join("train.bin")) {
        return Ok(DataFormat::Cifar100);
    }
    if has(&resolve(dir, "data_batch_1.bin", CIFAR10_SUBDIR).join("data_batch_1.bin")) {
        return Ok(DataFormat::Cifar10);
    }
    if idx::find(dir, idx::TRAIN_IMAGES).is_some() {
        return Ok(DataFormat::Mnist);
    }
    let train = dir.join("train");
    let root = if train.is_dir() { train.as_path() } else { dir };
    let has_png_folder = std::fs::read_dir(root)
        .map_err(|source| DataError::Io {
            path: root.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .any(|e| {
            std::fs::read_dir(e.path()).is_ok_and(|mut files| {
                files.any(|f| {
                    f.is_ok_and(|f| {
                        f.path()
                            .extension()
                            .is_some_and(|x| x.eq_ignore_ascii_case("png"))
                    })
                })
            })
        });
    if has_png_folder {
        return Ok(DataFormat::Folder);
    }
    Err(DataError::UnknownFormat {
        path: dir.to_path_buf(),
    })
}

/// Loads the data set in `dir`, of format `format` (or the one [`detect_format`] finds when
/// `None`), as images of shape `S`: the loaders' common entry point. The files' image shape must
/// be `S` (for an image folder, the height and width; channels are converted), else
/// [`DataError::ShapeMismatch`]; name the network with [`DataError::for_network`].
///
/// ```
/// use constnet::data::{fixtures, load, DataError, DataSplits, LoadOptions};
/// use constnet::Image;
///
/// let dir = std::env::temp_dir().join(format!("constnet-load-doc-{}", std::process::id()));
/// fixtures::write_mnist(&dir, 10, 4, 10, false)?;
/// let mnist: DataSplits<Image<28, 28, 1>> = load(&dir, None, &LoadOptions::default())?;
/// assert_eq!((mnist.train.len(), mnist.val.len(), mnist.test.len()), (8, 2, 4));
/// // The wrong shape for the network: a clear error.
/// let err = load::<Image<32, 32, 3>>(&dir, None, &LoadOptions::default()).unwrap_err();
/// assert_eq!(
///     err.for_network("ResNet20").to_string(),
///     format!("ResNet20 takes 32x32x3 images; {} holds 28x28x1", dir.display())
/// );
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn load<S: Shape>(
    dir: impl AsRef<Path>,
    format: Option<DataFormat>,
    options: &LoadOptions,
) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    let format = match format {
        Some(f) => f,
        None => detect_format(dir)?,
    };
    match format {
        DataFormat::Mnist => idx::load_idx(dir),
        DataFormat::Cifar10 => load_cifar10(dir),
        DataFormat::Cifar100 => load_cifar100_binary(dir, options.cifar100_labels),
        #[cfg(feature = "mat")]
        DataFormat::Cifar100Mat => super::load_cifar100(dir),
        #[cfg(not(feature = "mat"))]
        DataFormat::Cifar100Mat => Err(DataError::FeatureDisabled {
            path: dir.join("train.mat"),
            feature: "mat",
        }),
        #[cfg(feature = "image-folder")]
        DataFormat::Folder => super::load_image_folder(dir),
        #[cfg(not(feature = "image-folder"))]
        DataFormat::Folder => Err(DataError::FeatureDisabled {
            path: dir.to_path_buf(),
            feature: "image-folder",
        }),
    }
}
