//! The CIFAR-10 and CIFAR-100 binary-version loaders.

use std::path::{Path, PathBuf};

use super::build::{RawImages, check_dir, check_shape, finish, read_class_names, read_file};
use super::{CIFAR100_SUPERCLASSES, DataError, DataFormat, DataSource, DataSplits};
use crate::Shape;

/// The names of CIFAR-10's 10 classes, in label order (as in `batches.meta.txt`).
pub const CIFAR10_CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The names of CIFAR-100's 100 fine classes, in label order (as in `fine_label_names.txt`).
pub const CIFAR100_CLASSES: [&str; 100] = [
    "apple",
    "aquarium_fish",
    "baby",
    "bear",
    "beaver",
    "bed",
    "bee",
    "beetle",
    "bicycle",
    "bottle",
    "bowl",
    "boy",
    "bridge",
    "bus",
    "butterfly",
    "camel",
    "can",
    "castle",
    "caterpillar",
    "cattle",
    "chair",
    "chimpanzee",
    "clock",
    "cloud",
    "cockroach",
    "couch",
    "crab",
    "crocodile",
    "cup",
    "dinosaur",
    "dolphin",
    "elephant",
    "flatfish",
    "forest",
    "fox",
    "girl",
    "hamster",
    "house",
    "kangaroo",
    "keyboard",
    "lamp",
    "lawn_mower",
    "leopard",
    "lion",
    "lizard",
    "lobster",
    "man",
    "maple_tree",
    "motorcycle",
    "mountain",
    "mouse",
    "mushroom",
    "oak_tree",
    "orange",
    "orchid",
    "otter",
    "palm_tree",
    "pear",
    "pickup_truck",
    "pine_tree",
    "plain",
    "plate",
    "poppy",
    "porcupine",
    "possum",
    "rabbit",
    "raccoon",
    "ray",
    "road",
    "rocket",
    "rose",
    "sea",
    "seal",
    "shark",
    "shrew",
    "skunk",
    "skyscraper",
    "snail",
    "snake",
    "spider",
    "squirrel",
    "streetcar",
    "sunflower",
    "sweet_pepper",
    "table",
    "tank",
    "telephone",
    "television",
    "tiger",
    "tractor",
    "train",
    "trout",
    "tulip",
    "turtle",
    "wardrobe",
    "whale",
    "willow_tree",
    "wolf",
    "woman",
    "worm",
];

/// Which of CIFAR-100's two labels to train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cifar100Labels {
    /// The 20 superclasses (`coarse_label_names.txt`), as the notebook.
    #[default]
    Coarse,
    /// The 100 classes (`fine_label_names.txt`).
    Fine,
}

/// Where to get the files, for a missing-file message.
const HINT10: &str = "get cifar-10-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it; see data/README.md";
const HINT100: &str = "get cifar-100-binary.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it; see data/README.md";
/// Values per image, as stored: 1024 red, 1024 green, 1024 blue.
const PIXELS: usize = 3072;
/// The folders the archives unpack to, also looked into.
pub(crate) const CIFAR10_SUBDIR: &str = "cifar-10-batches-bin";
pub(crate) const CIFAR100_SUBDIR: &str = "cifar-100-binary";

/// `dir`, or its sub-folder `sub` (as the archive unpacks) when the files are there.
pub(crate) fn resolve(dir: &Path, marker: &str, sub: &str) -> PathBuf {
    if !dir.join(marker).is_file() && dir.join(sub).join(marker).is_file() {
        dir.join(sub)
    } else {
        dir.to_path_buf()
    }
}

/// Loads CIFAR-10 (binary version) from `dir` (or `dir/cifar-10-batches-bin`) as images of shape
/// `S`, which must be 32x32x3 ([`DataError::ShapeMismatch`] otherwise).
///
/// - Training: `data_batch_1.bin`, `data_batch_2.bin`, ... (as many as there are, from 1 on;
///   10,000 images each in the real set), validation: the last fifth of them (`floor(4n/5)` kept
///   for training; with the five real batches, exactly `data_batch_5.bin`), test:
///   `test_batch.bin`.
/// - Each record is 3073 bytes: the label (0..=9), then 1024 red, 1024 green and 1024 blue
///   values, each plane row-major 32x32.
/// - Class names from `batches.meta.txt` when present (10 lines), else [`CIFAR10_CLASSES`].
///
/// Every problem is a [`DataError`] naming the file; nothing panics.
pub fn load_cifar10<S: Shape>(dir: impl AsRef<Path>) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    check_shape::<S>(dir, [32, 32, 3])?;
    let root = resolve(dir, "data_batch_1.bin", CIFAR10_SUBDIR);
    let first = root.join("data_batch_1.bin");
    let mut train = RawImages::default();
    let mut k = 1;
    loop {
        let path = root.join(format!("data_batch_{k}.bin"));
        if k > 1 && !path.is_file() {
            break;
        }
        train.append(read_records(&path, HINT10, &[10], 0)?);
        k += 1;
    }
    let later = root.join(format!("data_batch_{}.bin", k + 1));
    if later.is_file() {
        return Err(DataError::FileNotFound {
            path: root.join(format!("data_batch_{k}.bin")),
            hint: "the batches must be numbered from 1 without a gap",
        });
    }
    let test = read_records(&root.join("test_batch.bin"), HINT10, &[10], 0)?;
    let meta = root.join("batches.meta.txt");
    let names = if meta.is_file() {
        read_class_names(&meta, 10)?
    } else {
        CIFAR10_CLASSES.map(String::from).to_vec()
    };
    finish(
        &first,
        train,
        None,
        test,
        names,
        DataSource::Files {
            format: DataFormat::Cifar10,
            dir: dir.to_path_buf(),
        },
    )
}

