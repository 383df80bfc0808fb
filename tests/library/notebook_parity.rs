//! Every check of the notebook, in f64, at the notebook's tolerances: the output size, the
//! convolution and max-pooling forward values, their numerical gradients, and the TestCNN cell.

// A layer's parameters are set the way the notebook does it: made, then assigned.
#![allow(clippy::field_reassign_with_default)]

use constnet::grad_check::{linspace, numerical_gradient, numerical_gradient_array, rel_error};
use constnet::layer::fill_normal;
use constnet::layers::{Conv2d, MaxPool2d};
use constnet::models::TestCnn;
use constnet::shape::dims;
use constnet::train::softmax_cross_entropy;
use constnet::{Image, Init, Layer, Mode, Network, Tensor};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn random(n: usize, rng: &mut StdRng) -> Vec<f64> {
    let mut v = vec![0.0; n];
    fill_normal(&mut v, 1.0, rng);
    v
}

/// Runs a layer forward on `x` (batch `batch`) in f64.
fn forward<In: constnet::Shape, L: Layer<In, f64>>(
    layer: &mut L,
    x: &[f64],
    batch: usize,
) -> Vec<f64> {
    let mut y = vec![0.0; batch * <L::Out as constnet::Shape>::LEN];
    layer.forward(x, &mut y, batch, Mode::Train);
    y
}

#[test]
fn conv_output_size() {
    // [32, 28, 28, 3] through Conv2d<3, 16, 4, 2, 3>.
    type Out = <Conv2d<3, 16, 4, 2, 3> as Layer<Image<28, 28, 3>, f32>>::Out;
    assert_eq!(dims::<Out>(), [16, 16, 16]);
}

#[test]
fn conv_forward_matches_the_notebook() {
    type L = Conv2d<1, 2, 5, 1, 0, f64>;
    let mut conv = L::default();
    conv.weight = linspace(-0.2, 0.2, 50);
    conv.bias = linspace(-0.3, 0.3, 2);
    let out = forward::<Image<8, 8, 1>, L>(&mut conv, &linspace(-0.1, 0.4, 64), 1);
    let expected = [
        -0.03874312,
        0.57000324,
        -0.03955296,
        0.57081309,
        -0.04036281,
        0.57162293,
        -0.04117266,
        0.57243278,
        -0.0452219,
        0.57648202,
        -0.04603175,
        0.57729187,
        -0.04684159,
        0.57810172,
        -0.04765144,
        0.57891156,
        -0.05170068,
        0.5829608,
        -0.05251053,
        0.58377065,
        -0.05332038,
        0.5845805,
        -0.05413022,
        0.58539035,
        -0.05817946,
        0.58943959,
        -0.05898931,
        0.59024943,
        -0.05979916,
        0.59105928,
        -0.06060901,
        0.59186913,
    ];
    let error = rel_error(&out, &expected);
    assert!(error < 1e-7, "difference {error:e}");
}

#[test]
fn conv_backward_matches_numerical_gradients() {
    type L = Conv2d<3, 12, 4, 2, 1, f64>;
    type In = Image<8, 8, 3>;
    let mut rng = StdRng::seed_from_u64(231);
    let mut conv = L::default();
    conv.weight = random(4 * 4 * 3 * 12, &mut rng);
    conv.bias = random(12, &mut rng);
    let x = random(15 * 8 * 8 * 3, &mut rng);
    let dout = random(15 * 4 * 4 * 12, &mut rng);

    let y = forward::<In, L>(&mut conv, &x, 15);
    let mut dx = vec![0.0; x.len()];
    <L as Layer<In, f64>>::backward(&mut conv, &x, &y, &dout, Some(&mut dx), 15);
    let (dw, db) = (conv.weight_grad.clone(), conv.bias_grad.clone());

    let mut probe = conv.clone();
    let dx_num = numerical_gradient_array(
        &mut x.clone(),
        |x| forward::<In, L>(&mut probe, x, 15),
        &dout,
        1e-5,
    );
    let dw_num = numerical_gradient_array(
        &mut conv.weight.clone(),
        |w| {
            probe.weight.copy_from_slice(w);
            forward::<In, L>(&mut probe, &x, 15)
        },
        &dout,
        1e-5,
    );
    probe.weight.copy_from_slice(&conv.weight);
    let db_num = numerical_gradient_array(
        &mut conv.bias.clone(),
        |b| {
            probe.bias.copy_from_slice(b);
            forward::<In, L>(&mut probe, &x, 15)
        },
        &dout,
        1e-5,
    );
    for (what, error) in [
        ("dx", rel_error(&dx, &dx_num)),
        ("dw", rel_error(&dw, &dw_num)),
        ("db", rel_error(&db, &db_num)),
    ] {
        assert!(error < 1e-6, "{what} error {error:e}");
    }
}

