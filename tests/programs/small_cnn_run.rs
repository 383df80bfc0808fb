//! The `small_cnn` code path (`examples/common`) on tiny data sets, in-process: every file listed
//! in `examples/README.md` is checked (the `metrics.json` schema key by key), on synthetic data
//! and on small CIFAR-100 MAT files.

use crate::common::{self, AppError, RunOptions, SmallCnn, SmallCnnBn, run};
use constnet::data::mat_writer::{Compression, MatVar, write_mat_file};
use constnet::train::{Samples, evaluate, load_checkpoint, read_checkpoint_info};
use constnet::{Network, plot};
use std::path::Path;

/// One epoch on 200 / 60 / 60 synthetic images.
fn tiny(out: &Path) -> RunOptions {
    RunOptions {
        synthetic: true,
        synthetic_sizes: [200, 60, 60],
        epochs: 1,
        batch_size: 20,
        threads: Some(2),
        out: out.to_path_buf(),
        quiet: true,
        ..RunOptions::default()
    }
}

/// The documented `metrics.json` keys (examples/README.md).
const SCHEMA_KEYS: [&str; 27] = [
    "dataset",
    "data_dir",
    "train_size",
    "val_size",
    "test_size",
    "num_classes",
    "label_names",
    "channel_mean",
    "channel_std",
    "model",
    "parameters",
    "optimizer",
    "learning_rate",
    "batch_size",
    "epochs",
    "seed",
    "threads",
    "label_noise",
    "history",
    "loss_per_iteration",
    "best_epoch",
    "best_val_acc",
    "test_acc",
    "train_images_per_sec",
    "eval_images_per_sec",
    // not top-level, checked in `history`:
    "train_loss",
    "val_acc",
];

fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (reader.info().width, reader.info().height)
}

/// Parses `confusion.csv` into its header names and count rows.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<usize>>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').skip(1).map(|c| c.parse().unwrap()).collect())
        .collect();
    (header, rows)
}

#[test]
fn a_synthetic_run_writes_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let outcome = run(&tiny(&out)).unwrap();
    let m = &outcome.metrics;

    // metrics.json: every documented key, with the run's values.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("metrics.json")).unwrap()).unwrap();
    for key in &SCHEMA_KEYS[..25] {
        assert!(json.get(key).is_some(), "metrics.json has no '{key}'");
    }
    for key in [
        "epoch",
        "train_loss",
        "train_acc",
        "val_acc",
        "learning_rate",
        "seconds",
        "train_images_per_sec",
    ] {
        assert!(
            json["history"][0].get(key).is_some(),
            "history has no '{key}'"
        );
    }
    assert_eq!(json["dataset"], "synthetic");
    assert!(json["data_dir"].is_null());
    assert_eq!(json["train_size"], 200);
    assert_eq!(json["test_size"], 60);
    assert_eq!(json["model"], "SmallCnn");
    assert_eq!(json["parameters"], 164_008);
    assert_eq!(json["optimizer"], "adam");
    assert_eq!(json["threads"], 2);
    assert_eq!(json["label_names"].as_array().unwrap().len(), 20);
    assert_eq!(json["loss_per_iteration"].as_array().unwrap().len(), 10);
    assert_eq!(json["best_epoch"], 1);
    assert_eq!(json["init"], "he");
    assert!(m.train_images_per_sec > 0.0 && m.eval_images_per_sec > 0.0);

    // confusion.csv: 60 test images; the diagonal is the test accuracy.
    let (header, rows) = read_csv(&out.join("confusion.csv"));
    assert_eq!(header.len(), 21);
    assert_eq!(rows.len(), 20);
    let total: usize = rows.iter().flatten().sum();
    let correct: usize = (0..20).map(|i| rows[i][i]).sum();
    assert_eq!(total, 60);
    let test_acc = json["test_acc"].as_f64().unwrap();
    assert!(
        (correct as f64 / 60.0 - test_acc).abs() < 1e-12,
        "{correct}/60 vs {test_acc}"
    );

    // The pictures decode and have sensible sizes.
    assert_eq!(png_size(&out.join("curves.png")), plot::CURVES_SIZE);
    for (file, min_w, min_h) in [
        ("filters.png", 400, 500),
        ("feature_maps.png", 600, 600),
        ("samples.png", 1000, 500),
        ("confusion.png", 800, 800),
    ] {
        let (w, h) = png_size(&out.join(file));
        assert!(
            w >= min_w && h >= min_h && w < 4000 && h < 4000,
            "{file}: {w}x{h}"
        );
    }

    // model.safetensors loads back, and gives the reported test accuracy.
    let mut net = SmallCnn::<f32>::new(999);
    load_checkpoint(&mut net, out.join("model.safetensors")).unwrap();
    let data = constnet::data::synthetic(&constnet::data::SyntheticConfig {
        train: 200,
        val: 60,
        test: 60,
        ..Default::default()
    });
    let predicted = evaluate(
        &mut net,
        Samples::new(&data.test.images, &data.test.labels),
        7,
    )
    .unwrap();
    let acc = constnet::train::accuracy(&predicted, &data.test.labels);
    assert!((acc - m.test_acc).abs() < 1e-12, "{acc} vs {}", m.test_acc);
    // Its metadata: the model as --model spells it, the class names, the normalisation.
    let info = read_checkpoint_info(out.join("model.safetensors")).unwrap();
    assert_eq!(info.model.as_deref(), Some("small-cnn"));
    assert_eq!(info.class_names, data.label_names);
    assert_eq!(info.normalization.as_ref(), Some(&data.normalization));

    // report.html: one file with every section and the pictures embedded.
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for id in [
        "synthetic",
        "test-acc",
        "hyper-parameters",
        "model",
        "history",
        "curves",
        "filters",
        "feature-maps",
        "samples",
        "confusion",
        "confused-pairs",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "report has no section '{id}'"
        );
    }
    assert_eq!(html.matches("src=\"data:image/png;base64,").count(), 5);
    assert!(html.contains("Conv2d&lt;3, 16, 3, 1, 1&gt;"));
    assert!(html.contains(&format!("{:.2} %", m.test_acc * 100.0)));
    assert_eq!(outcome.files.len(), 10);
    assert!(outcome.out.join("last.safetensors").is_file());
}

