//! The CIFAR-100 (Matlab) loader on small MAT files made here: pixels,
//! labels, split, normalisation, storage classes, every error, and a fuzz
//! test of damaged files.

use std::path::{Path, PathBuf};

use constnet::data::mat_writer::{Compression, MatClass, MatData, MatVar, write_mat_file};
use constnet::data::{
    CIFAR100_SUPERCLASSES, DataError, DataFormat, DataSource, DataSplits, Dataset,
};
use rand::{Rng, SeedableRng, rngs::StdRng};

const IMG: usize = 3072;

/// The loader for the default (32x32x3) shape.
fn load_cifar100(dir: impl AsRef<Path>) -> Result<DataSplits, DataError> {
    constnet::data::load_cifar100(dir)
}

/// The known pixel value of image `i`, channel `c`, row `h`, column `w`
/// (offset so that train.mat and test.mat differ).
fn pixel(offset: usize, i: usize, c: usize, h: usize, w: usize) -> u8 {
    ((offset + i * 37 + c * 71 + h * 5 + w * 3 + (h * w) % 7) % 256) as u8
}

/// The N x 3072 `data` matrix, column-major: element (i, j) at j * N + i,
/// row j = c * 1024 + h * 32 + w (the CIFAR layout).
fn data_matrix(offset: usize, n: usize) -> Vec<u8> {
    let mut d = vec![0u8; n * IMG];
    for i in 0..n {
        for c in 0..3 {
            for h in 0..32 {
                for w in 0..32 {
                    d[(c * 1024 + h * 32 + w) * n + i] = pixel(offset, i, c, h, w);
                }
            }
        }
    }
    d
}

fn label(offset: usize, i: usize) -> usize {
    (offset + i * 7) % 20
}

fn labels(offset: usize, n: usize) -> Vec<f64> {
    (0..n).map(|i| label(offset, i) as f64).collect()
}

/// Writes a CIFAR-like file with `n` images, `data` and `coarse_labels`
/// stored as given (plus the char and extra arrays real files have).
fn write_cifar(
    path: &Path,
    n: usize,
    data: MatData<'_>,
    labels: MatData<'_>,
    compression: Compression,
) {
    let fine: Vec<u8> = (0..n).map(|i| (i % 100) as u8).collect();
    write_mat_file(
        path,
        &[
            MatVar::char("batch_label", "training batch 1 of 1"),
            MatVar::new("fine_labels", n, 1, &fine),
            MatVar::new("coarse_labels", n, 1, labels),
            MatVar::new("data", n, IMG, data),
        ],
        compression,
    )
    .unwrap();
}

const TRAIN_N: usize = 12; // 9 train (floor(12 * 4/5)), 3 val
const TEST_N: usize = 4;
const TRAIN_OFF: usize = 0;
const TEST_OFF: usize = 100;

/// A temp folder with a valid small train.mat and test.mat (uint8 data,
/// double labels, as the real files).
fn valid_dir(compression: Compression) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (d, l) = (data_matrix(TRAIN_OFF, TRAIN_N), labels(TRAIN_OFF, TRAIN_N));
    write_cifar(
        &dir.path().join("train.mat"),
        TRAIN_N,
        (&d).into(),
        (&l).into(),
        compression,
    );
    let (d, l) = (data_matrix(TEST_OFF, TEST_N), labels(TEST_OFF, TEST_N));
    write_cifar(
        &dir.path().join("test.mat"),
        TEST_N,
        (&d).into(),
        (&l).into(),
        compression,
    );
    dir
}

/// Mean and population std per channel of the first `n_train` train images,
/// in [0, 1] units, computed straight from the formula.
fn expected_stats(n_train: usize) -> ([f64; 3], [f64; 3]) {
    let mut mean = [0.0; 3];
    let mut std = [0.0; 3];
    for c in 0..3 {
        let vals: Vec<f64> = (0..n_train)
            .flat_map(|i| (0..32).flat_map(move |h| (0..32).map(move |w| (i, h, w))))
            .map(|(i, h, w)| f64::from(pixel(TRAIN_OFF, i, c, h, w)) / 255.0)
            .collect();
        let m = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / vals.len() as f64;
        mean[c] = m;
        std[c] = var.sqrt();
    }
    (mean, std)
}

