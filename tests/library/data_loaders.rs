//! The file loaders (MNIST IDX, CIFAR-10 and CIFAR-100 binary, image folder) on small files
//! written by `constnet::data::fixtures`: pixels, labels, splits, shape checks, every bad input
//! with its message, format detection, and a fuzz test per format (1,000 mutated files, no
//! panic). Also the in-memory dataset checks and augmentation determinism.

use std::path::Path;

use constnet::Image;
use constnet::data::{
    Augment, CIFAR10_CLASSES, CIFAR100_CLASSES, CIFAR100_SUPERCLASSES, Cifar100Labels, DataError,
    DataFormat, DataSplits, Dataset, LoadOptions, Normalization, detect_format, fixtures, load,
    load_cifar10, load_cifar100_binary, load_idx,
};
use rand::SeedableRng;

type Mnist = Image<28, 28, 1>;
type Cifar = Image<32, 32, 3>;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// The error's message, which must be one line.
fn msg(e: DataError) -> String {
    let m = e.to_string();
    assert!(!m.contains('\n'), "{m}");
    m
}

/// Checks that `ds` holds the fixture's images `first..first + n` (labels and pixels,
/// un-normalised to 8 bits).
fn check_images<S: constnet::Shape>(
    splits: &DataSplits<S>,
    ds: &Dataset<S>,
    first: usize,
    classes: usize,
    pixel: impl Fn(usize, usize, usize, usize, usize) -> u8,
) {
    for k in 0..ds.len() {
        let i = first + k;
        let label = fixtures::label_of(i, classes);
        assert_eq!(ds.labels[k], label, "label of image {i}");
        let px = splits.normalization.to_u8(ds.image(k));
        for y in 0..S::H {
            for x in 0..S::W {
                for c in 0..S::C {
                    assert_eq!(
                        px[(y * S::W + x) * S::C + c],
                        pixel(label, i, y, x, c),
                        "image {i} y {y} x {x} c {c}"
                    );
                }
            }
        }
    }
}

#[test]
fn mnist_idx_plain_and_gz() {
    for gz in [false, cfg!(feature = "gzip")] {
        let dir = tmp();
        fixtures::write_mnist(dir.path(), 12, 5, 10, gz).unwrap();
        let s: DataSplits<Mnist> = load_idx(dir.path()).unwrap();
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (9, 3, 5));
        assert_eq!(s.normalization.channels(), 1);
        assert_eq!(s.label_names.len(), s.train.num_classes);
        let grey = |l, i, y, x, _c| fixtures::pattern_pixel(l, i, y, x, 0, 28, 28);
        check_images(&s, &s.train, 0, 10, grey);
        check_images(&s, &s.val, 9, 10, grey);
        check_images(&s, &s.test, 1_000_000, 10, grey);
        // The training split has mean 0 and std 1 per channel.
        let m = Normalization::of_images(&s.train.images, 1);
        assert!(
            m.mean[0].abs() < 1e-6 && (m.std[0] - 1.0).abs() < 1e-5,
            "{m:?}"
        );
        assert_eq!(detect_format(dir.path()).unwrap(), DataFormat::Mnist);
        assert_eq!(s.source.name(), "mnist");
    }
}

#[test]
fn mnist_class_names_file_and_label_range() {
    let dir = tmp();
    fixtures::write_mnist(dir.path(), 10, 3, 10, false).unwrap();
    let names: Vec<String> = (0..10).map(|k| format!("class{k}")).collect();
    std::fs::write(dir.path().join("classes.txt"), names.join("\n")).unwrap();
    let s: DataSplits<Mnist> = load_idx(dir.path()).unwrap();
    assert_eq!(s.label_names, names);
    // Fewer names than labels: label out of range, naming the labels file.
    std::fs::write(dir.path().join("classes.txt"), "a\nb\nc\n").unwrap();
    let e = msg(load_idx::<Mnist>(dir.path()).unwrap_err());
    let labels = dir.path().join("train-labels-idx1-ubyte");
    assert!(
        e.starts_with(&format!("{}: label ", labels.display()))
            && e.contains("not an integer in 0..2"),
        "{e}"
    );
}