#[test]
fn batchnorm_label_noise_and_init() {
    let dir = tempfile::tempdir().unwrap();
    let bn_out = dir.path().join("bn");
    let options = RunOptions {
        batchnorm: true,
        label_noise: 0.2,
        ..tiny(&bn_out)
    };
    let outcome = run(&options).unwrap();
    assert_eq!(outcome.metrics.model, "SmallCnnBn");
    assert_eq!(outcome.metrics.noisy_labels, 40);
    let mut net = SmallCnnBn::<f32>::new(5);
    load_checkpoint(&mut net, bn_out.join("model.safetensors")).unwrap();
    // The running statistics moved away from their initial (0, 1).
    assert!(
        net.param("bn1.running_mean")
            .unwrap()
            .iter()
            .any(|&v| v != 0.0)
    );

    // --init from that checkpoint continues from its parameters.
    let again = RunOptions {
        init: Some(bn_out.join("model.safetensors")),
        out: dir.path().join("again"),
        ..options.clone()
    };
    let continued = run(&again).unwrap();
    assert_eq!(
        continued.metrics.init,
        bn_out.join("model.safetensors").display().to_string()
    );

    // A SmallCnn checkpoint lacks bn1.*: an error naming the tensor, exit code 1.
    let plain_out = dir.path().join("plain");
    run(&tiny(&plain_out)).unwrap();
    let wrong = RunOptions {
        init: Some(plain_out.join("model.safetensors")),
        out: dir.path().join("wrong"),
        ..options
    };
    let err = run(&wrong).unwrap_err();
    assert!(matches!(err, AppError::Checkpoint(_)), "{err:?}");
    assert!(err.to_string().contains("bn1."), "{err}");
    assert_eq!(err.exit_code(), 1);
    assert!(!err.to_string().contains('\n'));
}

/// Writes a CIFAR-100-like `name` with `n` images of 20 classes (uint8 data, double labels).
fn write_cifar(path: &Path, n: usize, offset: usize) {
    let data: Vec<u8> = (0..n * 3072)
        .map(|j| ((j * 31 + offset * 7) % 251) as u8)
        .collect();
    let coarse: Vec<f64> = (0..n).map(|i| ((i + offset) % 20) as f64).collect();
    let fine: Vec<f64> = (0..n).map(|i| ((i + offset) % 100) as f64).collect();
    write_mat_file(
        path,
        &[
            MatVar::char("batch_label", "training batch 1 of 1"),
            MatVar::new("fine_labels", n, 1, &fine[..]),
            MatVar::new("coarse_labels", n, 1, &coarse[..]),
            MatVar::new("data", n, 3072, &data[..]),
        ],
        Compression::None,
    )
    .unwrap();
}

#[test]
fn cifar100_mat_files_are_used_and_bad_data_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar100");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar(&data.join("train.mat"), 100, 0);
    write_cifar(&data.join("test.mat"), 40, 3);
    let out = dir.path().join("run");
    let options = RunOptions {
        synthetic: false,
        data: Some(data.clone()),
        limit_train: Some(50),
        ..tiny(&out)
    };
    let outcome = run(&options).unwrap();
    let m = &outcome.metrics;
    assert_eq!(m.dataset, "cifar100");
    assert_eq!(m.data_dir.as_deref(), Some(data.to_str().unwrap()));
    assert_eq!((m.train_size, m.val_size, m.test_size), (50, 20, 40));
    assert_eq!(m.label_names[18], "vehicles_1");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("id=\"synthetic\""));
    let (header, rows) = read_csv(&out.join("confusion.csv"));
    assert_eq!(header[19], "vehicles_1");
    assert_eq!(rows.iter().flatten().sum::<usize>(), 40);

    // A missing folder and a damaged file: one-line errors naming the file, exit code 1.
    let missing = RunOptions {
        data: Some(dir.path().join("nowhere")),
        ..options.clone()
    };
    let err = run(&missing).unwrap_err();
    assert!(err.to_string().contains("nowhere"), "{err}");
    assert_eq!(err.exit_code(), 1);
    std::fs::write(data.join("test.mat"), b"not a mat file").unwrap();
    let err = run(&options).unwrap_err();
    assert!(err.to_string().contains("test.mat"), "{err}");
    assert!(!err.to_string().contains('\n'));
}

