//! The training loop on tiny problems: it learns, it is reproducible (also across thread
//! counts), and it stops on divergence and bad labels.

use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{
    ConfusionMatrix, EpochStats, OnEpoch, OptimizerKind, Regularization, Samples, Schedule,
    StepDecay, TrainConfig, TrainError, evaluate, train_net, train_net_with,
};
use constnet::{Image, Network, net};

use crate::shared::{TinyCnn, bars};

net! {
    struct Mlp {
        input: Image<1, 1, 2>,
        fc1: Linear<2, 8>,
        relu: Relu,
        fc2: Linear<8, 2>,
    }
}

/// Two separable clusters of 2-D points: class 0 near (-1, 1), class 1 near (1, -1).
fn clusters(n: usize, phase: f32) -> (Vec<f32>, Vec<usize>) {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        let s = if class == 0 { -1.0 } else { 1.0 };
        let a = (i as f32 * 0.71 + phase).sin() * 0.6;
        let b = (i as f32 * 1.3 + phase).cos() * 0.6;
        images.extend([s + a, -s + b]);
        labels.push(class);
    }
    (images, labels)
}

fn quiet(epochs: usize, batch_size: usize, optimizer: OptimizerKind, lr: f64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        learning_rate: lr,
        optimizer,
        ..TrainConfig::default()
    }
}

#[test]
fn every_optimizer_learns_a_separable_problem() {
    let (images, labels) = clusters(120, 0.0);
    let (val_images, val_labels) = clusters(40, 0.5);
    let train = Samples::new(&images, &labels);
    let val = Samples::new(&val_images, &val_labels);
    for (kind, lr) in [
        (OptimizerKind::Sgd, 0.1),
        (OptimizerKind::Momentum, 0.02),
        (OptimizerKind::RmsProp, 0.005),
        (OptimizerKind::Adam, 0.01),
    ] {
        let mut net = Mlp::<f32>::new(3);
        let history = train_net(&mut net, train, val, &quiet(8, 8, kind, lr)).unwrap();
        // 120 / 8 = 15 iterations per epoch.
        assert_eq!(history.loss_per_iteration.len(), 8 * 15, "{kind}");
        let first: f64 = history.loss_per_iteration[..15].iter().sum::<f64>() / 15.0;
        let last: f64 = history.loss_per_iteration[105..].iter().sum::<f64>() / 15.0;
        assert!(last < first / 3.0, "{kind}: loss {first} -> {last}");
        assert_eq!(history.epochs.last().unwrap().train_acc, 1.0, "{kind}");
        assert_eq!(history.best_val_acc, 1.0, "{kind}");
        let predicted = evaluate(&mut net, val, 7).unwrap();
        let m = ConfusionMatrix::from_predictions(2, &val_labels, &predicted).unwrap();
        assert_eq!(m.accuracy(), history.best_val_acc, "{kind}");
    }
}

#[test]
fn a_tiny_cnn_with_batchnorm_learns_bars() {
    let (images, labels) = bars(64);
    let (val_images, val_labels) = bars(16);
    let mut net = TinyCnn::<f32>::new(5);
    let mut lines = Vec::new();
    let history = train_net_with(
        &mut net,
        Samples::new(&images, &labels),
        Samples::new(&val_images, &val_labels),
        &quiet(10, 5, OptimizerKind::Adam, 0.02),
        &mut OnEpoch(|e: &EpochStats| lines.push(format!("{} {:.3}", e.epoch, e.val_acc))),
    )
    .unwrap();
    assert_eq!(lines.len(), 10);
    assert_eq!(history.best_val_acc, 1.0);
    // 64 / 5: 12 full batches and one of 4, kept.
    assert_eq!(history.loss_per_iteration.len(), 10 * 13);
    // The best epoch's parameters (with its BatchNorm statistics) are in the network.
    let predicted = evaluate(&mut net, Samples::new(&val_images, &val_labels), 16).unwrap();
    assert_eq!(predicted, val_labels);
}

#[test]
fn history_records_learning_rate_decay_and_timing() {
    let (images, labels) = clusters(40, 0.0);
    let data = Samples::new(&images, &labels);
    let config = TrainConfig {
        schedule: Schedule::Step(StepDecay {
            factor: 0.5,
            every: 2,
        }),
        ..quiet(5, 10, OptimizerKind::Sgd, 0.1)
    };
    let mut net = Mlp::<f32>::new(1);
    let history = train_net(&mut net, data, data, &config).unwrap();
    let rates: Vec<f64> = history.epochs.iter().map(|e| e.learning_rate).collect();
    assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
    for (i, e) in history.epochs.iter().enumerate() {
        assert_eq!(e.epoch, i + 1);
        assert!(e.seconds > 0.0 && e.train_images_per_sec > 0.0);
        let mean = history.loss_per_iteration[i * 4..(i + 1) * 4]
            .iter()
            .sum::<f64>()
            / 4.0;
        assert!((e.train_loss - mean).abs() < 1e-12);
    }
    assert!(history.median_train_images_per_sec() > 0.0);
    assert_eq!(history.val_acc().len(), 5);
    // The best epoch is the last with the highest validation accuracy (a tie keeps the later).
    let best = history.val_acc().iter().copied().fold(0.0, f64::max);
    assert_eq!(history.best_val_acc, best);
    assert_eq!(history.val_acc()[history.best_epoch - 1], best);
    assert!(
        history.val_acc()[history.best_epoch..]
            .iter()
            .all(|&a| a < best)
    );
}