#[test]
fn mnist_bad_inputs() {
    let dir = tmp();
    fixtures::write_mnist(dir.path(), 10, 3, 10, false).unwrap();
    let images = dir.path().join("train-images-idx3-ubyte");
    let labels = dir.path().join("train-labels-idx1-ubyte");
    let good_images = std::fs::read(&images).unwrap();
    let good_labels = std::fs::read(&labels).unwrap();
    let err_with = |path: &Path, bytes: &[u8]| {
        std::fs::write(path, bytes).unwrap();
        let e = msg(load_idx::<Mnist>(dir.path()).unwrap_err());
        std::fs::write(&images, &good_images).unwrap();
        std::fs::write(&labels, &good_labels).unwrap();
        assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
        e
    };
    // Wrong magic: the label file's magic in the image file.
    let mut b = good_images.clone();
    b[3] = 1;
    assert!(
        err_with(&images, &b).ends_with("not an IDX image file (unsigned bytes, 3 dimensions): it starts with 0x00000801, expected 0x00000803"),
    );
    // Truncated.
    let e = err_with(&images, &good_images[..good_images.len() - 5]);
    assert!(
        e.contains("the file is truncated: the 10 images of 28x28x1 its header announces needs 7856 bytes but the file has 7851"),
        "{e}"
    );
    let e = err_with(&images, &good_images[..6]);
    assert!(
        e.contains("truncated: the header (3 dimensions) needs 16 bytes but the file has 6"),
        "{e}"
    );
    // Extra bytes.
    let mut b = good_images.clone();
    b.extend_from_slice(&[0; 3]);
    assert!(err_with(&images, &b).contains("wrong size: 3 bytes after the 10 images"));
    // Label count.
    let e = err_with(&labels, &fixtures::idx_labels(&[1; 9]));
    assert!(
        e.ends_with(&format!("9 labels, but {} has 10 images", images.display())),
        "{e}"
    );
    // Label magic.
    let e = err_with(&labels, &good_images);
    assert!(e.contains("not an IDX label file"), "{e}");
    // A test label beyond the training classes (here 0..=9).
    let test_labels = dir.path().join("t10k-labels-idx1-ubyte");
    let e = err_with(&test_labels, &fixtures::idx_labels(&[0, 1, 12]));
    assert!(
        e.ends_with("label 12 of image 2 is not an integer in 0..9"),
        "{e}"
    );
    std::fs::write(&test_labels, fixtures::idx_labels(&[0, 1, 2])).unwrap();
    // A missing file.
    std::fs::remove_file(&labels).unwrap();
    let e = msg(load_idx::<Mnist>(dir.path()).unwrap_err());
    assert!(
        e.starts_with(&format!(
            "{}: file not found (get train-images-idx3-ubyte.gz",
            labels.display()
        )),
        "{e}"
    );
}

#[test]
fn shape_mismatch_names_the_network_and_the_folder() {
    let dir = tmp();
    fixtures::write_mnist(dir.path(), 10, 3, 10, false).unwrap();
    let e = load::<Cifar>(dir.path(), None, &LoadOptions::default()).unwrap_err();
    assert!(matches!(
        e,
        DataError::ShapeMismatch {
            expected: [32, 32, 3],
            found: [28, 28, 1],
            ..
        }
    ));
    assert_eq!(
        e.for_network("ResNet20").to_string(),
        format!(
            "ResNet20 takes 32x32x3 images; {} holds 28x28x1",
            dir.path().display()
        )
    );
    fixtures::write_cifar10(dir.path(), 1, 5, 2).unwrap();
    let e = msg(load_cifar10::<Mnist>(dir.path()).unwrap_err());
    assert_eq!(
        e,
        format!(
            "the network takes 28x28x1 images; {} holds 32x32x3",
            dir.path().display()
        )
    );
}

