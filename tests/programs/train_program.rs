//! The `train` program, run as a process on small data sets this test writes: MNIST IDX files
//! (plain and `.gz`), an image folder, CIFAR-10 binary files; bad files of every format (one
//! line `error: <file>: <what>`, exit status 1, no panic); a model that does not fit the data;
//! and exact resume.
//!
//! The processes are this test binary itself: [`run_train`] starts `<this binary> --exact
//! train_program::program` with the `train` command line in the environment variable [`ARGS_ENV`]; the
//! `program` test then runs the example's own parser and `common::run` (as its `main` does) and
//! exits with the program's exit status. Run normally, `program` does nothing. This avoids
//! building the example separately and tests the real stdout, stderr and exit status.

use crate::train;

use constnet::data::{CIFAR10_CLASSES, fixtures};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// The `train` arguments of a child process, separated by newlines.
const ARGS_ENV: &str = "CONSTNET_TEST_TRAIN_ARGS";

/// Every file a run writes.
const FILES: [&str; 10] = [
    "model.safetensors",
    "last.safetensors",
    "metrics.json",
    "confusion.csv",
    "curves.png",
    "filters.png",
    "feature_maps.png",
    "samples.png",
    "confusion.png",
    "report.html",
];

/// The `train` program in a child process started by [`run_train`]; nothing otherwise.
#[test]
fn program() {
    let Ok(args) = std::env::var(ARGS_ENV) else {
        return;
    };
    let parsed = train::parse(std::iter::once("train").chain(args.lines()));
    std::process::exit(i32::from(train::common::finish(parsed)));
}

