//! What the file loaders share: 8-bit NHWC images read from files, the shape check against the
//! requested sample shape, the validation split and the normalisation.

use std::path::Path;

use super::{DataError, DataSource, DataSplits, Dataset, Normalization};
use crate::Shape;

/// Images read from one file (or folder): 8-bit NHWC pixels of shape `shape`, one label each.
#[derive(Debug, Default)]
pub(crate) struct RawImages {
    /// `labels.len() * shape.iter().product()` pixels.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<usize>,
}

impl RawImages {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Appends `other`'s images.
    pub fn append(&mut self, other: RawImages) {
        self.pixels.extend_from_slice(&other.pixels);
        self.labels.extend_from_slice(&other.labels);
    }

    /// Splits off the images from `at` on: `self` keeps `0..at`.
    pub fn split_off(&mut self, at: usize, image_len: usize) -> RawImages {
        let at = at.min(self.len());
        RawImages {
            labels: self.labels.split_off(at),
            pixels: self.pixels.split_off(at * image_len),
        }
    }
}

/// `Err(ShapeMismatch)` unless the files' shape `found` is `S`.
pub(crate) fn check_shape<S: Shape>(path: &Path, found: [usize; 3]) -> Result<(), DataError> {
    if found == [S::H, S::W, S::C] {
        Ok(())
    } else {
        Err(DataError::ShapeMismatch {
            path: path.to_path_buf(),
            expected: [S::H, S::W, S::C],
            found,
            network: None,
        })
    }
}

/// Checks that `dir` is an existing folder.
pub(crate) fn check_dir(dir: &Path) -> Result<(), DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(DataError::DirNotFound {
            path: dir.to_path_buf(),
        }),
        Err(source) => Err(DataError::Io {
            path: dir.to_path_buf(),
            source,
        }),
    }
}

/// Reads a whole file; a missing file is [`DataError::FileNotFound`] with `hint`.
pub(crate) fn read_file(path: &Path, hint: &'static str) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            DataError::FileNotFound {
                path: path.to_path_buf(),
                hint,
            }
        } else {
            DataError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })
}

/// Reads a class-names file: one name per line, blank lines ignored, exactly `count` names.
pub(crate) fn read_class_names(path: &Path, count: usize) -> Result<Vec<String>, DataError> {
    let bytes = read_file(path, "see data/README.md")?;
    let text = String::from_utf8(bytes).map_err(|_| DataError::BadClassNames {
        path: path.to_path_buf(),
        detail: "not UTF-8 text".into(),
    })?;
    let names: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if names.len() != count {
        return Err(DataError::BadClassNames {
            path: path.to_path_buf(),
            detail: format!("{} names, expected {count} (one per line)", names.len()),
        });
    }
    Ok(names)
}

/// Builds the splits from 8-bit images of shape `S`: when `val` is `None`, the last fifth of
/// `train` (`floor(4n/5)` kept for training) is the validation split; the normalisation is
/// computed on the training split and applied to all three. `train_path` names the training
/// file in the error when it holds fewer than 5 images (or 1 with its own validation split).
pub(crate) fn finish<S: Shape>(
    train_path: &Path,
    mut train: RawImages,
    val: Option<RawImages>,
    test: RawImages,
    label_names: Vec<String>,
    source: DataSource,
) -> Result<DataSplits<S>, DataError> {
    let min = if val.is_some() { 1 } else { 5 };
    if train.len() < min {
        return Err(DataError::TooFewImages {
            path: train_path.to_path_buf(),
            count: train.len(),
            min,
        });
    }
    let val = match val {
        Some(v) => v,
        None => {
            let n_train = train.len() * 4 / 5;
            train.split_off(n_train, S::LEN)
        }
    };
    let channels = S::C.max(1);
    let normalization = Normalization::of_u8(&train.pixels, channels);
    let tables = normalization.u8_tables();
    let num_classes = label_names.len();
    let to_dataset = |raw: RawImages| -> Dataset<S> {
        let mut images = vec![0f32; raw.pixels.len()];
        for (o, p) in images.chunks_mut(channels).zip(raw.pixels.chunks(channels)) {
            for ((o, &v), t) in o.iter_mut().zip(p).zip(&tables) {
                *o = t[usize::from(v)];
            }
        }
        Dataset::new_unchecked(images, raw.labels, num_classes)
    };
    Ok(DataSplits {
        train: to_dataset(train),
        val: to_dataset(val),
        test: to_dataset(test),
        label_names,
        normalization,
        source,
    })
}