#[test]
fn cifar10_binary() {
    let dir = tmp();
    fixtures::write_cifar10(dir.path(), 3, 4, 3).unwrap();
    assert_eq!(detect_format(dir.path()).unwrap(), DataFormat::Cifar10);
    let s: DataSplits<Cifar> = load(dir.path(), None, &LoadOptions::default()).unwrap();
    // 12 training images: 9 train, 3 val.
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (9, 3, 3));
    assert_eq!(s.label_names, CIFAR10_CLASSES.map(String::from).to_vec());
    let rgb = |l, i, y, x, c| fixtures::pattern_pixel(l, i, y, x, c, 32, 32);
    check_images(&s, &s.train, 0, 10, rgb);
    check_images(&s, &s.val, 9, 10, rgb);
    check_images(&s, &s.test, 1_000_000, 10, rgb);
    assert_eq!(s.normalization.channels(), 3);

    // Bad inputs.
    let batch = dir.path().join("data_batch_2.bin");
    let good = std::fs::read(&batch).unwrap();
    std::fs::write(&batch, &good[..good.len() - 1]).unwrap();
    let e = msg(load_cifar10::<Cifar>(dir.path()).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: wrong size: 12291 bytes is not a whole number of 3073-byte records (1 label byte and 3072 pixels each); the file may be truncated",
            batch.display()
        )
    );
    let mut b = good.clone();
    b[3073] = 10;
    std::fs::write(&batch, &b).unwrap();
    let e = msg(load_cifar10::<Cifar>(dir.path()).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: label 10 of image 1 is not an integer in 0..9",
            batch.display()
        )
    );
    std::fs::write(&batch, &good).unwrap();
    std::fs::write(dir.path().join("batches.meta.txt"), "a\nb\n").unwrap();
    let e = msg(load_cifar10::<Cifar>(dir.path()).unwrap_err());
    assert!(
        e.ends_with("bad class names: 2 names, expected 10 (one per line)"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("batches.meta.txt")).unwrap();
    std::fs::remove_file(dir.path().join("test_batch.bin")).unwrap();
    let e = msg(load_cifar10::<Cifar>(dir.path()).unwrap_err());
    assert!(
        e.contains("test_batch.bin: file not found (get cifar-10-binary.tar.gz"),
        "{e}"
    );
}

#[test]
fn cifar100_binary_coarse_and_fine() {
    let root = tmp();
    // As the archive unpacks: a cifar-100-binary sub-folder.
    let dir = root.path().join("cifar-100-binary");
    fixtures::write_cifar100_binary(&dir, 10, 3).unwrap();
    assert_eq!(detect_format(root.path()).unwrap(), DataFormat::Cifar100);
    let coarse: DataSplits<Cifar> =
        load_cifar100_binary(root.path(), Cifar100Labels::Coarse).unwrap();
    assert_eq!(
        (coarse.train.len(), coarse.val.len(), coarse.test.len()),
        (8, 2, 3)
    );
    assert_eq!(
        coarse.label_names,
        CIFAR100_SUPERCLASSES.map(String::from).to_vec()
    );
    let rgb = |l, i, y, x, c| fixtures::pattern_pixel(l, i, y, x, c, 32, 32);
    check_images(&coarse, &coarse.train, 0, 20, rgb);
    check_images(&coarse, &coarse.test, 1_000_000, 20, rgb);
    let opts = LoadOptions {
        cifar100_labels: Cifar100Labels::Fine,
    };
    let fine: DataSplits<Cifar> = load(root.path(), Some(DataFormat::Cifar100), &opts).unwrap();
    assert_eq!(fine.train.num_classes, 100);
    assert_eq!(
        fine.label_names,
        CIFAR100_CLASSES.map(String::from).to_vec()
    );
    let want: Vec<usize> = (0..8).map(|i| fixtures::label_of(i, 100)).collect();
    assert_eq!(fine.train.labels, want);
    assert_eq!(fine.train.images, coarse.train.images);

    // A fine label out of range, a wrong size.
    let train = dir.join("train.bin");
    let good = std::fs::read(&train).unwrap();
    let mut b = good.clone();
    b[3074 * 2 + 1] = 100;
    std::fs::write(&train, &b).unwrap();
    let e = msg(load_cifar100_binary::<Cifar>(root.path(), Cifar100Labels::Coarse).unwrap_err());
    assert_eq!(
        e,
        format!(
            "{}: label 100 of image 2 is not an integer in 0..99",
            train.display()
        )
    );
    std::fs::write(&train, &good[..3074 * 3]).unwrap();
    let e = msg(load_cifar100_binary::<Cifar>(root.path(), Cifar100Labels::Coarse).unwrap_err());
    assert_eq!(
        e,
        format!("{}: only 3 images; at least 5 are needed", train.display())
    );
}