fn check_split(
    ds: &Dataset,
    offset: usize,
    first: usize,
    count: usize,
    mean: [f64; 3],
    std: [f64; 3],
) {
    assert_eq!(ds.len(), count);
    assert_eq!(ds.images.len(), count * IMG);
    assert_eq!(ds.num_classes, 20);
    for k in 0..count {
        let i = first + k;
        assert_eq!(ds.labels[k], label(offset, i), "label of image {i}");
        let img = ds.image(k);
        for h in 0..32 {
            for w in 0..32 {
                for c in 0..3 {
                    let want = (f64::from(pixel(offset, i, c, h, w)) / 255.0 - mean[c]) / std[c];
                    let got = img[(h * 32 + w) * 3 + c];
                    assert!(
                        (f64::from(got) - want).abs() < 1e-5,
                        "image {i} h {h} w {w} c {c}: got {got}, want {want}"
                    );
                }
            }
        }
    }
}

fn check_loaded(dir: &Path) {
    let s = load_cifar100(dir).unwrap();
    let n_train = TRAIN_N * 4 / 5;
    let (mean, std) = expected_stats(n_train);
    for c in 0..3 {
        assert!(
            (f64::from(s.channel_mean()[c]) - mean[c]).abs() < 1e-6,
            "mean {c}"
        );
        assert!(
            (f64::from(s.channel_std()[c]) - std[c]).abs() < 1e-6,
            "std {c}"
        );
    }
    check_split(&s.train, TRAIN_OFF, 0, n_train, mean, std);
    check_split(&s.val, TRAIN_OFF, n_train, TRAIN_N - n_train, mean, std);
    check_split(&s.test, TEST_OFF, 0, TEST_N, mean, std);
    assert_eq!(
        s.label_names,
        CIFAR100_SUPERCLASSES.map(String::from).to_vec()
    );
    assert_eq!(
        s.source,
        DataSource::Files {
            format: DataFormat::Cifar100Mat,
            dir: dir.to_path_buf()
        }
    );
    assert_eq!(s.source.name(), "cifar100");
}

#[test]
fn loads_uncompressed() {
    let dir = valid_dir(Compression::None);
    check_loaded(dir.path());
}

#[test]
fn loads_compressed() {
    let dir = valid_dir(Compression::Zlib);
    check_loaded(dir.path());
}

/// The notebook's NHWC layout, spelled out at one non-symmetric position: image
/// i, (h = 1, w = 2), each channel, against the raw column-major matrix.
#[test]
fn nhwc_layout_at_h1_w2() {
    let dir = valid_dir(Compression::None);
    let s = load_cifar100(dir.path()).unwrap();
    let raw = data_matrix(TRAIN_OFF, TRAIN_N);
    let i = 3;
    for c in 0..3 {
        let j = c * 1024 + 32 + 2; // row c, h = 1, w = 2 of the MAT data
        let v = f32::from(raw[j * TRAIN_N + i]) / 255.0;
        let want = (v - s.channel_mean()[c]) / s.channel_std()[c];
        let got = s.train.image(i)[(32 + 2) * 3 + c];
        assert!((got - want).abs() < 1e-5, "channel {c}: {got} vs {want}");
        // and (h = 2, w = 1) is a different pixel
        assert_ne!(raw[j * TRAIN_N + i], raw[(c * 1024 + 64 + 1) * TRAIN_N + i]);
    }
}

