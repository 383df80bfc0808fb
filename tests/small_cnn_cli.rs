//! The `small_cnn` command line, parsed in-process with the example's own parser: the defaults
//! listed in `examples/README.md`, and exit status 2 with a one-line `error: ...` for every bad
//! value.

#[allow(dead_code)]
#[path = "../examples/small_cnn.rs"]
mod small_cnn;

use constnet::train::{Keep, OptimizerKind, Regularization};
use small_cnn::common::{RunOptions, ScheduleName};
use small_cnn::{Parsed, parse};
use std::path::PathBuf;

fn parse_args(args: &[&str]) -> Parsed {
    parse(std::iter::once("small_cnn").chain(args.iter().copied()))
}

#[test]
fn defaults_are_the_documented_ones() {
    let Parsed::Run(options) = parse_args(&[]) else {
        panic!("no options parsed");
    };
    assert_eq!(*options, RunOptions::default());
    assert_eq!(options.data, None);
    assert_eq!(options.epochs, 5);
    assert_eq!(options.batch_size, 10);
    assert_eq!(options.optimizer, OptimizerKind::Adam);
    assert_eq!(options.lr, 0.001);
    assert_eq!((options.lr_decay, options.lr_decay_every), (0.95, 10));
    assert_eq!(options.regularization, Regularization::None);
    assert_eq!(options.reg_lambda, 0.01);
    assert_eq!(options.seed, 123);
    assert_eq!(options.out, PathBuf::from("runs/small_cnn"));
    assert!(options.shuffle && !options.batchnorm && !options.synthetic);
    assert_eq!(options.schedule, ScheduleName::Step);
    assert_eq!((options.weight_decay, options.warmup_epochs), (None, 0));
    assert_eq!(options.label_smoothing, 0.0);
    assert_eq!(options.clip_grad_norm, None);
    assert_eq!((options.keep, options.resume), (Keep::Best, None));
}

#[test]
fn the_training_loop_options_are_read() {
    let Parsed::Run(o) = parse_args(&[
        "--optimizer",
        "adamw",
        "--weight-decay",
        "0.05",
        "--schedule",
        "cosine",
        "--warmup-epochs",
        "2",
        "--label-smoothing",
        "0.1",
        "--clip-grad-norm",
        "1.5",
        "--keep",
        "last",
        "--resume",
        "runs/x/last.safetensors",
    ]) else {
        panic!("no options parsed");
    };
    assert_eq!(o.optimizer, OptimizerKind::AdamW);
    assert_eq!(o.weight_decay, Some(0.05));
    assert_eq!((o.schedule, o.warmup_epochs), (ScheduleName::Cosine, 2));
    assert_eq!((o.label_smoothing, o.clip_grad_norm), (0.1, Some(1.5)));
    assert_eq!(o.keep, Keep::Last);
    assert_eq!(o.resume, Some(PathBuf::from("runs/x/last.safetensors")));
    let Parsed::Run(o) = parse_args(&["--optimizer", "nesterov"]) else {
        panic!("no options parsed");
    };
    assert_eq!(o.optimizer, OptimizerKind::Nesterov);
}

#[test]
fn every_option_is_read() {
    let Parsed::Run(o) = parse_args(&[
        "--data",
        "d",
        "--epochs",
        "3",
        "--batch-size",
        "64",
        "--optimizer",
        "rmsprop",
        "--lr",
        "0.01",
        "--lr-decay",
        "0.5",
        "--lr-decay-every",
        "2",
        "--regularization",
        "l2",
        "--reg-lambda",
        "0.001",
        "--seed",
        "7",
        "--threads",
        "1",
        "--limit-train",
        "100",
        "--label-noise",
        "0.2",
        "--batchnorm",
        "--init",
        "m.safetensors",
        "--no-shuffle",
        "--out",
        "o",
    ]) else {
        panic!("no options parsed");
    };
    assert_eq!(o.data, Some(PathBuf::from("d")));
    assert_eq!((o.epochs, o.batch_size), (3, 64));
    assert_eq!(o.optimizer, OptimizerKind::RmsProp);
    assert_eq!((o.lr, o.lr_decay, o.lr_decay_every), (0.01, 0.5, 2));
    assert_eq!(
        (o.regularization, o.reg_lambda),
        (Regularization::L2, 0.001)
    );
    assert_eq!((o.seed, o.threads, o.limit_train), (7, Some(1), Some(100)));
    assert_eq!(o.label_noise, 0.2);
    assert!(o.batchnorm && !o.shuffle);
    assert_eq!(o.init, Some(PathBuf::from("m.safetensors")));
    assert_eq!(o.out, PathBuf::from("o"));
}

#[test]
fn the_model_is_chosen_by_name() {
    use small_cnn::common::Model;
    for (args, model) in [
        (&[][..], Model::SmallCnn),
        (&["--model", "small-cnn"][..], Model::SmallCnn),
        (&["--model", "small-cnn-bn"][..], Model::SmallCnnBn),
        (&["--batchnorm"][..], Model::SmallCnnBn),
        (&["--model", "resnet20"][..], Model::ResNet20),
    ] {
        let Parsed::Run(o) = parse_args(args) else {
            panic!("{args:?} not parsed");
        };
        assert_eq!(o.model(), model, "{args:?}");
    }
    assert_eq!(Model::ResNet20.name(), "ResNet20");
    // LeNet-5 takes 28x28x1 images: the train program's, not the notebook's.
    let Parsed::Exit { message, code } = parse_args(&["--model", "lenet5"]) else {
        panic!("lenet5 accepted");
    };
    assert_eq!(code, 2);
    assert_eq!(
        message,
        "error: invalid value 'lenet5' for '--model': small_cnn trains 32x32x3 networks \
         (lenet5 takes 28x28x1 images: use the train program)"
    );
}