/// Runs `train ARGS` (plus `--threads 2`) in a child process.
fn run_train(args: &[&str]) -> Output {
    let exe = std::env::current_exe().expect("test binary");
    let mut all = args.to_vec();
    all.extend(["--threads", "2"]);
    Command::new(exe)
        .args([
            "--exact",
            "train_program::program",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(ARGS_ENV, all.join("\n"))
        .output()
        .expect("the test binary starts")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs `train ARGS`, which must succeed, and returns its `metrics.json`.
fn train_ok(args: &[&str], out: &Path) -> Value {
    let mut all = args.to_vec();
    let out_text = out.display().to_string();
    all.extend(["--out", &out_text]);
    let output = run_train(&all);
    assert!(
        output.status.success(),
        "train {all:?} failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    for file in FILES {
        let len = std::fs::metadata(out.join(file))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len > 0, "{file} missing or empty");
    }
    let metrics = std::fs::read_to_string(out.join("metrics.json")).expect("metrics.json");
    serde_json::from_str(&metrics).expect("metrics.json is JSON")
}

/// Runs `train ARGS`, which must fail with exit status 1 and one line on stderr, and returns
/// that line.
fn train_error(args: &[&str], out: &Path) -> String {
    let mut all = args.to_vec();
    let out_text = out.display().to_string();
    all.extend(["--out", &out_text]);
    let output = run_train(&all);
    let stderr = text(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(1),
        "train {all:?}: stderr {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    lines[0].to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

fn mnist(dir: &Path, gz: bool) {
    fixtures::write_mnist(dir, 50, 20, 10, gz).expect("MNIST fixtures");
}

fn cifar10(dir: &Path) {
    fixtures::write_cifar10(dir, 5, 4, 10).expect("CIFAR-10 fixtures");
}

#[test]
fn lenet5_trains_on_mnist_idx_files_plain_and_gzipped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    mnist(&data, false);
    let out = tmp.path().join("run");
    let m = train_ok(
        &[
            "--model",
            "lenet5",
            "--data",
            &data.display().to_string(),
            "--epochs",
            "1",
        ],
        &out,
    );
    assert_eq!(m["dataset"], "mnist");
    assert_eq!(m["data_dir"], data.display().to_string());
    assert_eq!(m["model"], "LeNet5");
    assert_eq!(m["parameters"], 61_706);
    assert_eq!(
        (&m["train_size"], &m["val_size"], &m["test_size"]),
        (&Value::from(40), &Value::from(10), &Value::from(20))
    );
    assert_eq!(m["num_classes"], 10);
    assert_eq!(strings(&m["label_names"]).len(), 10);
    assert_eq!(m["channel_mean"].as_array().unwrap().len(), 1);
    assert_eq!(m["channel_std"].as_array().unwrap().len(), 1);
    assert_eq!(m["augment"], "none");
    assert_eq!(m["history"].as_array().unwrap().len(), 1);
    assert_eq!(m["loss_per_iteration"].as_array().unwrap().len(), 4);
    let test_acc = m["test_acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&test_acc), "{test_acc}");
    // The confusion matrix counts the 20 test images, with the class names as headers.
    let csv = std::fs::read_to_string(out.join("confusion.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').skip(1).collect();
    assert_eq!(header, strings(&m["label_names"]));
    let total: usize = rows
        .flat_map(|r| r.split(',').skip(1).map(|v| v.parse::<usize>().unwrap()))
        .collect::<Vec<_>>()
        .iter()
        .sum();
    assert_eq!(total, 20);

    // The same files gzipped, with augmentation.
    let gz = tmp.path().join("mnist-gz");
    mnist(&gz, true);
    assert!(gz.join("train-images-idx3-ubyte.gz").is_file());
    let m = train_ok(
        &[
            "--model",
            "lenet5",
            "--data",
            &gz.display().to_string(),
            "--format",
            "mnist",
            "--epochs",
            "1",
            "--augment",
        ],
        &tmp.path().join("run-gz"),
    );
    assert_eq!(
        (&m["dataset"], &m["train_size"]),
        (&"mnist".into(), &40.into())
    );
    assert_eq!(m["augment"], "crop4+flip");
}

#[test]
fn lenet5_trains_on_an_image_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("digits");
    let classes = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    // 28x28 grey PNGs, 5 per class: of each class 1 test, 1 validation and 3 training images.
    fixtures::write_image_folder(&root, &classes, 5, 0, 28, 28, 1).expect("PNG fixtures");
    let m = train_ok(
        &[
            "--model",
            "lenet5",
            "--data",
            &root.display().to_string(),
            "--epochs",
            "1",
        ],
        &tmp.path().join("run"),
    );
    assert_eq!(m["dataset"], "image-folder");
    let mut sorted = classes.map(String::from).to_vec();
    sorted.sort();
    assert_eq!(strings(&m["label_names"]), sorted);
    assert_eq!(
        (&m["train_size"], &m["val_size"], &m["test_size"]),
        (&Value::from(30), &Value::from(10), &Value::from(10))
    );
}

#[test]
fn resnet20_trains_on_cifar10_binary_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("cifar10");
    cifar10(&data);
    let m = train_ok(
        &[
            "--model",
            "resnet20",
            "--data",
            &data.display().to_string(),
            "--epochs",
            "1",
            "--batch-size",
            "8",
        ],
        &tmp.path().join("run"),
    );
    assert_eq!(m["dataset"], "cifar10");
    assert_eq!(m["model"], "ResNet20");
    // 273,124 parameters at 20 classes, 64 x 10 + 10 fewer at 10.
    assert_eq!(m["parameters"], 273_124 - 64 * 10 - 10);
    assert_eq!(
        strings(&m["label_names"]),
        CIFAR10_CLASSES.map(String::from)
    );
    assert_eq!(
        (&m["train_size"], &m["val_size"], &m["test_size"]),
        (&Value::from(16), &Value::from(4), &Value::from(10))
    );
    assert_eq!(m["channel_mean"].as_array().unwrap().len(), 3);
}

/// A damaged copy of a fixture: its name, the file, the damage, a word of the expected message.
type BadFile<'a> = (&'a str, &'a str, &'a dyn Fn(&mut Vec<u8>), &'a str);

/// Each loader's bad inputs: one line naming the file and what is wrong, exit status 1.
#[test]
fn bad_files_are_one_line_errors_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let lenet = |dir: &Path| {
        vec![
            "--model".to_string(),
            "lenet5".to_string(),
            "--data".to_string(),
            dir.display().to_string(),
        ]
    };
    let error = |args: Vec<String>| {
        let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
        args.extend(["--epochs", "1"]);
        train_error(&args, &out)
    };
    let edit = |path: &Path, change: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = std::fs::read(path).unwrap();
        change(&mut bytes);
        std::fs::write(path, bytes).unwrap();
    };

    // MNIST: wrong magic, truncated, wrong size, label out of range.
    let cases: [BadFile; 4] = [
        (
            "magic",
            "train-images-idx3-ubyte",
            &|b| b[..4].copy_from_slice(&[0, 0, 8, 1]),
            "not an IDX image file",
        ),
        (
            "truncated",
            "train-images-idx3-ubyte",
            &|b| b.truncate(b.len() - 100),
            "truncated",
        ),
        // 49 labels (header and bytes) for 50 images.
        (
            "size",
            "train-labels-idx1-ubyte",
            &|b| {
                b[4..8].copy_from_slice(&49u32.to_be_bytes());
                b.pop();
            },
            "49 labels, but ",
        ),
        // A test label that is not a training class (the classes are the training labels').
        (
            "label",
            "t10k-labels-idx1-ubyte",
            &|b| b[8] = 10,
            "label 10 of image 0",
        ),
    ];
    for (name, file, change, what) in cases {
        let dir = tmp.path().join(format!("mnist-{name}"));
        mnist(&dir, false);
        let path = dir.join(file);
        edit(&path, change);
        let line = error(lenet(&dir));
        assert!(
            line.starts_with(&format!("error: {}: ", path.display())),
            "{name}: {line}"
        );
        assert!(line.contains(what), "{name}: {line}");
    }

    // CIFAR-10: a file that is not whole records, a label out of range, a missing test file.
    let resnet = |dir: &Path| {
        vec![
            "--model".to_string(),
            "resnet20".to_string(),
            "--data".to_string(),
            dir.display().to_string(),
        ]
    };
    let cases: [BadFile; 2] = [
        (
            "size",
            "data_batch_2.bin",
            &|b| b.truncate(3073 + 100),
            "3073",
        ),
        ("label", "test_batch.bin", &|b| b[3073] = 10, "label 10"),
    ];
    for (name, file, change, what) in cases {
        let dir = tmp.path().join(format!("cifar10-{name}"));
        cifar10(&dir);
        let path = dir.join(file);
        edit(&path, change);
        let line = error(resnet(&dir));
        assert!(
            line.starts_with(&format!("error: {}: ", path.display())),
            "{name}: {line}"
        );
        assert!(line.contains(what), "{name}: {line}");
    }
    let dir = tmp.path().join("cifar10-missing");
    cifar10(&dir);
    std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
    let line = error(resnet(&dir));
    assert!(
        line.starts_with(&format!(
            "error: {}: file not found",
            dir.join("test_batch.bin").display()
        )),
        "{line}"
    );

    // CIFAR-100 binary: a coarse label out of range.
    let dir = tmp.path().join("cifar100-label");
    fixtures::write_cifar100_binary(&dir, 10, 5).unwrap();
    let path = dir.join("train.bin");
    edit(&path, &|b| b[0] = 20);
    let line = error(resnet(&dir));
    assert!(
        line.starts_with(&format!("error: {}: ", path.display())) && line.contains("label 20"),
        "{line}"
    );

    // CIFAR-100 Matlab: files that are not MAT files.
    let dir = tmp.path().join("cifar100-mat");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.mat"), b"not a MAT file").unwrap();
    std::fs::write(dir.join("test.mat"), b"not a MAT file").unwrap();
    let line = error(resnet(&dir));
    assert!(
        line.starts_with(&format!("error: {}", dir.join("t").display()))
            && line
                .contains(".mat: not a MAT file (14 bytes, shorter than the 128-byte MAT header)"),
        "{line}"
    );

    // Image folder: empty, mixed sizes, a file that is not a PNG.
    let dir = tmp.path().join("folder-empty");
    std::fs::create_dir_all(dir.join("cats")).unwrap();
    let mut args = lenet(&dir);
    args.extend(["--format".to_string(), "folder".to_string()]);
    let line = error(args);
    assert!(
        line.starts_with(&format!("error: {}: no images", dir.display())),
        "{line}"
    );
    let line = error(lenet(&dir));
    assert!(
        line.starts_with(&format!(
            "error: {}: no known data set files",
            dir.display()
        )),
        "{line}"
    );

    let dir = tmp.path().join("folder-mixed");
    fixtures::write_image_folder(&dir, &["a", "b"], 3, 0, 28, 28, 1).unwrap();
    let odd = dir.join("b").join("001.png");
    std::fs::write(&odd, fixtures::png_bytes(20, 20, 1, &[7; 400])).unwrap();
    let line = error(lenet(&dir));
    assert!(
        line.starts_with(&format!("error: {}: 20x20 image, but ", odd.display())),
        "{line}"
    );

    let dir = tmp.path().join("folder-bad-png");
    fixtures::write_image_folder(&dir, &["a", "b"], 3, 0, 28, 28, 1).unwrap();
    let bad = dir.join("a").join("002.png");
    std::fs::write(&bad, b"\x89PNG but not really").unwrap();
    let line = error(lenet(&dir));
    assert!(
        line.starts_with(&format!("error: {}: cannot decode", bad.display())),
        "{line}"
    );

    // A missing folder.
    let dir = tmp.path().join("nowhere");
    let line = error(lenet(&dir));
    assert!(
        line.starts_with(&format!("error: {}: folder not found", dir.display())),
        "{line}"
    );
}

/// A model whose input shape or class count does not fit the data: one clear line.
#[test]
fn a_model_that_does_not_fit_the_data_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let cifar = tmp.path().join("cifar10");
    cifar10(&cifar);
    let line = train_error(
        &["--model", "lenet5", "--data", &cifar.display().to_string()],
        &out,
    );
    assert_eq!(
        line,
        format!(
            "error: LeNet5 takes 28x28x1 images; {} holds 32x32x3",
            cifar.display()
        )
    );
    let mnist_dir = tmp.path().join("mnist");
    mnist(&mnist_dir, false);
    let line = train_error(
        &[
            "--model",
            "resnet20",
            "--data",
            &mnist_dir.display().to_string(),
        ],
        &out,
    );
    assert_eq!(
        line,
        format!(
            "error: ResNet20 takes 32x32x3 images; {} holds 28x28x1",
            mnist_dir.display()
        )
    );
    let line = train_error(
        &[
            "--model",
            "small-cnn",
            "--data",
            &cifar.display().to_string(),
        ],
        &out,
    );
    assert!(
        line.starts_with(&format!(
            "error: SmallCnn has 20 outputs, but CIFAR-10 ({}) holds 10 classes",
            cifar.display()
        )),
        "{line}"
    );
    // Nothing was trained or written.
    assert!(!out.join("metrics.json").exists());
}

/// `metrics.json` without the keys that measure time or name the resume file.
fn deterministic_metrics(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    let mut m: Value = serde_json::from_str(&text).unwrap();
    let map = m.as_object_mut().unwrap();
    for key in [
        "train_images_per_sec",
        "eval_images_per_sec",
        "resumed_from",
    ] {
        map.remove(key);
    }
    for epoch in map["history"].as_array_mut().unwrap() {
        let e = epoch.as_object_mut().unwrap();
        for key in ["seconds", "train_images_per_sec", "sync_seconds"] {
            e.remove(key);
        }
    }
    m
}

/// `--epochs 2` then `--resume OUT/last.safetensors --epochs 4` gives the same
/// `model.safetensors` and `metrics.json` (timings aside) as `--epochs 4`, with augmentation.
#[test]
fn two_epochs_resumed_to_four_equal_four_in_one_go() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    mnist(&data, false);
    let data_text = data.display().to_string();
    let args = |epochs: &'static str| {
        vec![
            "--model",
            "lenet5",
            "--data",
            &data_text,
            "--augment",
            "--batch-size",
            "8",
            "--label-smoothing",
            "0.1",
            "--epochs",
            epochs,
        ]
    };
    let whole = tmp.path().join("whole");
    train_ok(&args("4"), &whole);
    let split = tmp.path().join("split");
    train_ok(&args("2"), &split);
    let state = split.join("last.safetensors").display().to_string();
    let mut resume = args("4");
    resume.extend(["--resume", &state]);
    let m = train_ok(&resume, &split);
    assert_eq!(m["resumed_from"], state);

    for file in ["model.safetensors", "confusion.csv"] {
        assert!(
            std::fs::read(whole.join(file)).unwrap() == std::fs::read(split.join(file)).unwrap(),
            "{file} differs"
        );
    }
    let (a, b) = (deterministic_metrics(&whole), deterministic_metrics(&split));
    assert_eq!(a, b);
    assert_eq!(a["history"].as_array().unwrap().len(), 4);

    // Resuming without the augmentation the run was saved with is refused.
    let mut other = args("4");
    other.retain(|a| *a != "--augment");
    other.extend(["--resume", &state]);
    let line = train_error(&other, &tmp.path().join("other"));
    assert!(line.contains("augmentation crop4+flip"), "{line}");
}