#[cfg(feature = "image-folder")]
mod folder {
    use super::*;
    use constnet::data::load_image_folder;

    #[test]
    fn image_folder_with_train_and_test_grey_to_rgb() {
        let dir = tmp();
        fixtures::write_image_folder(dir.path(), &["cat", "ant", "bee"], 5, 2, 8, 6, 1).unwrap();
        assert_eq!(detect_format(dir.path()).unwrap(), DataFormat::Folder);
        let s: DataSplits<Image<8, 6, 3>> = load_image_folder(dir.path()).unwrap();
        assert_eq!(s.label_names, vec!["ant", "bee", "cat"]);
        // Per class: 4 train, 1 val; test 2 per class.
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (12, 3, 6));
        assert_eq!(s.train.labels, vec![0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert_eq!(s.val.labels, vec![0, 1, 2]);
        // Grey replicated: the three channels are equal, and match the file.
        let px = s.normalization.to_u8(s.train.image(0));
        // Class "ant" was written as label 1 (the fixture's order), file 000.png.
        for p in 0..48 {
            let (y, x) = (p / 6, p % 6);
            let want = fixtures::pattern_pixel(1, 1000, y, x, 0, 8, 6);
            assert_eq!(&px[p * 3..p * 3 + 3], &[want; 3], "pixel {p}");
        }
    }

    #[test]
    fn image_folder_without_splits_rgba_to_grey() {
        let dir = tmp();
        fixtures::write_image_folder(dir.path(), &["a", "b"], 10, 0, 4, 4, 4).unwrap();
        let s: DataSplits<Image<4, 4, 1>> = load_image_folder(dir.path()).unwrap();
        // Per class 10 files: 2 test, 8 -> 6 train + 2 val.
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (12, 4, 4));
        let px = s.normalization.to_u8(s.test.image(0));
        let lum = |y, x| {
            let c = |c| f64::from(fixtures::pattern_pixel(0, 8, y, x, c, 4, 4));
            (0.299 * c(0) + 0.587 * c(1) + 0.114 * c(2)).round() as u8
        };
        assert_eq!(px[5], lum(1, 1));
    }

    #[test]
    fn image_folder_bad_inputs() {
        // Empty folder.
        let dir = tmp();
        let e = msg(load_image_folder::<Image<4, 4, 3>>(dir.path()).unwrap_err());
        assert!(
            e.starts_with(&format!("{}: no images", dir.path().display())),
            "{e}"
        );
        assert!(matches!(
            detect_format(dir.path()),
            Err(DataError::UnknownFormat { .. })
        ));
        // Mixed sizes: the first odd file is named.
        fixtures::write_image_folder(dir.path(), &["a", "b"], 3, 0, 4, 4, 3).unwrap();
        let odd = dir.path().join("b").join("001.png");
        std::fs::write(&odd, fixtures::png_bytes(5, 4, 3, &[9; 60])).unwrap();
        let e = msg(load_image_folder::<Image<4, 4, 3>>(dir.path()).unwrap_err());
        assert_eq!(
            e,
            format!(
                "{}: 4x5 image, but {} and the images before it are 4x4",
                odd.display(),
                dir.path().join("a").join("000.png").display()
            )
        );
        // Not a PNG.
        std::fs::write(&odd, b"hello").unwrap();
        let e = msg(load_image_folder::<Image<4, 4, 3>>(dir.path()).unwrap_err());
        assert!(
            e.starts_with(&format!("{}: cannot decode the image (", odd.display())),
            "{e}"
        );
        std::fs::remove_file(&odd).unwrap();
        // The wrong size for the network.
        let e = msg(load_image_folder::<Image<8, 8, 3>>(dir.path()).unwrap_err());
        assert_eq!(
            e,
            format!(
                "the network takes 8x8x3 images; {} holds 4x4x3",
                dir.path().display()
            )
        );
        // A test class without a training folder.
        let split = tmp();
        fixtures::write_image_folder(split.path(), &["a"], 3, 1, 4, 4, 3).unwrap();
        std::fs::create_dir_all(split.path().join("test").join("zebra")).unwrap();
        let e = msg(load_image_folder::<Image<4, 4, 3>>(split.path()).unwrap_err());
        assert!(
            e.ends_with("class 'zebra' has no training folder (the training classes are a)"),
            "{e}"
        );
    }