#[test]
fn augment_is_off_by_default_and_read() {
    let Parsed::Run(o) = parse_args(&[]) else {
        panic!("no options parsed");
    };
    assert!(!o.augment);
    let Parsed::Run(o) = parse_args(&["--augment", "--epochs", "2"]) else {
        panic!("no options parsed");
    };
    assert!(o.augment);
    assert_eq!(o.epochs, 2);
}

#[test]
fn bad_values_exit_with_status_2_and_one_line() {
    let cases: &[&[&str]] = &[
        &["--epochs", "0"],
        &["--epochs", "-1"],
        &["--epochs", "many"],
        &["--batch-size", "0"],
        &["--threads", "0"],
        &["--lr", "0"],
        &["--lr", "-0.1"],
        &["--lr", "nan"],
        &["--lr", "inf"],
        &["--label-noise", "1"],
        &["--label-noise", "-0.1"],
        &["--label-noise", "1.5"],
        &["--optimizer", "adagrad"],
        &["--regularization", "l3"],
        &["--limit-train", "0"],
        &["--no-such-option"],
        &["--synthetic", "--data", "d"],
        &["--weight-decay", "0.1"],
        &["--optimizer", "adamw", "--weight-decay", "-1"],
        &["--optimizer", "adamw", "--weight-decay", "nan"],
        &["--schedule", "linear"],
        &["--warmup-epochs", "1"],
        &["--schedule", "cosine", "--warmup-epochs", "6"],
        &["--label-smoothing", "1.1"],
        &["--label-smoothing", "-0.1"],
        &["--clip-grad-norm", "0"],
        &["--clip-grad-norm", "inf"],
        &["--keep", "first"],
        &["--resume", "a", "--init", "b"],
        &["--model", "resnet50"],
    ];
    for args in cases {
        match parse_args(args) {
            Parsed::Run(_) => panic!("{args:?} was accepted"),
            Parsed::Exit { message, code } => {
                assert_eq!(code, 2, "{args:?}: {message}");
                assert!(message.starts_with("error: "), "{args:?}: {message}");
                assert!(!message.trim_end().contains('\n'), "{args:?}: {message}");
            }
        }
    }
}

#[test]
fn negative_numbers_are_invalid_values_not_unknown_arguments() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--lr", "-1"],
            "error: invalid value '-1' for '--lr': must be a positive finite number",
        ),
        (
            &["--lr-decay", "-0.5"],
            "error: invalid value '-0.5' for '--lr-decay': must be a positive finite number",
        ),
        (
            &["--reg-lambda", "-1e-3"],
            "error: invalid value '-0.001' for '--reg-lambda': must be a finite number, 0 or more",
        ),
        (
            &["--label-noise", "-0.1"],
            "error: invalid value '-0.1' for '--label-noise': must be in [0, 1)",
        ),
        (
            &["--epochs", "-1"],
            "error: invalid value '-1' for '--epochs <N>'",
        ),
        (
            &["--seed", "-3"],
            "error: invalid value '-3' for '--seed <N>'",
        ),
    ];
    for (args, expected) in cases {
        match parse_args(args) {
            Parsed::Run(_) => panic!("{args:?} was accepted"),
            Parsed::Exit { message, code } => {
                assert_eq!(code, 2, "{args:?}: {message}");
                assert!(message.starts_with(expected), "{args:?}: {message}");
            }
        }
    }
}

#[test]
fn help_exits_0() {
    match parse_args(&["--help"]) {
        Parsed::Exit { message, code } => {
            assert_eq!(code, 0);
            assert!(message.contains("--label-noise"));
        }
        Parsed::Run(_) => panic!("--help ran"),
    }
}

#[test]
fn distributed_needs_the_feature_or_is_read() {
    let parsed = parse_args(&["--distributed", "--sync-timeout", "30"]);
    if cfg!(feature = "distributed") {
        let Parsed::Run(options) = parsed else {
            panic!("--distributed refused in a build with the feature");
        };
        assert!(options.distributed);
        assert_eq!(options.sync_timeout, 30.0);
    } else {
        let Parsed::Exit { message, code } = parsed else {
            panic!("--distributed accepted without the feature");
        };
        assert_eq!(code, 2);
        assert!(
            message.contains("--distributed") && message.contains("--features distributed"),
            "{message}"
        );
    }
    match parse_args(&["--sync-timeout", "0"]) {
        Parsed::Exit { code, .. } => assert_eq!(code, 2),
        Parsed::Run(_) => panic!("--sync-timeout 0 accepted"),
    }
}

#[test]
fn pytorch_weights_in_and_out_are_read() {
    let Parsed::Run(o) = parse_args(&[
        "--init-torch",
        "torch.safetensors",
        "--export-torch",
        "out_torch.safetensors",
    ]) else {
        panic!("no options parsed");
    };
    assert_eq!(o.init_torch, Some(PathBuf::from("torch.safetensors")));
    assert_eq!(o.export_torch, Some(PathBuf::from("out_torch.safetensors")));
    assert_eq!((o.init, o.resume), (None, None));
    let defaults = RunOptions::default();
    assert_eq!((defaults.init_torch, defaults.export_torch), (None, None));
    for args in [
        &["--init-torch", "a", "--init", "b"][..],
        &["--init-torch", "a", "--resume", "b"][..],
        &["--init-torch"][..],
    ] {
        match parse_args(args) {
            Parsed::Run(_) => panic!("{args:?} was accepted"),
            Parsed::Exit { message, code } => {
                assert_eq!(code, 2, "{args:?}: {message}");
                assert!(message.starts_with("error: "), "{args:?}: {message}");
                assert!(message.contains("--init-torch"), "{args:?}: {message}");
            }
        }
    }
}
