//! `small_cnn --resume`: a run of 2 epochs resumed to 4 writes the same parameters, history and
//! `model.safetensors` as 4 epochs in one go (in-process, on a tiny synthetic set).

use crate::common::{self, AppError, RunOptions, run};
use std::path::Path;

fn tiny(out: &Path, epochs: usize) -> RunOptions {
    RunOptions {
        synthetic: true,
        synthetic_sizes: [120, 40, 40],
        epochs,
        batch_size: 16,
        batchnorm: true, // running statistics must come back too
        label_smoothing: 0.1,
        clip_grad_norm: Some(5.0),
        threads: Some(2),
        out: out.to_path_buf(),
        quiet: true,
        ..RunOptions::default()
    }
}

/// `metrics.json` without the keys that measure time or name the resume file.
fn deterministic_metrics(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("metrics.json")).unwrap();
    let mut m: serde_json::Value = serde_json::from_str(&text).unwrap();
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

#[test]
fn two_epochs_resumed_to_four_equal_four_in_one_go() {
    let whole = tempfile::tempdir().unwrap();
    run(&tiny(whole.path(), 4)).unwrap();

    let split = tempfile::tempdir().unwrap();
    run(&tiny(split.path(), 2)).unwrap();
    let state = split.path().join("last.safetensors");
    let resumed = run(&RunOptions {
        resume: Some(state.clone()),
        ..tiny(split.path(), 4)
    })
    .unwrap();
    assert_eq!(resumed.metrics.history.len(), 4);

    for file in ["model.safetensors", "confusion.csv"] {
        assert!(
            std::fs::read(whole.path().join(file)).unwrap()
                == std::fs::read(split.path().join(file)).unwrap(),
            "{file} differs"
        );
    }
    let (a, b) = (
        deterministic_metrics(whole.path()),
        deterministic_metrics(split.path()),
    );
    assert_eq!(a, b);
    assert_eq!(a["history"].as_array().unwrap().len(), 4);

    // The last state is the last epoch's, in both runs.
    let mut last_a = common::SmallCnnBn::<f32>::new(0);
    let mut last_b = common::SmallCnnBn::<f32>::new(1);
    let sa = constnet::train::load_train_state(&mut last_a, whole.path().join("last.safetensors"))
        .unwrap();
    let sb = constnet::train::load_train_state(&mut last_b, &state).unwrap();
    assert_eq!((sa.epoch, sb.epoch), (4, 4));
    assert_eq!(sa.optimizer, sb.optimizer);
    use constnet::Network;
    let mut pa = Vec::new();
    let mut pb = Vec::new();
    last_a.params(&mut |_, p| pa.extend(p.value.iter().map(|v| v.to_bits())));
    last_b.params(&mut |_, p| pb.extend(p.value.iter().map(|v| v.to_bits())));
    assert_eq!(pa, pb);
}

#[test]
fn resuming_another_run_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    run(&tiny(dir.path(), 2)).unwrap();
    let state = dir.path().join("last.safetensors");
    // Another batch size: the shuffles and steps would not continue the saved run.
    let err = run(&RunOptions {
        resume: Some(state.clone()),
        batch_size: 8,
        ..tiny(dir.path(), 4)
    })
    .unwrap_err();
    assert!(err.to_string().contains("batch size 16"), "{err}");
    // Fewer epochs than the saved run has done.
    let err = run(&RunOptions {
        resume: Some(state.clone()),
        ..tiny(dir.path(), 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("past the 1 epochs"), "{err}");
    // A file that is not a training state.
    let err = run(&RunOptions {
        resume: Some(dir.path().join("model.safetensors")),
        ..tiny(dir.path(), 4)
    })
    .unwrap_err();
    assert!(matches!(err, AppError::Checkpoint(_)), "{err}");
}
