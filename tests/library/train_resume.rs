//! The open training loop at the library level: exact resume for every optimizer, keeping the
//! best or the last epoch (ties keep the later), gradient clipping in the loop, and resume
//! checks.

use constnet::Network;
use constnet::train::{
    CosineWarmup, History, Keep, OptimizerKind, Samples, Schedule, SoftmaxCrossEntropy,
    TrainConfig, TrainError, TrainSession, load_train_state, train_net, train_session,
};
use std::path::Path;

use crate::shared::TinyCnn;

/// 4x4 images: class 0 has a bright vertical bar, class 1 a horizontal one.
fn bars(n: usize, phase: usize) -> (Vec<f32>, Vec<usize>) {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        let at = (i / 2 + phase) % 4;
        for h in 0..4 {
            for w in 0..4 {
                let on = if class == 0 { w == at } else { h == at };
                let noise = ((i * 16 + h * 4 + w + phase) as f32 * 0.77).sin() * 0.3;
                images.push(if on { 1.0 } else { 0.0 } + noise);
            }
        }
        labels.push(class);
    }
    (images, labels)
}

fn bits(net: &TinyCnn<f32>) -> Vec<u32> {
    let mut all = Vec::new();
    net.params(&mut |_, p| all.extend(p.value.iter().map(|v| v.to_bits())));
    all
}

fn without_times(mut h: History) -> History {
    for e in &mut h.epochs {
        (e.seconds, e.train_images_per_sec, e.sync_seconds) = (0.0, 0.0, 0.0);
    }
    h
}

fn config(epochs: usize, optimizer: OptimizerKind, keep: Keep) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 7,
        learning_rate: 0.02,
        optimizer,
        keep,
        schedule: Schedule::Cosine(CosineWarmup {
            warmup_epochs: 1,
            total_epochs: 4,
            min_lr: 0.001,
        }),
        loss: SoftmaxCrossEntropy {
            label_smoothing: 0.1,
        },
        clip_grad_norm: Some(1.0),
        ..TrainConfig::default()
    }
}

/// Trains `net` on the bars (50 training, 16 validation images) as `session` says.
fn train_on_bars(
    net: &mut TinyCnn<f32>,
    config: &TrainConfig,
    session: TrainSession<f32>,
) -> Result<History, TrainError> {
    let (images, labels) = bars(50, 0);
    let (val_images, val_labels) = bars(16, 1);
    train_session(
        net,
        Samples::new(&images, &labels),
        Samples::new(&val_images, &val_labels),
        config,
        session,
    )
}

/// Trains `epochs` epochs from a fresh network, saving the state to `file` after each epoch.
fn fresh(config: &TrainConfig, file: &Path) -> (TinyCnn<f32>, History) {
    let mut net = TinyCnn::<f32>::new(9);
    let session = TrainSession {
        save_state: Some(file.to_path_buf()),
        ..TrainSession::default()
    };
    let h = train_on_bars(&mut net, config, session).unwrap();
    (net, h)
}

/// Resumes the run saved in `file` up to `config.epochs`.
fn resumed(config: &TrainConfig, file: &Path) -> Result<(TinyCnn<f32>, History), TrainError> {
    let mut net = TinyCnn::<f32>::new(1234); // overwritten by the saved parameters
    let state = load_train_state(&mut net, file).unwrap();
    let session = TrainSession {
        resume: Some(state),
        ..TrainSession::default()
    };
    let h = train_on_bars(&mut net, config, session)?;
    Ok((net, h))
}

#[test]
fn every_optimizer_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    for optimizer in [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum,
        OptimizerKind::Nesterov,
        OptimizerKind::RmsProp,
        OptimizerKind::Adam,
        OptimizerKind::AdamW,
    ] {
        for keep in [Keep::Best, Keep::Last] {
            let whole_file = dir.path().join("whole.safetensors");
            let split_file = dir.path().join("split.safetensors");
            let (whole, h4) = fresh(&config(4, optimizer, keep), &whole_file);
            fresh(&config(2, optimizer, keep), &split_file);
            let (net, h) = resumed(&config(4, optimizer, keep), &split_file).unwrap();
            assert_eq!(bits(&net), bits(&whole), "{optimizer} {keep}");
            assert_eq!(without_times(h), without_times(h4), "{optimizer} {keep}");
        }
    }
}