/// Writes train.mat/test.mat with data and labels converted to another
/// storage type, and checks the result matches the uint8 version.
fn same_as_u8(make: impl Fn(&[u8], &[f64], &Path, usize)) {
    let reference = load_cifar100(valid_dir(Compression::None).path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    make(
        &data_matrix(TRAIN_OFF, TRAIN_N),
        &labels(TRAIN_OFF, TRAIN_N),
        &dir.path().join("train.mat"),
        TRAIN_N,
    );
    make(
        &data_matrix(TEST_OFF, TEST_N),
        &labels(TEST_OFF, TEST_N),
        &dir.path().join("test.mat"),
        TEST_N,
    );
    let s = load_cifar100(dir.path()).unwrap();
    for (a, b) in [
        (&s.train, &reference.train),
        (&s.val, &reference.val),
        (&s.test, &reference.test),
    ] {
        assert_eq!(a.labels, b.labels);
        let max = a
            .images
            .iter()
            .zip(&b.images)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(max < 1e-5, "max difference {max}");
    }
    for c in 0..3 {
        assert!((s.channel_mean()[c] - reference.channel_mean()[c]).abs() < 1e-6);
        assert!((s.channel_std()[c] - reference.channel_std()[c]).abs() < 1e-6);
    }
}

#[test]
fn loads_f64_data_and_labels() {
    same_as_u8(|d, l, path, n| {
        let d: Vec<f64> = d.iter().map(|&v| f64::from(v)).collect();
        write_cifar(path, n, (&d).into(), l.into(), Compression::Zlib);
    });
}

#[test]
fn loads_u8_labels() {
    same_as_u8(|d, l, path, n| {
        let l: Vec<u8> = l.iter().map(|&v| v as u8).collect();
        write_cifar(path, n, d.into(), (&l).into(), Compression::None);
    });
}

#[test]
fn loads_other_numeric_classes() {
    // single data, int16 labels
    same_as_u8(|d, l, path, n| {
        let d: Vec<f32> = d.iter().map(|&v| f32::from(v)).collect();
        let l: Vec<i16> = l.iter().map(|&v| v as i16).collect();
        write_cifar(path, n, (&d).into(), (&l).into(), Compression::None);
    });
    // uint16 data, int64 labels
    same_as_u8(|d, l, path, n| {
        let d: Vec<u16> = d.iter().map(|&v| u16::from(v)).collect();
        let l: Vec<i64> = l.iter().map(|&v| v as i64).collect();
        write_cifar(path, n, (&d).into(), (&l).into(), Compression::Zlib);
    });
    // double data stored as uint8 (what Matlab does for whole numbers),
    // int32 labels stored as uint8
    same_as_u8(|d, l, path, n| {
        let l: Vec<u8> = l.iter().map(|&v| v as u8).collect();
        let fine = vec![0u8; n];
        write_mat_file(
            path,
            &[
                MatVar::new("data", n, IMG, d).with_class(MatClass::Double),
                MatVar::new("coarse_labels", n, 1, &l).with_class(MatClass::Int32),
                MatVar::new("fine_labels", n, 1, &fine),
            ],
            Compression::None,
        )
        .unwrap();
    });
    // labels as a 1 x N row
    same_as_u8(|d, l, path, n| {
        write_mat_file(
            path,
            &[
                MatVar::new("data", n, IMG, d),
                MatVar::new("coarse_labels", 1, n, l),
            ],
            Compression::None,
        )
        .unwrap();
    });
}

#[test]
fn five_images_split_four_one() {
    let dir = tempfile::tempdir().unwrap();
    let (d, l) = (data_matrix(0, 5), labels(0, 5));
    write_cifar(
        &dir.path().join("train.mat"),
        5,
        (&d).into(),
        (&l).into(),
        Compression::None,
    );
    let (d, l) = (data_matrix(1, 1), labels(1, 1));
    write_cifar(
        &dir.path().join("test.mat"),
        1,
        (&d).into(),
        (&l).into(),
        Compression::None,
    );
    let s = load_cifar100(dir.path()).unwrap();
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (4, 1, 1));
}

// ---------------------------------------------------------------- errors

/// A folder with a valid test.mat and a train.mat written by `make`.
fn dir_with_train(make: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = valid_dir(Compression::None);
    make(&dir.path().join("train.mat"));
    dir
}

fn load_err(dir: &Path) -> DataError {
    match load_cifar100(dir) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e,
    }
}

/// The message is one line and names the file.
fn assert_names(err: &DataError, file: &Path) {
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "one line: {msg}");
    assert!(
        msg.starts_with(&format!("{}: ", file.display())),
        "message should start with the file name {}: {msg}",
        file.display()
    );
}

fn train_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("train.mat")
}

#[test]
fn error_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = load_err(&missing);
    assert!(matches!(err, DataError::DirNotFound { .. }), "{err:?}");
    assert_names(&err, &missing);
    // A file instead of a folder.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = load_err(&file);
    assert!(matches!(err, DataError::NotADirectory { .. }), "{err:?}");
    assert_names(&err, &file);
}

