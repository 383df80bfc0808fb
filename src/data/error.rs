//! The error type of the data module.

use std::path::PathBuf;

/// Everything that can go wrong while loading CIFAR-100.
///
/// Every message is one line and starts with the file (or folder) it is
/// about, for example
/// `data/cifar100/train.mat: no variable 'coarse_labels' (the file may be truncated or damaged)`,
/// so that a command-line program can print it after `error: ` as it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data folder does not exist.
    #[error(
        "{}: folder not found (get cifar-100-matlab.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there; see data/README.md)",
        path.display()
    )]
    DirNotFound {
        /// The folder that was asked for.
        path: PathBuf,
    },

    /// The data "folder" exists but is not a folder.
    #[error("{}: not a folder", path.display())]
    NotADirectory {
        /// The path that was asked for.
        path: PathBuf,
    },

    /// `train.mat` or `test.mat` is missing from the data folder.
    #[error(
        "{}: file not found (get cifar-100-matlab.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it; see data/README.md)",
        path.display()
    )]
    FileNotFound {
        /// The missing file.
        path: PathBuf,
    },

    /// The operating system could not read the file.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// The file is not a MAT level-5 file (no valid 128-byte header), or a
    /// MAT version that cannot be read (v4, v7.3/HDF5).
    #[error("{}: not a MAT file ({reason})", path.display())]
    NotMatFile {
        /// The file.
        path: PathBuf,
        /// Why, in a few words.
        reason: String,
    },

    /// The file ends before the end of a variable: it was cut short (an
    /// interrupted download or copy).
    #[error(
        "{}: the file is truncated: the variable at byte {offset} needs {needed} bytes but only {available} remain (download and unpack it again)",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Byte offset of the variable that is cut short.
        offset: u64,
        /// Bytes the variable declares (with its 8-byte tag).
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// The file has a valid header but its contents cannot be parsed.
    #[error("{}: damaged MAT file ({detail})", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What was found, in a few words.
        detail: String,
    },

    /// A required variable (`data` or `coarse_labels`) is not in the file.
    ///
    /// The `matfile` crate silently drops arrays whose bytes are damaged, so
    /// this is also what a damaged file looks like.
    #[error("{}: no variable '{name}' (the file may be truncated or damaged)", path.display())]
    MissingVariable {
        /// The file.
        path: PathBuf,
        /// The variable that is missing.
        name: &'static str,
    },

    /// A required variable is listed in the file but its contents could not
    /// be read (the MAT parser dropped it because its bytes are damaged).
    #[error("{}: variable '{name}' is present but could not be read (the file is damaged)", path.display())]
    UnreadableVariable {
        /// The file.
        path: PathBuf,
        /// The variable that could not be read.
        name: &'static str,
    },

    /// A required variable is not a real numeric matrix (for example a char
    /// or cell array, a sparse or a complex matrix).
    #[error("{}: variable '{name}' is {found}; expected a real numeric matrix", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The variable.
        name: &'static str,
        /// What it is instead, e.g. `a char array`.
        found: String,
    },

    /// `data` is not an N x 3072 matrix.
    #[error(
        "{}: variable 'data' is {dims}; expected N x 3072 (one 32x32 RGB image per row)",
        path.display()
    )]
    BadDataShape {
        /// The file.
        path: PathBuf,
        /// The dimensions found, e.g. `100 x 1024`.
        dims: String,
    },

    /// `coarse_labels` is not a vector (N x 1 or 1 x N).
    #[error("{}: variable 'coarse_labels' is {dims}; expected N x 1", path.display())]
    BadLabelShape {
        /// The file.
        path: PathBuf,
        /// The dimensions found, e.g. `10 x 2`.
        dims: String,
    },

    /// The number of labels differs from the number of images.
    #[error(
        "{}: 'coarse_labels' has {labels} labels but 'data' has {images} images",
        path.display()
    )]
    LabelCountMismatch {
        /// The file.
        path: PathBuf,
        /// Number of images (rows of `data`).
        images: usize,
        /// Number of labels.
        labels: usize,
    },

    /// A label is not an integer in `0..num_classes`.
    #[error(
        "{}: label {} of image {index} is not an integer in 0..{}",
        path.display(),
        number(*value),
        num_classes.saturating_sub(1)
    )]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// Index of the image (row) whose label is wrong, from 0.
        index: usize,
        /// The value found.
        value: f64,
        /// Number of classes (labels must be below it).
        num_classes: usize,
    },

    /// A pixel value is not a number in 0..=255.
    #[error(
        "{}: pixel value {} of image {index} is outside 0..255",
        path.display(),
        number(*value)
    )]
    BadPixel {
        /// The file.
        path: PathBuf,
        /// Index of the image (row), from 0.
        index: usize,
        /// The value found.
        value: f64,
    },

    /// The file holds too few images to be split.
    #[error("{}: only {count} images; at least {min} are needed", path.display())]
    TooFewImages {
        /// The file.
        path: PathBuf,
        /// Number of images found.
        count: usize,
        /// The minimum: 5 for `train.mat` (4/5 training, 1/5 validation), 1 for `test.mat`.
        min: usize,
    },
}

/// A value for a message: whole numbers without a fraction, others short
/// (`1e300`, not 300 digits).
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:?}")
    }
}