#[test]
fn max_pool_forward_matches_the_notebook() {
    type L = MaxPool2d<4, 2, f64>;
    let out = forward::<Image<8, 8, 1>, L>(&mut L::default(), &linspace(-0.1, 0.4, 64), 1);
    let expected = [
        0.11428571, 0.13015873, 0.14603175, 0.24126984, 0.25714286, 0.27301587, 0.36825397,
        0.38412698, 0.4,
    ];
    let error = rel_error(&out, &expected);
    assert!(error < 1e-7, "difference {error:e}");
}

#[test]
fn max_pool_backward_matches_numerical_gradient() {
    type L = MaxPool2d<4, 2, f64>;
    type In = Image<8, 8, 3>;
    let mut rng = StdRng::seed_from_u64(10);
    let x = random(15 * 8 * 8 * 3, &mut rng);
    let dout = random(15 * 3 * 3 * 3, &mut rng);
    let mut pool = L::default();
    let y = forward::<In, L>(&mut pool, &x, 15);
    let mut dx = vec![0.0; x.len()];
    <L as Layer<In, f64>>::backward(&mut pool, &x, &y, &dout, Some(&mut dx), 15);
    let dx_num = numerical_gradient_array(
        &mut x.clone(),
        |x| forward::<In, L>(&mut pool, x, 15),
        &dout,
        1e-5,
    );
    let error = rel_error(&dx, &dx_num);
    assert!(error < 1e-8, "dx error {error:e}");
}

fn std_dev(v: &[f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

#[test]
fn test_cnn_initialisation() {
    let model = TestCnn::<f64>::with_init(Init::NOTEBOOK, 1234);
    for layer in ["conv", "fc"] {
        let w = model.param(&format!("{layer}.weight")).unwrap();
        assert!(
            (std_dev(w) - 0.02).abs() < 0.002,
            "{layer}.weight std {}",
            std_dev(w)
        );
        assert!(
            model
                .param(&format!("{layer}.bias"))
                .unwrap()
                .iter()
                .all(|&b| b == 0.0)
        );
    }
}

#[test]
fn test_cnn_scores_loss_and_gradients() {
    let mut model = TestCnn::notebook_check();
    let feats = Tensor::<Image<8, 8, 3>, f64>::from_vec(4, linspace(-5.5, 4.5, 768)).unwrap();
    let scores = Network::forward(&mut model, &feats, Mode::Train).to_vec();
    let expected = [
        -13.8510729400,
        -11.5284581800,
        -9.2058434200,
        -6.8832286600,
        -4.5606138960,
        -11.4451417132,
        -10.2120052443,
        -8.9788687754,
        -7.7457323065,
        -6.5125958376,
        -9.0392104828,
        -8.8955523069,
        -8.7518941310,
        -8.6082359552,
        -8.4645777793,
        -6.6332792524,
        -7.5790993695,
        -8.5249194867,
        -9.4707396038,
        -10.4165597210,
    ];
    let diff: f64 = scores
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(diff < 1e-6, "scores differ by {diff:e}");

    let labels = [0, 2, 1, 4];
    let mut dscores = vec![0.0; 20];
    let loss = softmax_cross_entropy(&scores, &labels, 5, &mut dscores).unwrap();
    assert!((loss - 4.56046848799693).abs() < 1e-10, "loss {loss}");

    Network::backward(&mut model, &dscores);
    for name in ["conv.weight", "conv.bias", "fc.weight", "fc.bias"] {
        let analytic = model.grad(name).unwrap().to_vec();
        let mut values = model.param(name).unwrap().to_vec();
        let mut probe = TestCnn::notebook_check();
        let mut scratch = vec![0.0; 20];
        let numeric = numerical_gradient(
            &mut values,
            |v| {
                probe.assign(name, v).unwrap();
                let s = Network::forward(&mut probe, &feats, Mode::Train).to_vec();
                softmax_cross_entropy(&s, &labels, 5, &mut scratch).unwrap()
            },
            1e-5,
        );
        let error = rel_error(&analytic, &numeric);
        assert!(error < 1e-6, "{name} relative error {error:e}");
    }
}