#[test]
fn error_missing_files() {
    let dir = valid_dir(Compression::None);
    std::fs::remove_file(dir.path().join("test.mat")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, DataError::FileNotFound { .. }), "{err:?}");
    assert_names(&err, &dir.path().join("test.mat"));

    let empty = tempfile::tempdir().unwrap();
    let err = load_err(empty.path());
    assert!(matches!(err, DataError::FileNotFound { .. }), "{err:?}");
    assert_names(&err, &empty.path().join("train.mat"));
    assert!(err.to_string().contains("cifar-100-matlab.tar.gz"));
}

#[test]
fn error_not_a_mat_file() {
    for bytes in [
        b"hello, world".to_vec(),
        Vec::new(),
        b"not a mat file at all ".repeat(20),
        b"\x89HDF\r\n\x1a\n".repeat(40),
    ] {
        let dir = dir_with_train(|p| std::fs::write(p, &bytes).unwrap());
        let err = load_err(dir.path());
        assert!(matches!(err, DataError::NotMatFile { .. }), "{err:?}");
        assert_names(&err, &train_path(&dir));
    }
}

#[test]
fn error_random_bytes() {
    let mut rng = StdRng::seed_from_u64(42);
    for _ in 0..20 {
        let len = rng.random_range(0..5000);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let dir = dir_with_train(|p| std::fs::write(p, &bytes).unwrap());
        let err = load_err(dir.path());
        assert!(matches!(err, DataError::NotMatFile { .. }), "{err:?}");
        assert_names(&err, &train_path(&dir));
    }
}

#[test]
fn error_header_only() {
    // 128 header bytes alone parse as a MAT file with no arrays.
    let dir = dir_with_train(|p| {
        write_mat_file(p, &[], Compression::None).unwrap();
        assert_eq!(std::fs::metadata(p).unwrap().len(), 128);
    });
    let err = load_err(dir.path());
    assert!(
        matches!(err, DataError::MissingVariable { name: "data", .. }),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir));
    assert!(err.to_string().contains("no variable 'data'"));
}

#[test]
fn error_truncated() {
    for compression in [Compression::None, Compression::Zlib] {
        let full = valid_dir(compression);
        let bytes = std::fs::read(full.path().join("train.mat")).unwrap();
        for cut in [200, bytes.len() / 2, bytes.len() - 1] {
            let dir = dir_with_train(|p| std::fs::write(p, &bytes[..cut]).unwrap());
            let err = load_err(dir.path());
            assert!(
                matches!(err, DataError::Truncated { .. }),
                "{compression:?} cut {cut}: {err:?}"
            );
            assert_names(&err, &train_path(&dir));
        }
    }
}

#[test]
fn error_missing_variables() {
    let n = 10;
    let d = data_matrix(0, n);
    let l = labels(0, n);
    let dir = dir_with_train(|p| {
        write_mat_file(p, &[MatVar::new("data", n, IMG, &d)], Compression::None).unwrap()
    });
    let err = load_err(dir.path());
    assert!(
        matches!(
            err,
            DataError::MissingVariable {
                name: "coarse_labels",
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir));
    assert_eq!(
        err.to_string(),
        format!(
            "{}: no variable 'coarse_labels' (the file may be truncated or damaged)",
            train_path(&dir).display()
        )
    );

    let dir = dir_with_train(|p| {
        write_mat_file(
            p,
            &[MatVar::new("coarse_labels", n, 1, &l)],
            Compression::Zlib,
        )
        .unwrap()
    });
    let err = load_err(dir.path());
    assert!(
        matches!(err, DataError::MissingVariable { name: "data", .. }),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir));
}