#[test]
fn regularized_loss_includes_the_penalty() {
    // With a learning rate too small to matter, the first iteration's loss is the data loss of
    // the initial network plus lambda * sum w^2 of its weights (biases are 0 and not counted).
    let (images, labels) = clusters(10, 0.0);
    let data = Samples::new(&images, &labels);
    let base = quiet(1, 10, OptimizerKind::Sgd, 1e-30);
    let plain = train_net(&mut Mlp::<f32>::new(2), data, data, &base).unwrap();
    let net = Mlp::<f32>::new(2);
    let sum_sq: f64 = ["fc1.weight", "fc2.weight"]
        .iter()
        .flat_map(|n| net.param(n).unwrap().iter())
        .map(|&w| w as f64 * w as f64)
        .sum();
    let sum_abs: f64 = ["fc1.weight", "fc2.weight"]
        .iter()
        .flat_map(|n| net.param(n).unwrap().iter())
        .map(|&w| (w as f64).abs())
        .sum();
    for (reg, penalty) in [
        (Regularization::L2, 0.1 * sum_sq),
        (Regularization::L1, 0.1 * sum_abs),
    ] {
        let config = TrainConfig {
            regularization: reg,
            reg_lambda: 0.1,
            ..base.clone()
        };
        let h = train_net(&mut Mlp::<f32>::new(2), data, data, &config).unwrap();
        let added = h.loss_per_iteration[0] - plain.loss_per_iteration[0];
        assert!(
            (added - penalty).abs() < 1e-9,
            "{reg}: {added} vs {penalty}"
        );
    }
}

/// (train accuracy per epoch, loss per iteration, final parameters)
fn run(seed: u64, net_seed: u64) -> (Vec<f64>, Vec<f64>, Vec<f32>) {
    let (images, labels) = bars(40);
    let (val_images, val_labels) = bars(12);
    let mut net = TinyCnn::<f32>::new(net_seed);
    let config = TrainConfig {
        seed,
        regularization: Regularization::L2,
        reg_lambda: 1e-3,
        train_eval_samples: Some(20),
        ..quiet(3, 6, OptimizerKind::Adam, 0.01)
    };
    let h = train_net(
        &mut net,
        Samples::new(&images, &labels),
        Samples::new(&val_images, &val_labels),
        &config,
    )
    .unwrap();
    let mut params = Vec::new();
    net.params(&mut |_, p| params.extend_from_slice(p.value));
    (h.train_acc(), h.loss_per_iteration, params)
}

#[test]
fn the_same_seed_gives_the_same_run_bit_for_bit() {
    let a = run(7, 1);
    let b = run(7, 1);
    assert_eq!(a, b);
    // Bit for bit, not just ==: compare the bit patterns of the losses too.
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&a.1), bits(&b.1));
    // Another shuffle seed changes the losses; so does another network seed.
    assert_ne!(run(8, 1).1, a.1);
    assert_ne!(run(7, 2).1, a.1);
}

#[test]
fn one_and_two_threads_give_the_same_run() {
    let in_pool = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run(11, 4))
    };
    let one = in_pool(1);
    let two = in_pool(2);
    assert_eq!(one, two);
}

#[test]
fn no_shuffle_visits_the_data_in_order() {
    // Without shuffling the seed does not matter.
    let (images, labels) = clusters(30, 0.0);
    let data = Samples::new(&images, &labels);
    let config = |seed| TrainConfig {
        seed,
        shuffle: false,
        train_eval_samples: None,
        ..quiet(2, 4, OptimizerKind::Momentum, 0.01)
    };
    let a = train_net(&mut Mlp::<f32>::new(1), data, data, &config(1)).unwrap();
    let b = train_net(&mut Mlp::<f32>::new(1), data, data, &config(2)).unwrap();
    assert_eq!(a.loss_per_iteration, b.loss_per_iteration);
}