    #[test]
    fn fuzz_png_files() {
        let dir = tmp();
        fixtures::write_image_folder(dir.path(), &["a", "b"], 3, 0, 6, 6, 3).unwrap();
        let victim = dir.path().join("a").join("001.png");
        let good = std::fs::read(&victim).unwrap();
        let mut rng = fixtures::rng(7);
        let mut errors = 0;
        for _ in 0..1000 {
            std::fs::write(&victim, fixtures::mutate(&good, &mut rng)).unwrap();
            if load_image_folder::<Image<6, 6, 3>>(dir.path()).is_err() {
                errors += 1;
            }
        }
        assert!(errors > 500, "{errors}");
    }
}

/// Loads after each of 1,000 mutations of `victim`; no panic (a panic fails the test), and most
/// mutations are reported.
fn fuzz<F: Fn() -> Result<(), DataError>>(victim: &Path, seed: u64, load: F) {
    let good = std::fs::read(victim).unwrap();
    let mut rng = fixtures::rng(seed);
    let mut errors = 0;
    for _ in 0..1000 {
        std::fs::write(victim, fixtures::mutate(&good, &mut rng)).unwrap();
        if let Err(e) = load() {
            let _ = msg(e);
            errors += 1;
        }
    }
    assert!(errors > 300, "only {errors} of 1000 mutations reported");
}

#[test]
fn fuzz_idx_files() {
    let mut cases = vec![
        (false, "train-images-idx3-ubyte", 1),
        (false, "train-labels-idx1-ubyte", 2),
    ];
    if cfg!(feature = "gzip") {
        cases.push((true, "t10k-images-idx3-ubyte.gz", 3));
    }
    for (gz, file, seed) in cases {
        let dir = tmp();
        fixtures::write_mnist(dir.path(), 5, 2, 10, gz).unwrap();
        fuzz(&dir.path().join(file), seed, || {
            load_idx::<Mnist>(dir.path()).map(|_| ())
        });
    }
}

#[test]
fn fuzz_cifar_binary_files() {
    let dir = tmp();
    fixtures::write_cifar10(dir.path(), 1, 5, 1).unwrap();
    fuzz(&dir.path().join("data_batch_1.bin"), 4, || {
        load_cifar10::<Cifar>(dir.path()).map(|_| ())
    });
    let dir = tmp();
    fixtures::write_cifar100_binary(dir.path(), 5, 1).unwrap();
    fuzz(&dir.path().join("train.bin"), 5, || {
        load_cifar100_binary::<Cifar>(dir.path(), Cifar100Labels::Fine).map(|_| ())
    });
}

#[test]
fn detect_format_errors() {
    let dir = tmp();
    let missing = dir.path().join("nope");
    let e = msg(detect_format(&missing).unwrap_err());
    assert!(
        e.starts_with(&format!("{}: folder not found", missing.display())),
        "{e}"
    );
    std::fs::write(dir.path().join("readme.txt"), "x").unwrap();
    let e = msg(detect_format(dir.path()).unwrap_err());
    assert!(
        e.starts_with(&format!(
            "{}: no known data set files",
            dir.path().display()
        )),
        "{e}"
    );
    assert_eq!(
        "cifar100-mat".parse::<DataFormat>().unwrap(),
        DataFormat::Cifar100Mat
    );
    assert!("jpeg".parse::<DataFormat>().is_err());
}