#[test]
fn error_non_numeric_or_complex() {
    let n = 10;
    let d = data_matrix(0, n);
    let dir = dir_with_train(|p| {
        write_mat_file(
            p,
            &[
                MatVar::new("data", n, IMG, &d),
                MatVar::char("coarse_labels", "0123456789"),
            ],
            Compression::Zlib,
        )
        .unwrap()
    });
    let err = load_err(dir.path());
    assert!(
        matches!(
            err,
            DataError::WrongType {
                name: "coarse_labels",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("char array"), "{err}");
    assert_names(&err, &train_path(&dir));
}

#[test]
fn error_data_width() {
    let n = 10;
    let d = vec![0u8; n * 1024];
    let l = labels(0, n);
    let dir = dir_with_train(|p| {
        write_mat_file(
            p,
            &[
                MatVar::new("data", n, 1024, &d),
                MatVar::new("coarse_labels", n, 1, &l),
            ],
            Compression::None,
        )
        .unwrap()
    });
    let err = load_err(dir.path());
    assert!(matches!(err, DataError::BadDataShape { .. }), "{err:?}");
    assert!(err.to_string().contains("10 x 1024"), "{err}");
    assert_names(&err, &train_path(&dir));

    // transposed: 3072 x N
    let d = data_matrix(0, n);
    let dir = dir_with_train(|p| {
        write_mat_file(
            p,
            &[
                MatVar::new("data", IMG, n, &d),
                MatVar::new("coarse_labels", n, 1, &l),
            ],
            Compression::None,
        )
        .unwrap()
    });
    let err = load_err(dir.path());
    assert!(matches!(err, DataError::BadDataShape { .. }), "{err:?}");
}

#[test]
fn error_label_count() {
    let n = 10;
    let d = data_matrix(0, n);
    let l = labels(0, n - 1);
    let dir2 = dir_with_train(|p| {
        write_mat_file(
            p,
            &[
                MatVar::new("data", n, IMG, &d),
                MatVar::new("coarse_labels", n - 1, 1, &l),
            ],
            Compression::None,
        )
        .unwrap()
    });
    let err = load_err(dir2.path());
    assert!(
        matches!(
            err,
            DataError::LabelCountMismatch {
                images: 10,
                labels: 9,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir2));

    // labels that are a matrix, not a vector
    let l2 = labels(0, 2 * n);
    let dir = dir_with_train(|p| {
        write_mat_file(
            p,
            &[
                MatVar::new("data", n, IMG, &d),
                MatVar::new("coarse_labels", n, 2, &l2),
            ],
            Compression::None,
        )
        .unwrap()
    });
    let err = load_err(dir.path());
    assert!(matches!(err, DataError::BadLabelShape { .. }), "{err:?}");
    assert_names(&err, &train_path(&dir));
}

#[test]
fn error_bad_labels() {
    let n = 10;
    let d = data_matrix(0, n);
    for (bad, index) in [(20.0, 3), (-1.0, 0), (2.5, 9), (f64::NAN, 4), (1e300, 5)] {
        let mut l = labels(0, n);
        l[index] = bad;
        let dir =
            dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::None));
        let err = load_err(dir.path());
        match &err {
            DataError::BadLabel { index: i, .. } => assert_eq!(*i, index),
            _ => panic!("{bad}: {err:?}"),
        }
        assert_names(&err, &train_path(&dir));
        assert!(err.to_string().contains("0..19"), "{err}");
        assert!(err.to_string().len() < 200, "short: {err}");
    }
    // uint8 label 200
    let mut l: Vec<u8> = (0..n as u8).collect();
    l[7] = 200;
    let dir = dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::Zlib));
    let err = load_err(dir.path());
    assert!(
        matches!(err, DataError::BadLabel { index: 7, .. }),
        "{err:?}"
    );
}

#[test]
fn error_bad_pixels() {
    let n = 10;
    let l = labels(0, n);
    // in the training part, and in the validation part
    for image in [2, 9] {
        let mut d: Vec<f64> = data_matrix(0, n).iter().map(|&v| f64::from(v)).collect();
        d[1500 * n + image] = 256.0;
        let dir =
            dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::None));
        let err = load_err(dir.path());
        assert!(
            matches!(err, DataError::BadPixel { index, .. } if index == image),
            "{err:?}"
        );
        assert_names(&err, &train_path(&dir));
    }
    let mut d: Vec<f32> = data_matrix(0, n).iter().map(|&v| f32::from(v)).collect();
    d[17] = f32::NAN;
    let dir = dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::None));
    assert!(matches!(load_err(dir.path()), DataError::BadPixel { .. }));
}

