//! The MNIST / Fashion-MNIST loader: IDX files, plain or gzip-compressed.

use std::path::{Path, PathBuf};

use super::build::{RawImages, check_dir, check_shape, finish, read_class_names, read_file};
use super::{DataError, DataFormat, DataSource, DataSplits};
use crate::Shape;

/// Where to get the files, for a missing-file message.
const HINT: &str = "get train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (MNIST or Fashion-MNIST) and put them there; see data/README.md";
/// The four files, by the names they are published under.
pub(crate) const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
/// An optional file of class names, one per line.
const CLASS_NAMES: &str = "classes.txt";
/// Largest decompressed `.gz` file accepted (MNIST's biggest is 47 MB).
#[cfg(feature = "gzip")]
const MAX_DECOMPRESSED: u64 = 1 << 31;

/// Loads MNIST or Fashion-MNIST (or any data set in their IDX layout) from `dir` as images of
/// shape `S`:
///
/// - `train-images-idx3-ubyte` and `train-labels-idx1-ubyte` (training and validation: the last
///   fifth, `floor(4n/5)` kept for training), `t10k-images-idx3-ubyte` and
///   `t10k-labels-idx1-ubyte` (test). Each may also be named with a dot (`train-images.idx3-ubyte`,
///   as some mirrors have it) or be gzip-compressed with `.gz` added (`gzip` feature).
/// - Images: IDX magic `0x00000803` (unsigned bytes, dimensions N x H x W, one channel) or
///   `0x00000804` (N x H x W x C, channels last); `S` must be `H x W x C` (28x28x1 for MNIST),
///   else [`DataError::ShapeMismatch`].
/// - Labels: magic `0x00000801`, one byte per image. The classes are named by `classes.txt`
///   (one name per line) when the folder has one, else `0`, `1`, ... up to the largest
///   training label; a label outside them is [`DataError::BadLabel`].
/// - Normalisation: per channel, as every loader (pixels / 255, minus the training mean, divided
///   by the training std).
///
/// Every problem (missing file, bad magic number, truncated file, extra bytes, label count or
/// range) is a [`DataError`] naming the file; nothing panics.
///
/// ```
/// use constnet::data::{load_idx, DataSplits};
/// use constnet::Image;
/// # let tmp = std::env::temp_dir().join(format!("constnet-doc-idx-{}", std::process::id()));
/// # constnet::data::fixtures::write_mnist(&tmp, 50, 10, 10, false).unwrap();
/// # let dir = tmp.as_path();
/// // `dir` holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte
/// // and t10k-labels-idx1-ubyte (50 and 10 images here).
/// let mnist: DataSplits<Image<28, 28, 1>> = load_idx(dir)?;
/// assert_eq!((mnist.train.len(), mnist.val.len(), mnist.test.len()), (40, 10, 10));
/// println!("{}", mnist.summary());
/// # std::fs::remove_dir_all(&tmp).unwrap();
/// # Ok::<(), constnet::data::DataError>(())
/// ```
pub fn load_idx<S: Shape>(dir: impl AsRef<Path>) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    let require = |stem: &str| {
        find(dir, stem).ok_or_else(|| DataError::FileNotFound {
            path: dir.join(stem),
            hint: HINT,
        })
    };
    let train_images = require(TRAIN_IMAGES)?;
    let train_labels = require(TRAIN_LABELS)?;
    let test_images = require(TEST_IMAGES)?;
    let test_labels = require(TEST_LABELS)?;

    let (mut train, shape, n_train) = read_images(&train_images)?;
    check_shape::<S>(dir, shape)?;
    let (mut test, test_shape, n_test) = read_images(&test_images)?;
    if test_shape != shape {
        return Err(DataError::SizeMismatch {
            path: test_images,
            detail: format!(
                "{}x{}x{} images, but {} holds {}x{}x{}",
                test_shape[0],
                test_shape[1],
                test_shape[2],
                train_images.display(),
                shape[0],
                shape[1],
                shape[2]
            ),
        });
    }
    train.labels = read_labels(&train_labels, &train_images, n_train)?;
    test.labels = read_labels(&test_labels, &test_images, n_test)?;

    let names_path = dir.join(CLASS_NAMES);
    let label_names = if names_path.exists() {
        read_class_names_any(&names_path)?
    } else {
        let classes = train.labels.iter().max().map_or(0, |m| m + 1);
        (0..classes).map(|c| c.to_string()).collect()
    };
    check_labels(&train_labels, &train.labels, label_names.len())?;
    check_labels(&test_labels, &test.labels, label_names.len())?;
    finish(
        &train_images,
        train,
        None,
        test,
        label_names,
        DataSource::Files {
            format: DataFormat::Mnist,
            dir: dir.to_path_buf(),
        },
    )
}

/// The file for `stem` in `dir`: `stem`, its dotted variant (`train-images.idx3-ubyte`), or
/// either with `.gz`, whichever exists first.
pub(crate) fn find(dir: &Path, stem: &str) -> Option<PathBuf> {
    let dotted = stem.replacen("-idx", ".idx", 1);
    [
        stem.to_string(),
        dotted.clone(),
        format!("{stem}.gz"),
        format!("{dotted}.gz"),
    ]
    .into_iter()
    .map(|name| dir.join(name))
    .find(|p| p.is_file())
}

/// A class-names file with any number (at least one) of names.
fn read_class_names_any(path: &Path) -> Result<Vec<String>, DataError> {
    let text = read_file(path, "see data/README.md")?;
    let count = String::from_utf8_lossy(&text)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count();
    if count == 0 {
        return Err(DataError::BadClassNames {
            path: path.to_path_buf(),
            detail: "no names (one per line)".into(),
        });
    }
    read_class_names(path, count)
}