/// The command line, parsed in-process: its defaults and its own options; `--model` and
/// `--data` are required.
#[test]
fn the_command_line_is_read() {
    use constnet::data::{Cifar100Labels, DataFormat};
    use train::common::{Model, Program};
    let parse = |args: &[&str]| train::parse(std::iter::once("train").chain(args.iter().copied()));
    let train::Parsed::Run(o) = parse(&["--model", "lenet5", "--data", "d"]) else {
        panic!("not parsed");
    };
    assert_eq!((o.program, o.model()), (Program::Train, Model::LeNet5));
    assert_eq!(o.data, Some("d".into()));
    assert_eq!(o.format, None);
    assert_eq!(o.out, std::path::PathBuf::from("runs/train"));
    assert_eq!(o.cifar100_labels, Cifar100Labels::Coarse);
    assert!(!o.augment && o.shuffle);
    assert_eq!((o.epochs, o.batch_size, o.lr, o.seed), (5, 10, 0.001, 123));
    let train::Parsed::Run(o) = parse(&[
        "--model",
        "resnet20",
        "--data",
        "d",
        "--format",
        "cifar100",
        "--cifar100-labels",
        "fine",
        "--augment",
        "--out",
        "o",
    ]) else {
        panic!("not parsed");
    };
    assert_eq!(o.format, Some(DataFormat::Cifar100));
    assert_eq!(o.cifar100_labels, Cifar100Labels::Fine);
    assert!(o.augment);
    assert_eq!(o.out, std::path::PathBuf::from("o"));
    for args in [
        &["--data", "d"][..],
        &["--model", "lenet5"][..],
        &["--model", "vgg", "--data", "d"][..],
        &["--model", "lenet5", "--data", "d", "--format", "jpeg"][..],
        &["--model", "lenet5", "--data", "d", "--cifar100-labels", "x"][..],
        &["--model", "lenet5", "--data", "d", "--synthetic"][..],
    ] {
        let train::Parsed::Exit { message, code } = parse(args) else {
            panic!("{args:?} accepted");
        };
        assert_eq!(code, 2, "{args:?}");
        assert!(
            message.starts_with("error: ") && !message.contains('\n'),
            "{message}"
        );
    }
}