#[test]
fn resnet20_trains_on_cifar100_mat_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("cifar100");
    std::fs::create_dir_all(&data).unwrap();
    write_cifar(&data.join("train.mat"), 50, 0);
    write_cifar(&data.join("test.mat"), 20, 3);
    let out = dir.path().join("run");
    let options = RunOptions {
        synthetic: false,
        data: Some(data),
        network: common::Model::ResNet20,
        batch_size: 8,
        ..tiny(&out)
    };
    let outcome = run(&options).unwrap();
    let m = &outcome.metrics;
    assert_eq!((m.model.as_str(), m.parameters), ("ResNet20", 273_124));
    assert_eq!((m.train_size, m.val_size, m.test_size), (40, 10, 20));
    for file in [
        "model.safetensors",
        "filters.png",
        "feature_maps.png",
        "report.html",
    ] {
        assert!(out.join(file).exists(), "{file}");
    }
    let mut net = constnet::models::ResNet20::<20>::new(0);
    load_checkpoint(&mut net, out.join("model.safetensors")).unwrap();
    let info = read_checkpoint_info(out.join("model.safetensors")).unwrap();
    assert_eq!(info.model.as_deref(), Some("resnet20"));
    assert_eq!(info.class_names.len(), 20);
    assert_eq!(info.class_names, m.label_names);
    let norm = info.normalization.unwrap();
    assert_eq!(norm.mean_f32(), m.channel_mean.to_vec());
}

#[test]
fn bad_option_values_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let bad = RunOptions {
        epochs: 0,
        ..tiny(&out)
    };
    let err = run(&bad).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(!out.exists());
}

#[test]
fn an_unwritable_out_says_what_was_being_written() {
    let dir = tempfile::tempdir().unwrap();
    // A file where the folder should be, and a folder below a file.
    let file = dir.path().join("taken");
    std::fs::write(&file, b"x").unwrap();
    for out in [file.clone(), file.join("run")] {
        let err = run(&tiny(&out)).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("cannot create the output folder (--out) "),
            "{message}"
        );
        assert!(message.contains(&out.display().to_string()), "{message}");
        assert!(!message.contains('\n'));
        assert_eq!(err.exit_code(), 1);
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[test]
fn pytorch_weights_in_and_out() {
    use constnet::torch::load_state_dict;
    let dir = tempfile::tempdir().unwrap();
    let fixture =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/torch_small_cnn.safetensors");
    let out = dir.path().join("run");
    let exported = dir.path().join("exported_torch.safetensors");
    // A learning rate so small that the run ends where the PyTorch weights started.
    let options = RunOptions {
        init_torch: Some(fixture.clone()),
        export_torch: Some(exported.clone()),
        lr: 1e-9,
        ..tiny(&out)
    };
    let outcome = run(&options).unwrap();
    assert_eq!(
        outcome.metrics.init,
        format!("pytorch:{}", fixture.display())
    );
    let mut from_torch = SmallCnn::<f32>::new(1);
    load_state_dict(&mut from_torch, &fixture).unwrap();
    let mut trained = SmallCnn::<f32>::new(2);
    load_checkpoint(&mut trained, out.join("model.safetensors")).unwrap();
    for name in trained.param_names() {
        let (a, b) = (
            trained.param(&name).unwrap(),
            from_torch.param(&name).unwrap(),
        );
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-6, "{name} moved by {diff}");
    }
    // --export-torch wrote the trained parameters in PyTorch's layout.
    let mut exported_net = SmallCnn::<f32>::new(3);
    load_state_dict(&mut exported_net, &exported).unwrap();
    for name in trained.param_names() {
        assert_eq!(exported_net.param(&name), trained.param(&name), "{name}");
    }

    // Each loader refuses the other's file, saying which option to use: exit status 1.
    let wrong = RunOptions {
        init_torch: None,
        init: Some(fixture.clone()),
        ..options.clone()
    };
    let err = run(&wrong).unwrap_err();
    assert!(err.to_string().contains("--init-torch"), "{err}");
    assert_eq!(err.exit_code(), 1);
    let wrong = RunOptions {
        init_torch: Some(out.join("model.safetensors")),
        ..options
    };
    let err = run(&wrong).unwrap_err();
    assert!(err.to_string().contains("--init FILE"), "{err}");
    assert_eq!(err.exit_code(), 1);
}