#[test]
fn error_too_few_images() {
    let n = 4;
    let d = data_matrix(0, n);
    let l = labels(0, n);
    let dir = dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::None));
    let err = load_err(dir.path());
    assert!(
        matches!(
            err,
            DataError::TooFewImages {
                count: 4,
                min: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir));

    // an empty test.mat
    let dir = valid_dir(Compression::None);
    let test = dir.path().join("test.mat");
    write_cifar(
        &test,
        0,
        (&[0u8; 0][..]).into(),
        (&[0f64; 0][..]).into(),
        Compression::None,
    );
    let err = load_err(dir.path());
    assert!(
        matches!(
            err,
            DataError::TooFewImages {
                count: 0,
                min: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &test);
}

#[test]
fn error_int32_storage_is_clean() {
    // matfile 0.5 cannot read int32 arrays stored as 32-bit integers: a
    // clean error, not a panic, and the message says why.
    let n = 10;
    let d = data_matrix(0, n);
    let l: Vec<i32> = (0..n as i32).collect();
    let dir = dir_with_train(|p| write_cifar(p, n, (&d).into(), (&l).into(), Compression::None));
    let err = load_err(dir.path());
    assert!(matches!(err, DataError::Malformed { .. }), "{err:?}");
    assert!(err.to_string().contains("int32"), "{err}");
    assert_names(&err, &train_path(&dir));
}

#[test]
fn error_damaged_variable() {
    // A flipped byte in the middle of the uncompressed labels' tag makes
    // matfile drop or reject the file: either way a clean error naming it.
    let full = valid_dir(Compression::None);
    let bytes = std::fs::read(full.path().join("train.mat")).unwrap();
    // Find the 'coarse_labels' name and break its data sub-element type.
    let at = bytes
        .windows(13)
        .position(|w| w == b"coarse_labels")
        .unwrap();
    let mut broken = bytes.clone();
    broken[at + 16] = 0x7f; // the data tag after the 13-byte name padded to 16
    let dir = dir_with_train(|p| std::fs::write(p, &broken).unwrap());
    let err = load_err(dir.path());
    assert!(
        matches!(
            err,
            DataError::Malformed { .. }
                | DataError::UnreadableVariable { .. }
                | DataError::MissingVariable { .. }
        ),
        "{err:?}"
    );
    assert_names(&err, &train_path(&dir));
}

// ---------------------------------------------------------------- fuzz

/// 1,000 seeded random mutations (bit flips, byte overwrites, truncations,
/// insertions) of a valid small train.mat, plain and compressed: loading
/// never panics (a panic fails the test and prints the case's seed).
#[test]
fn fuzz_damaged_files_never_panic() {
    let plain = valid_dir(Compression::None);
    let packed = valid_dir(Compression::Zlib);
    let originals = [
        std::fs::read(plain.path().join("train.mat")).unwrap(),
        std::fs::read(packed.path().join("train.mat")).unwrap(),
    ];
    let dir = valid_dir(Compression::None);
    let path = dir.path().join("train.mat");
    // FUZZ_CASES=100000 for a longer run; FUZZ_SHOW=1 prints each error kind.
    let cases: u64 = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let (mut ok, mut errors) = (0, 0);
    for case in 0..cases {
        let mut rng = StdRng::seed_from_u64(case);
        let mut bytes = originals[(case % 2) as usize].clone();
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..4) {
                0 => {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
                1 => {
                    // favour the headers, where damage matters most
                    let hi = if rng.random_bool(0.7) {
                        bytes.len().min(400)
                    } else {
                        bytes.len()
                    };
                    let i = rng.random_range(0..hi);
                    bytes[i] = rng.random();
                }
                2 => {
                    let cut = rng.random_range(0..bytes.len());
                    bytes.truncate(cut);
                }
                _ => {
                    let i = rng.random_range(0..=bytes.len());
                    bytes.insert(i, rng.random());
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        std::fs::write(&path, &bytes).unwrap();
        let result = std::panic::catch_unwind(|| load_cifar100(dir.path()));
        match result {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                errors += 1;
                if std::env::var_os("FUZZ_SHOW").is_some() {
                    eprintln!(
                        "KIND {}",
                        format!("{e:?}").split([' ', '{']).next().unwrap()
                    );
                }
                let msg = e.to_string();
                assert!(!msg.contains('\n'), "case {case}: {msg}");
                assert!(
                    msg.starts_with(dir.path().to_str().unwrap()),
                    "case {case}: {msg}"
                );
            }
            Err(_) => panic!("fuzz case {case} (StdRng::seed_from_u64({case})) panicked"),
        }
    }
    assert_eq!(ok + errors, cases);
    assert!(
        errors > cases / 2,
        "most mutations should be errors ({errors})"
    );
}