/// Loads CIFAR-100 (binary version) from `dir` (or `dir/cifar-100-binary`) as images of shape
/// `S`, which must be 32x32x3 ([`DataError::ShapeMismatch`] otherwise), with the coarse (20
/// superclasses) or fine (100 classes) labels.
///
/// - Training: `train.bin` (validation: its last fifth, `floor(4n/5)` kept for training), test:
///   `test.bin`.
/// - Each record is 3074 bytes: the coarse label (0..=19), the fine label (0..=99), then 1024
///   red, 1024 green and 1024 blue values, each plane row-major 32x32.
/// - Class names from `coarse_label_names.txt` / `fine_label_names.txt` when present, else
///   [`CIFAR100_SUPERCLASSES`] / [`CIFAR100_CLASSES`].
///
/// Every problem is a [`DataError`] naming the file; nothing panics.
pub fn load_cifar100_binary<S: Shape>(
    dir: impl AsRef<Path>,
    labels: Cifar100Labels,
) -> Result<DataSplits<S>, DataError> {
    let dir = dir.as_ref();
    check_dir(dir)?;
    check_shape::<S>(dir, [32, 32, 3])?;
    let root = resolve(dir, "train.bin", CIFAR100_SUBDIR);
    let (which, classes, names_file, builtin): (usize, usize, &str, &[&str]) = match labels {
        Cifar100Labels::Coarse => (0, 20, "coarse_label_names.txt", &CIFAR100_SUPERCLASSES),
        Cifar100Labels::Fine => (1, 100, "fine_label_names.txt", &CIFAR100_CLASSES),
    };
    let train_path = root.join("train.bin");
    let train = read_records(&train_path, HINT100, &[20, 100], which)?;
    let test = read_records(&root.join("test.bin"), HINT100, &[20, 100], which)?;
    let names_path = root.join(names_file);
    let names = if names_path.is_file() {
        read_class_names(&names_path, classes)?
    } else {
        builtin.iter().map(|s| s.to_string()).collect()
    };
    finish(
        &train_path,
        train,
        None,
        test,
        names,
        DataSource::Files {
            format: DataFormat::Cifar100,
            dir: dir.to_path_buf(),
        },
    )
}

/// Reads a file of CIFAR records: each record holds `limits.len()` label bytes, label `k`
/// below `limits[k]` (CIFAR-10: `[10]`, CIFAR-100: `[20, 100]`), then the planes; `which`
/// selects the label to keep.
fn read_records(
    path: &Path,
    hint: &'static str,
    limits: &[usize],
    which: usize,
) -> Result<RawImages, DataError> {
    let label_bytes = limits.len();
    let record = label_bytes + PIXELS;
    let bytes = read_file(path, hint)?;
    if bytes.is_empty() || bytes.len() % record != 0 {
        return Err(DataError::SizeMismatch {
            path: path.to_path_buf(),
            detail: format!(
                "{} bytes is not a whole number of {record}-byte records ({label_bytes} label byte{} and 3072 pixels each){}",
                bytes.len(),
                if label_bytes == 1 { "" } else { "s" },
                if bytes.len() > record {
                    "; the file may be truncated"
                } else {
                    ""
                }
            ),
        });
    }
    let n = bytes.len() / record;
    let mut raw = RawImages {
        pixels: vec![0; n * PIXELS],
        labels: Vec::with_capacity(n),
    };
    for (index, (rec, out)) in bytes
        .chunks_exact(record)
        .zip(raw.pixels.chunks_exact_mut(PIXELS))
        .enumerate()
    {
        let (labels, planes) = rec.split_at(label_bytes);
        for (&l, &limit) in labels.iter().zip(limits) {
            if usize::from(l) >= limit {
                return Err(DataError::BadLabel {
                    path: path.to_path_buf(),
                    index,
                    value: f64::from(l),
                    num_classes: limit,
                });
            }
        }
        raw.labels
            .push(labels.get(which).map_or(0, |&l| usize::from(l)));
        let (r, rest) = planes.split_at(1024);
        let (g, b) = rest.split_at(1024);
        for (((px, &vr), &vg), &vb) in out.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
            px.copy_from_slice(&[vr, vg, vb]);
        }
    }
    Ok(raw)
}
