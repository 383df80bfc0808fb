//! The API that `net!` writes: construction, parameters by name, summary, forward and backward
//! through the whole chain.

use constnet::grad_check::{numerical_gradient_array, rel_error};
use constnet::layers::{
    BatchNorm2d, Conv2d, Dropout, Flatten, Gelu, LeakyRelu, Linear, MaxPool2d, Relu,
};
use constnet::{Image, Init, Mode, Network, ParamError, Tensor, net};

net! {
    /// Every layer kind once.
    pub struct Everything {
        input: Image<9, 9, 2>,
        conv1: Conv2d<2, 4, 3, 1, 1>,   // 9x9x4
        bn1: BatchNorm2d<4>,
        act1: LeakyRelu,
        conv2: Conv2d<4, 6, 3, 2, 0>,   // 4x4x6
        act2: Gelu,
        pool: MaxPool2d<3, 1>,          // 2x2x6
        flatten: Flatten,               // 24
        fc1: Linear<24, 10>,
        act3: Relu,
        drop: Dropout,
        fc2: Linear<10, 3>,
    }
}

#[test]
fn parameters_are_named_like_pytorch() {
    let net = Everything::<f32>::new(1);
    assert_eq!(
        net.param_names(),
        [
            "conv1.weight",
            "conv1.bias",
            "bn1.weight",
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "conv2.weight",
            "conv2.bias",
            "fc1.weight",
            "fc1.bias",
            "fc2.weight",
            "fc2.bias"
        ]
    );
    let expected =
        (3 * 3 * 2 * 4 + 4) + (4 + 4) + (3 * 3 * 4 * 6 + 6) + (24 * 10 + 10) + (10 * 3 + 3);
    assert_eq!(net.num_params(), expected);
    // He init: std sqrt(2 / fan_in) for conv2 (fan_in 36), biases zero.
    let w = net.param("conv2.weight").unwrap();
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    assert!((std - (2.0f32 / 36.0).sqrt()).abs() < 0.05, "std {std}");
    assert!(net.param("conv2.bias").unwrap().iter().all(|&b| b == 0.0));
}

#[test]
fn same_seed_same_network() {
    let a = Everything::<f64>::new(5);
    let b = Everything::<f64>::new(5);
    let c = Everything::<f64>::new(6);
    assert_eq!(a.param("fc1.weight"), b.param("fc1.weight"));
    assert_ne!(a.param("fc1.weight"), c.param("fc1.weight"));
}

#[test]
fn assign_checks_names_and_lengths_and_changes_nothing_on_error() {
    let mut net = Everything::<f32>::new(1);
    let before = net.param("fc2.bias").unwrap().to_vec();
    assert_eq!(
        net.assign("fc2.bias", &[1.0; 4]),
        Err(ParamError::Length {
            name: "fc2.bias".into(),
            expected: 3,
            got: 4
        })
    );
    assert_eq!(net.param("fc2.bias").unwrap(), before.as_slice());
    let err = net.assign("fc3.bias", &[1.0; 3]).unwrap_err();
    assert!(matches!(err, ParamError::Unknown { .. }));
    assert!(err.to_string().contains("fc3.bias") && err.to_string().contains("fc2.bias"));
    net.assign("fc2.bias", &[1.0, 2.0, 3.0]).unwrap();
    assert_eq!(net.param("fc2.bias").unwrap(), [1.0, 2.0, 3.0]);
    assert!(net.param("fc2").is_none() && net.param("fc2.bias.x").is_none());
}

#[test]
fn summary_lists_layers_shapes_and_counts() {
    let net = Everything::<f32>::new(1);
    let summary = net.summary();
    assert_eq!(summary.layers.len(), 11);
    assert_eq!(summary.layers[3].signature, "Conv2d<4, 6, 3, 2, 0>");
    assert_eq!(summary.layers[3].output, [4, 4, 6]);
    assert_eq!(summary.layers[5].output, [2, 2, 6]);
    assert_eq!(summary.total_params(), net.num_params());
    let text = summary.to_string();
    assert!(text.contains("pool     MaxPool2d<3, 1>"), "{text}");
    assert!(
        text.lines()
            .last()
            .unwrap()
            .trim_end()
            .ends_with(&net.num_params().to_string())
    );
}

#[test]
fn whole_network_input_gradient_matches_numerical_one() {
    let mut net = Everything::<f64>::with_init(Init::Normal { std: 0.5 }, 3);
    net.drop = Dropout::new(0.0); // dropout off: a fixed function to differentiate
    let batch = 3;
    let mut x: Vec<f64> = (0..batch * 162)
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let upstream: Vec<f64> = (0..batch * 3).map(|i| (i as f64 - 4.0) / 3.0).collect();
    let input = Tensor::<Image<9, 9, 2>, f64>::from_vec(batch, x.clone()).unwrap();
    net.forward(&input, Mode::Train);
    let analytic = net.backward_with_input_grad(&upstream).to_vec();
    let numeric = numerical_gradient_array(
        &mut x,
        |x| {
            let t = Tensor::<Image<9, 9, 2>, f64>::from_slice(x).unwrap();
            net.forward(&t, Mode::Train).to_vec()
        },
        &upstream,
        1e-5,
    );
    let error = rel_error(&analytic, &numeric);
    assert!(error < 1e-6, "input gradient error {error:e}");
}

#[test]
fn eval_mode_uses_running_statistics_and_no_dropout() {
    let mut net = Everything::<f32>::new(2);
    let x = Tensor::<Image<9, 9, 2>>::from_vec(2, (0..324).map(|i| (i % 7) as f32 - 3.0).collect())
        .unwrap();
    let first = net.forward(&x, Mode::Eval).to_vec();
    let second = net.forward(&x, Mode::Eval).to_vec();
    assert_eq!(first, second);
    net.forward(&x, Mode::Train);
    assert_ne!(net.param("bn1.running_mean").unwrap(), [0.0; 4]);
}

#[test]
#[should_panic(expected = "backward: the gradient has 5 values, but the last forward output had 6")]
fn backward_with_a_wrong_gradient_length_panics_with_a_clear_message() {
    let mut net = Everything::<f32>::new(2);
    net.forward(&Tensor::zeros(2), Mode::Train);
    net.backward(&[0.0; 5]);
}