fn check_labels(path: &Path, labels: &[usize], num_classes: usize) -> Result<(), DataError> {
    match labels.iter().enumerate().find(|(_, l)| **l >= num_classes) {
        Some((index, &l)) => Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            value: l as f64,
            num_classes,
        }),
        None => Ok(()),
    }
}

/// The file's bytes, decompressed if its name ends in `.gz`.
pub(crate) fn read_maybe_gz(path: &Path, hint: &'static str) -> Result<Vec<u8>, DataError> {
    let bytes = read_file(path, hint)?;
    if path.extension().is_some_and(|e| e == "gz") {
        gunzip(path, &bytes)
    } else {
        Ok(bytes)
    }
}

#[cfg(feature = "gzip")]
fn gunzip(path: &Path, bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut reader = flate2::read::MultiGzDecoder::new(bytes).take(MAX_DECOMPRESSED + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| DataError::Decompress {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
    if out.len() as u64 > MAX_DECOMPRESSED {
        return Err(DataError::Decompress {
            path: path.to_path_buf(),
            detail: format!("it decompresses to more than {MAX_DECOMPRESSED} bytes"),
        });
    }
    Ok(out)
}

#[cfg(not(feature = "gzip"))]
fn gunzip(path: &Path, _bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    Err(DataError::FeatureDisabled {
        path: path.to_path_buf(),
        feature: "gzip",
    })
}

/// The magic number's first four bytes, or a truncation error.
fn magic(path: &Path, bytes: &[u8]) -> Result<u32, DataError> {
    be_u32(bytes, 0).ok_or_else(|| DataError::FileTruncated {
        path: path.to_path_buf(),
        what: "the 4-byte magic number".into(),
        needed: 4,
        found: bytes.len() as u64,
    })
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The dimensions after the magic number, or a truncation error.
fn dims(path: &Path, bytes: &[u8], count: usize) -> Result<Vec<u64>, DataError> {
    (0..count)
        .map(|k| {
            be_u32(bytes, 4 + 4 * k)
                .map(u64::from)
                .ok_or_else(|| DataError::FileTruncated {
                    path: path.to_path_buf(),
                    what: format!("the header ({count} dimensions)"),
                    needed: 4 + 4 * count as u64,
                    found: bytes.len() as u64,
                })
        })
        .collect()
}

/// Checks that the file is exactly `header + body` bytes.
fn check_size(
    path: &Path,
    len: usize,
    header: u64,
    body: Option<u64>,
    what: String,
) -> Result<(), DataError> {
    let len = len as u64;
    let needed = body.and_then(|b| b.checked_add(header));
    match needed {
        Some(n) if len < n => Err(DataError::FileTruncated {
            path: path.to_path_buf(),
            what,
            needed: n,
            found: len,
        }),
        Some(n) if len > n => Err(DataError::SizeMismatch {
            path: path.to_path_buf(),
            detail: format!("{} bytes after {what}", len - n),
        }),
        Some(_) => Ok(()),
        None => Err(DataError::FileTruncated {
            path: path.to_path_buf(),
            what,
            needed: u64::MAX,
            found: len,
        }),
    }
}

/// Reads an IDX image file: the images (no labels yet) and their shape `[H, W, C]`.
fn read_images(path: &Path) -> Result<(RawImages, [usize; 3], usize), DataError> {
    let bytes = read_maybe_gz(path, HINT)?;
    let m = magic(path, &bytes)?;
    let ndim = match m {
        0x0803 => 3,
        0x0804 => 4,
        found => {
            return Err(DataError::BadMagic {
                path: path.to_path_buf(),
                what: "an IDX image file (unsigned bytes, 3 dimensions)",
                found,
                expected: 0x0803,
            });
        }
    };
    let d = dims(path, &bytes, ndim)?;
    let (n, h, w, c) = (d[0], d[1], d[2], d.get(3).copied().unwrap_or(1));
    let what = format!("the {n} images of {h}x{w}x{c} its header announces");
    let body = [n, h, w, c].iter().try_fold(1u64, |a, &x| a.checked_mul(x));
    let header = 4 + 4 * ndim as u64;
    check_size(path, bytes.len(), header, body, what)?;
    let to_usize = |x: u64| usize::try_from(x).unwrap_or(usize::MAX);
    let shape = [to_usize(h), to_usize(w), to_usize(c)];
    let mut pixels = bytes;
    pixels.drain(..header as usize);
    let n = to_usize(n);
    Ok((
        RawImages {
            pixels,
            labels: Vec::new(),
        },
        shape,
        n,
    ))
}

/// Reads an IDX label file with as many labels as `images_path` has images.
fn read_labels(path: &Path, images_path: &Path, images: usize) -> Result<Vec<usize>, DataError> {
    let bytes = read_maybe_gz(path, HINT)?;
    let m = magic(path, &bytes)?;
    if m != 0x0801 {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            what: "an IDX label file (unsigned bytes, 1 dimension)",
            found: m,
            expected: 0x0801,
        });
    }
    let n = dims(path, &bytes, 1)?[0];
    check_size(
        path,
        bytes.len(),
        8,
        Some(n),
        format!("the {n} labels its header announces"),
    )?;
    if n != images as u64 {
        return Err(DataError::CountMismatch {
            path: path.to_path_buf(),
            labels: usize::try_from(n).unwrap_or(usize::MAX),
            images_path: images_path.to_path_buf(),
            images,
        });
    }
    Ok(bytes
        .get(8..)
        .unwrap_or_default()
        .iter()
        .map(|&b| usize::from(b))
        .collect())
}