#[test]
fn dataset_from_vecs_checks_lengths_and_labels() {
    type S = Image<2, 3, 2>;
    let d = Dataset::<S>::new(vec![0.5; 24], vec![0, 1], 2).unwrap();
    assert_eq!((d.len(), <Dataset<S>>::IMAGE_LEN), (2, 12));
    let e = msg(Dataset::<S>::new(vec![0.5; 23], vec![0, 1], 2).unwrap_err());
    assert_eq!(
        e,
        "23 values for 2 labels: not 2 images of 2x3x2 (12 values each)"
    );
    let e = msg(Dataset::<S>::from_u8(&[0; 24], vec![0, 5], 3).unwrap_err());
    assert_eq!(e, "label 5 of image 1 is not in 0..2 (3 classes)");
    // Splits from the user's own data: normalised on train.
    let train = Dataset::<S>::from_u8(
        &(0..48).map(|v| v as u8 * 5).collect::<Vec<_>>(),
        vec![0, 1, 0, 1],
        2,
    )
    .unwrap();
    let val = Dataset::<S>::from_u8(&[100; 12], vec![1], 2).unwrap();
    let s =
        DataSplits::from_datasets(train, val.clone(), val, vec!["x".into(), "y".into()]).unwrap();
    assert_eq!(s.normalization.channels(), 2);
    let m = Normalization::of_images(&s.train.images, 2);
    assert!(m.mean.iter().all(|v| v.abs() < 1e-6), "{m:?}");
    assert_eq!(s.normalization.to_u8(s.val.image(0)), vec![100; 12]);
}

#[test]
fn normalization_restores_and_rejects_bad_numbers() {
    let n = Normalization::new(vec![0.1, 0.2, 0.3, 0.4], vec![0.5, 0.6, 0.7, 0.8]).unwrap();
    let restored = Normalization::new(n.mean.clone(), n.std.clone()).unwrap();
    assert_eq!(
        restored.normalize_u8(&[0, 51, 102, 255]),
        n.normalize_u8(&[0, 51, 102, 255])
    );
    let mut x = vec![0.2f32, 0.4, 0.6, 0.8];
    n.normalize(&mut x);
    for (a, b) in n.normalize_u8(&[51, 102, 153, 204]).iter().zip(&x) {
        assert!((a - b).abs() < 1e-6, "{a} {b}");
    }
    let e = msg(Normalization::new(vec![0.5], vec![0.0]).unwrap_err());
    assert_eq!(
        e,
        "bad normalisation: standard deviation 0 of channel 0 is not a positive number"
    );
    assert!(Normalization::new(vec![0.5, 0.5], vec![1.0]).is_err());
}

#[test]
fn augmentation_is_seeded_and_off_by_default() {
    let data: Vec<f32> = (0..4 * 32 * 32 * 3).map(|v| (v % 251) as f32).collect();
    let run = |seed| {
        let mut batch = data.clone();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        Augment::CIFAR.apply::<Cifar, _>(&mut batch, &mut rng);
        batch
    };
    let a = run(11);
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        run(11).iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_ne!(a, run(12));
    assert_ne!(a, data);
    // Each augmented image is a shifted (and maybe mirrored) copy: its non-zero values are
    // values of the original image, and at least (32-8)^2 pixels survive.
    for (img, orig) in a.chunks(3072).zip(data.chunks(3072)) {
        let kept = img
            .chunks(3)
            .filter(|p| p.iter().any(|&v| v != 0.0))
            .count();
        assert!(kept >= 24 * 24, "{kept}");
        assert!(img.iter().all(|v| *v == 0.0 || orig.contains(v)));
    }
    assert_eq!(Augment::default(), Augment::NONE);
    assert!(Augment::default().is_off());
}
