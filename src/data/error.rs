//! The error type of the data module.

use std::path::PathBuf;

/// Everything that can go wrong while loading a data set or building one from memory.
///
/// Every message is one line and, for files, starts with the file (or folder) it is
/// about, for example
/// `data/cifar100/train.mat: no variable 'coarse_labels' (the file may be truncated or damaged)`,
/// so that a command-line program can print it after `error: ` as it is. No loader panics on
/// any file content: every problem is one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data folder does not exist.
    #[error(
        "{}: folder not found (see data/README.md for where to get each data set and how to lay it out)",
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

    /// A file of the data set is missing from the data folder.
    #[error("{}: file not found ({hint})", path.display())]
    FileNotFound {
        /// The missing file.
        path: PathBuf,
        /// Where to get it, e.g. `get cifar-100-matlab.tar.gz from ... and unpack it; see data/README.md`.
        hint: &'static str,
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
        /// The minimum: 5 for a training file (4/5 training, 1/5 validation), 1 for a test file.
        min: usize,
    },

    /// In-memory data: the values are not one image of the data set's shape per label.
    #[error(
        "{values} values for {labels} labels: not {labels} images of {} ({} values each)",
        shape_text(shape),
        shape[0] * shape[1] * shape[2]
    )]
    LengthMismatch {
        /// Number of values given.
        values: usize,
        /// Number of labels given.
        labels: usize,
        /// The data set's sample shape `[H, W, C]`.
        shape: [usize; 3],
    },

    /// In-memory data: a label is not below the number of classes.
    #[error(
        "label {label} of image {index} is not in 0..{} ({num_classes} classes)",
        num_classes.saturating_sub(1)
    )]
    LabelOutOfRange {
        /// Index of the image, from 0.
        index: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        num_classes: usize,
    },

    /// Stored normalisation numbers that cannot be used.
    #[error("bad normalisation: {detail}")]
    BadNormalization {
        /// What is wrong.
        detail: String,
    },

    /// The images in the files are not of the shape the network takes.
    #[error(
        "{} takes {} images; {} holds {}",
        network.as_deref().unwrap_or("the network"),
        shape_text(expected),
        path.display(),
        shape_text(found)
    )]
    ShapeMismatch {
        /// The data folder or file.
        path: PathBuf,
        /// The shape asked for (the network's input), `[H, W, C]`.
        expected: [usize; 3],
        /// The shape of the images in the files.
        found: [usize; 3],
        /// The network's name, if known (see [`DataError::for_network`]).
        network: Option<String>,
    },

    /// A file does not start with the magic number of its format.
    #[error("{}: not {what}: it starts with 0x{found:08x}, expected 0x{expected:08x}", path.display())]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// What the file should be, e.g. `an IDX image file (unsigned bytes, 3 dimensions)`.
        what: &'static str,
        /// The first four bytes, big-endian.
        found: u32,
        /// The magic number expected.
        expected: u32,
    },

    /// A file is shorter than its header (or format) says.
    #[error(
        "{}: the file is truncated: {what} needs {needed} bytes but the file has {found} (download and unpack it again)",
        path.display()
    )]
    FileTruncated {
        /// The file.
        path: PathBuf,
        /// What needs the bytes, e.g. `the header (60000 images of 28x28)`.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes in the file.
        found: u64,
    },

    /// A file's size does not fit its format (extra bytes, a partial record).
    #[error("{}: wrong size: {detail}", path.display())]
    SizeMismatch {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// A labels file has a different number of labels than its images file has images.
    #[error("{}: {labels} labels, but {} has {images} images", path.display(), images_path.display())]
    CountMismatch {
        /// The labels file.
        path: PathBuf,
        /// Number of labels.
        labels: usize,
        /// The images file.
        images_path: PathBuf,
        /// Number of images.
        images: usize,
    },

    /// A compressed (`.gz`) file cannot be decompressed.
    #[error("{}: damaged gzip file ({detail})", path.display())]
    Decompress {
        /// The file.
        path: PathBuf,
        /// What the decompressor said.
        detail: String,
    },

    /// Reading this file needs a Cargo feature of constnet that is not enabled.
    #[error("{}: reading this file needs constnet's `{feature}` feature, which is not enabled", path.display())]
    FeatureDisabled {
        /// The file.
        path: PathBuf,
        /// The feature, e.g. `gzip`.
        feature: &'static str,
    },

    /// A class-names file cannot be used.
    #[error("{}: bad class names: {detail}", path.display())]
    BadClassNames {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },

    /// An image folder without images.
    #[error("{}: no images (expected class folders holding .png files: ROOT/<class>/*.png, see data/README.md)", path.display())]
    NoImages {
        /// The folder.
        path: PathBuf,
    },

    /// An image whose size differs from the images before it (sizes as height x width).
    #[error(
        "{}: {}x{} image, but {} and the images before it are {}x{}",
        path.display(), found[0], found[1], first.display(), expected[0], expected[1]
    )]
    MixedImageSizes {
        /// The first image of another size.
        path: PathBuf,
        /// Its `[height, width]`.
        found: [usize; 2],
        /// The first image read.
        first: PathBuf,
        /// Its `[height, width]`.
        expected: [usize; 2],
    },

    /// An image file that cannot be decoded.
    #[error("{}: cannot decode the image ({detail})", path.display())]
    BadImage {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        detail: String,
    },

    /// Images cannot be converted to the number of channels asked for.
    #[error("{}: cannot give {channels}-channel images (1 grey, 3 RGB or 4 RGBA)", path.display())]
    UnsupportedChannels {
        /// The data folder.
        path: PathBuf,
        /// The channels asked for.
        channels: usize,
    },

    /// A test class folder that is not a training class.
    #[error("{}: class '{class}' has no training folder (the training classes are {known})", path.display())]
    UnknownClass {
        /// The class folder.
        path: PathBuf,
        /// Its name.
        class: String,
        /// The training classes, comma-separated.
        known: String,
    },

    /// No known data format in a folder.
    #[error(
        "{}: no known data set files (expected MNIST-style IDX files, CIFAR-10 or CIFAR-100 binary files, CIFAR-100 train.mat/test.mat, or ROOT/<class>/*.png folders; see data/README.md)",
        path.display()
    )]
    UnknownFormat {
        /// The folder.
        path: PathBuf,
    },
}

impl DataError {
    /// Names the network in a [`DataError::ShapeMismatch`] (other errors are returned as they
    /// are), so that it reads `ResNet20 takes 32x32x3 images; data/mnist holds 28x28x1`.
    pub fn for_network(self, name: impl Into<String>) -> Self {
        match self {
            DataError::ShapeMismatch {
                path,
                expected,
                found,
                ..
            } => DataError::ShapeMismatch {
                path,
                expected,
                found,
                network: Some(name.into()),
            },
            other => other,
        }
    }
}

/// `HxWxC`.
pub(crate) fn shape_text(s: &[usize; 3]) -> String {
    format!("{}x{}x{}", s[0], s[1], s[2])
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