#[test]
fn keep_last_leaves_the_last_epoch_and_best_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("last.safetensors");
    let (last, h) = fresh(&config(4, OptimizerKind::Adam, Keep::Last), &file);
    // The saved state holds the last epoch's parameters: the same as the network's.
    let mut saved = TinyCnn::<f32>::new(0);
    let state = load_train_state(&mut saved, &file).unwrap();
    assert_eq!(bits(&saved), bits(&last));
    assert!(state.best.is_empty());
    assert_eq!(state.history, h);
    assert_eq!(state.epoch, 4);

    let (best, hb) = fresh(&config(4, OptimizerKind::Adam, Keep::Best), &file);
    assert_eq!(without_times(hb.clone()), without_times(h));
    let state = load_train_state(&mut saved, &file).unwrap();
    assert_eq!(bits(&saved), bits(&last), "the state holds the last epoch");
    // The network holds the kept (best) ones, also in the state.
    let best_flat: Vec<u32> = state.best.iter().flatten().map(|v| v.to_bits()).collect();
    assert_eq!(best_flat, bits(&best));
    if hb.best_epoch == 4 {
        assert_eq!(bits(&best), bits(&last));
    }
}

#[test]
fn a_tie_keeps_the_later_epoch() {
    // A learning rate too small to change any prediction: every epoch has the same accuracy.
    let (images, labels) = bars(40, 0);
    let mut net = TinyCnn::<f32>::new(3);
    let config = TrainConfig {
        epochs: 3,
        batch_size: 10,
        learning_rate: 1e-12,
        ..TrainConfig::default()
    };
    let data = Samples::new(&images, &labels);
    let h = train_net(&mut net, data, data, &config).unwrap();
    assert!(h.val_acc().iter().all(|&a| a == h.val_acc()[0]));
    assert_eq!(h.best_epoch, 3);
}

#[test]
fn clipping_bounds_every_step() {
    // One SGD step with learning rate 1 moves the trained parameters by the clipped gradient:
    // its norm is at most the limit.
    let (images, labels) = bars(10, 0);
    let data = Samples::new(&images, &labels);
    let before = TinyCnn::<f32>::new(4);
    let mut net = TinyCnn::<f32>::new(4);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 10,
        learning_rate: 1.0,
        optimizer: OptimizerKind::Sgd,
        schedule: Schedule::default(),
        clip_grad_norm: Some(0.01),
        keep: Keep::Last,
        ..TrainConfig::default()
    };
    train_net(&mut net, data, data, &config).unwrap();
    let mut moved = 0.0f64;
    let mut values = Vec::new();
    before.params(&mut |_, p| {
        if p.kind != constnet::ParamKind::Buffer {
            values.extend_from_slice(p.value)
        }
    });
    let mut at = 0;
    net.params(&mut |_, p| {
        if p.kind != constnet::ParamKind::Buffer {
            for &v in p.value {
                moved += (v as f64 - values[at] as f64).powi(2);
                at += 1;
            }
        }
    });
    let moved = moved.sqrt();
    assert!(moved > 0.009 && moved < 0.0101, "moved by {moved}");
}

#[test]
fn a_state_of_another_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("last.safetensors");
    fresh(&config(2, OptimizerKind::Adam, Keep::Best), &file);
    let other_seed = TrainConfig {
        seed: 5,
        ..config(4, OptimizerKind::Adam, Keep::Best)
    };
    match resumed(&other_seed, &file) {
        Err(TrainError::State(message)) => assert!(message.contains("seed 123"), "{message}"),
        other => panic!("{:?}", other.map(|(_, h)| h)),
    }
    let other_optimizer = config(4, OptimizerKind::Sgd, Keep::Best);
    assert!(matches!(
        resumed(&other_optimizer, &file),
        Err(TrainError::State(_))
    ));
    // Resuming a finished run to the same epoch trains nothing and keeps the history.
    let (_, h) = resumed(&config(2, OptimizerKind::Adam, Keep::Best), &file).unwrap();
    assert_eq!(h.epochs.len(), 2);
}
