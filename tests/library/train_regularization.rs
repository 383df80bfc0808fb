//! The notebook's TestCNN loss with L1 and L2 regularization: the values by hand, and
//! the regularized gradient of every parameter against a numerical one.

use constnet::grad_check::{linspace, numerical_gradient, rel_error};
use constnet::models::TestCnn;
use constnet::train::{Regularization, softmax_cross_entropy};
use constnet::{Image, Mode, Network, Tensor};

const SEED_LOSS: f64 = 4.56046848799693;

/// Over the weights only (conv.weight = linspace(-0.7, 0.3, 81), fc.weight =
/// linspace(-0.2, 0.2, 135); the biases are left out), in exact fractions:
/// sum |w| = 373/10 and sum w^2 = 642429/53600.
#[test]
fn seed_loss_plus_penalty_by_hand() {
    let mut model = TestCnn::notebook_check();
    let feats = Tensor::<Image<8, 8, 3>, f64>::from_vec(4, linspace(-5.5, 4.5, 768)).unwrap();
    let scores = model.forward(&feats, Mode::Train).to_vec();
    let mut dscores = vec![0.0; 20];
    let loss = softmax_cross_entropy(&scores, &[0, 2, 1, 4], 5, &mut dscores).unwrap();
    assert!((loss - SEED_LOSS).abs() < 1e-10);

    let lambda = 0.1;
    let l1 = Regularization::L1.penalty(&model, lambda);
    let l2 = Regularization::L2.penalty(&model, lambda);
    assert!((l1 - 3.73).abs() < 1e-12, "L1 penalty {l1}");
    assert!(
        (l2 - 0.1 * 642429.0 / 53600.0).abs() < 1e-12,
        "L2 penalty {l2}"
    );
    assert!((loss + l2 - 5.759_030_055_161_11).abs() < 1e-10);
    assert_eq!(Regularization::None.penalty(&model, lambda), 0.0);
}

/// The notebook's TestCNN; for L1, the weights that linspace puts at (about) 0, where |w| has no
/// derivative, moved to 0.01.
fn model_for(reg: Regularization) -> TestCnn<f64> {
    let mut model = TestCnn::notebook_check();
    if reg == Regularization::L1 {
        model.params_mut(&mut |_, p| {
            for w in p.value.iter_mut().filter(|w| w.abs() < 1e-3) {
                *w = 0.01;
            }
        });
    }
    model
}

#[test]
fn regularized_gradients_match_numerical_ones() {
    let feats = Tensor::<Image<8, 8, 3>, f64>::from_vec(4, linspace(-5.5, 4.5, 768)).unwrap();
    let labels = [0, 2, 1, 4];
    for reg in [Regularization::L1, Regularization::L2] {
        let lambda = 0.05;
        let mut model = model_for(reg);
        let scores = model.forward(&feats, Mode::Train).to_vec();
        let mut dscores = vec![0.0; 20];
        softmax_cross_entropy(&scores, &labels, 5, &mut dscores).unwrap();
        model.backward(&dscores);
        reg.add_gradient(&mut model, lambda);
        for name in ["conv.weight", "conv.bias", "fc.weight", "fc.bias"] {
            let analytic = model.grad(name).unwrap().to_vec();
            let mut values = model.param(name).unwrap().to_vec();
            let mut probe = model_for(reg);
            let mut scratch = vec![0.0; 20];
            let numeric = numerical_gradient(
                &mut values,
                |v| {
                    probe.assign(name, v).unwrap();
                    let s = probe.forward(&feats, Mode::Train).to_vec();
                    softmax_cross_entropy(&s, &labels, 5, &mut scratch).unwrap()
                        + reg.penalty(&probe, lambda)
                },
                1e-6,
            );
            let error = rel_error(&analytic, &numeric);
            assert!(error < 1e-6, "{reg} {name}: relative error {error:e}");
        }
    }
}
