//! Augmentation in the training loop: seeded (the same RNG seed gives the same bits, with one
//! or two threads, in one run or resumed), and it changes the run; a resume with another
//! augmentation is refused.

use constnet::data::Augment;
use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{
    History, Samples, TrainConfig, TrainError, TrainSession, load_train_state, train_session,
};
use constnet::{Image, Network, net};
use std::path::PathBuf;

net! {
    /// A tiny CNN on 8x8 RGB images (three channels, so crops move whole pixels).
    struct Tiny {
        input: Image<8, 8, 3>,
        conv: Conv2d<3, 4, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<64, 2>,
    }
}

/// 8x8x3 images: class 0 brighter on the left, class 1 on the right, with a ripple.
fn images(n: usize, phase: usize) -> (Vec<f32>, Vec<usize>) {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        for _h in 0..8 {
            for w in 0..8 {
                for c in 0..3 {
                    let left = w < 4;
                    let on = if class == 0 { left } else { !left };
                    let ripple = ((i * 192 + w * 3 + c + phase) as f32 * 0.61).sin() * 0.4;
                    images.push(if on { 1.0 } else { -1.0 } + ripple);
                }
            }
        }
        labels.push(class);
    }
    (images, labels)
}

fn bits(net: &Tiny<f32>) -> Vec<u32> {
    let mut all = Vec::new();
    net.params(&mut |_, p| all.extend(p.value.iter().map(|v| v.to_bits())));
    all
}

fn config(epochs: usize, augment: Augment) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 5,
        learning_rate: 0.01,
        augment,
        ..TrainConfig::default()
    }
}

/// Trains a fresh network (seed 7) in a pool of `threads` threads, saving the state after each
/// epoch to `save` if given.
fn train(config: &TrainConfig, threads: usize, save: Option<PathBuf>) -> (Tiny<f32>, History) {
    let (x, y) = images(40, 0);
    let (vx, vy) = images(10, 3);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    pool.install(|| {
        let mut net = Tiny::<f32>::new(7);
        let history = train_session(
            &mut net,
            Samples::new(&x, &y),
            Samples::new(&vx, &vy),
            config,
            TrainSession {
                save_state: save,
                ..TrainSession::default()
            },
        )
        .expect("training runs");
        (net, history)
    })
}

#[test]
fn augmentation_is_seeded_and_changes_the_run() {
    let (on, history_on) = train(&config(3, Augment::CIFAR), 1, None);
    let (again, history_again) = train(&config(3, Augment::CIFAR), 2, None);
    assert_eq!(
        bits(&on),
        bits(&again),
        "same seed, same bits (1 and 2 threads)"
    );
    assert_eq!(
        history_on.loss_per_iteration,
        history_again.loss_per_iteration
    );

    let (off, history_off) = train(&config(3, Augment::NONE), 1, None);
    assert_ne!(bits(&on), bits(&off), "augmentation changes the parameters");
    assert_ne!(
        history_on.loss_per_iteration,
        history_off.loss_per_iteration
    );
    // The first step's loss already differs: its batch was augmented.
    assert_ne!(
        history_on.loss_per_iteration[0],
        history_off.loss_per_iteration[0]
    );

    let other_seed = TrainConfig {
        seed: 8,
        ..config(3, Augment::CIFAR)
    };
    let (seed8, _) = train(&other_seed, 1, None);
    assert_ne!(bits(&on), bits(&seed8));
}

#[test]
fn augmented_run_resumes_exactly_and_refuses_another_augmentation() {
    let dir = std::env::temp_dir().join(format!("constnet-augment-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp folder");
    let file = dir.join("last.safetensors");

    let (whole, whole_history) = train(&config(4, Augment::CIFAR), 1, None);
    train(&config(2, Augment::CIFAR), 1, Some(file.clone()));

    let mut resumed = Tiny::<f32>::new(99);
    let state = load_train_state(&mut resumed, &file).expect("state reads back");
    assert_eq!(state.augment, Augment::CIFAR);
    let (x, y) = images(40, 0);
    let (vx, vy) = images(10, 3);
    let refused = train_session(
        &mut resumed,
        Samples::new(&x, &y),
        Samples::new(&vx, &vy),
        &config(4, Augment::NONE),
        TrainSession {
            resume: Some(state.clone()),
            ..TrainSession::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&refused, TrainError::State(m) if m.contains("augmentation crop4+flip")),
        "{refused}"
    );
    let history = train_session(
        &mut resumed,
        Samples::new(&x, &y),
        Samples::new(&vx, &vy),
        &config(4, Augment::CIFAR),
        TrainSession {
            resume: Some(state),
            ..TrainSession::default()
        },
    )
    .expect("resumed run");
    assert_eq!(bits(&resumed), bits(&whole));
    assert_eq!(history.loss_per_iteration, whole_history.loss_per_iteration);
    let _ = std::fs::remove_dir_all(&dir);
}