#[test]
fn a_huge_learning_rate_diverges_with_an_error() {
    let (images, labels) = clusters(40, 0.0);
    let data = Samples::new(&images, &labels);
    let mut net = Mlp::<f32>::new(1);
    let err = train_net(
        &mut net,
        data,
        data,
        &quiet(50, 4, OptimizerKind::Sgd, 1e30),
    )
    .unwrap_err();
    match err {
        TrainError::Diverged {
            epoch,
            iteration,
            learning_rate,
            loss,
            parameter,
        } => {
            assert!(epoch >= 1 && (1..=10).contains(&iteration));
            assert_eq!(learning_rate, 1e30);
            assert!(!loss.is_finite() || parameter.is_some());
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
}

#[test]
fn a_poisoned_input_stops_training_where_it_is() {
    net! { struct Linear2 { input: Image<1, 1, 2>, fc: Linear<2, 2> } }
    let (mut images, labels) = clusters(20, 0.0);
    // Sample 13 is the 2nd sample of the 4th batch in data-set order.
    images[13 * 2] = f32::NAN;
    let data = Samples::new(&images, &labels);
    let config = TrainConfig {
        shuffle: false,
        ..quiet(3, 4, OptimizerKind::Adam, 0.01)
    };
    // Without an activation the NaN reaches the loss.
    let err = train_net(&mut Linear2::<f32>::new(1), data, data, &config).unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::Diverged { epoch: 1, iteration: 4, learning_rate, loss, parameter: None }
                if *learning_rate == 0.01 && loss.is_nan()
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().starts_with(
            "training diverged at epoch 1, iteration 4 (learning rate 0.01): the loss is NaN"
        ),
        "{err}"
    );
    // A ReLU passes the NaN on (as PyTorch's does): the loss catches it.
    let err = train_net(&mut Mlp::<f32>::new(1), data, data, &config).unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::Diverged {
                epoch: 1,
                iteration: 4,
                parameter: None,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_non_finite_gradient_with_a_finite_loss_stops_training_before_the_update() {
    // A gradient can overflow while the loss stays finite: a huge input pixel (3e38) times a
    // tiny convolution weight (1e-30) is a moderate activation (3e8), but the weight's gradient,
    // that pixel times its upstream gradient (20), is infinite. The guard must catch it before
    // the weights are updated.
    net! {
        struct ConvPool {
            input: Image<2, 2, 1>,
            conv: Conv2d<1, 1, 1, 1, 0>,
            pool: MaxPool2d<2, 2>,
            flatten: Flatten,
            fc: Linear<1, 2>,
        }
    }
    let mut images: Vec<f32> = (0..32).map(|i| (i % 5) as f32 - 2.0).collect();
    images[3] = 3e38; // sample 0 (label 0), the maximum of its pooling window
    let labels: Vec<usize> = (0..8).map(|i| i % 2).collect();
    let data = Samples::new(&images, &labels);
    let config = TrainConfig {
        shuffle: false,
        ..quiet(1, 4, OptimizerKind::Sgd, 0.1)
    };
    let mut net = ConvPool::<f32>::new(3);
    net.assign("conv.weight", &[1e-30]).unwrap();
    net.assign("conv.bias", &[0.0]).unwrap();
    // Scores -10 and +10 times the pooled value: sample 0's loss is large (6e9) but finite.
    net.assign("fc.weight", &[-10.0, 10.0]).unwrap();
    net.assign("fc.bias", &[0.0, 0.0]).unwrap();
    let err = train_net(&mut net, data, data, &config).unwrap_err();
    assert!(
        matches!(
            &err,
            TrainError::Diverged { epoch: 1, iteration: 1, loss, parameter: Some(name), .. }
                if name == "conv.weight" && loss.is_finite()
        ),
        "{err:?}"
    );
    assert_eq!(net.param("conv.weight").unwrap(), [1e-30]);
    assert_eq!(net.param("fc.weight").unwrap(), [-10.0, 10.0]);
}

#[test]
fn bad_labels_and_shapes_are_errors() {
    let (images, mut labels) = clusters(8, 0.0);
    labels[5] = 2;
    let data = Samples::new(&images, &labels);
    let config = TrainConfig {
        shuffle: false,
        ..quiet(1, 4, OptimizerKind::Adam, 0.01)
    };
    let err = train_net(&mut Mlp::<f32>::new(1), data, data, &config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "epoch 1, iteration 2: label 2 of sample 1 is not a class (there are 2 classes, 0..2)"
    );
    let short = Samples::new(&images[..15], &labels);
    let err = train_net(&mut Mlp::<f32>::new(1), short, data, &config).unwrap_err();
    assert!(matches!(err, TrainError::Samples(_)), "{err}");
    let empty = Samples::new(&[], &[]);
    let err = train_net(&mut Mlp::<f32>::new(1), data, empty, &config).unwrap_err();
    assert_eq!(err.to_string(), "the validation data is empty");
    let zero = TrainConfig {
        batch_size: 0,
        ..config
    };
    assert!(matches!(
        train_net(&mut Mlp::<f32>::new(1), data, data, &zero),
        Err(TrainError::Config(_))
    ));
}
