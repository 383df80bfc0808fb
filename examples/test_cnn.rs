//! The notebook's TestCNN cell, step by step, in f64:
//! `cargo run --example test_cnn`.

use constnet::grad_check::{linspace, numerical_gradient, rel_error};
use constnet::models::TestCnn;
use constnet::train::softmax_cross_entropy;
use constnet::{Image, Init, Mode, Network, Tensor};
use std::process::ExitCode;

fn std_dev(v: &[f64]) -> f64 {
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "Passed!" } else { "FAILED" }
}

fn main() -> ExitCode {
    let mut all_ok = true;
    let mut model = TestCnn::<f64>::with_init(Init::NOTEBOOK, 1234);
    println!("{}\n", model.summary());

    println!("Testing initialization ... ");
    let mut ok = true;
    for layer in ["conv", "fc"] {
        let w = model.param(&format!("{layer}.weight")).unwrap_or(&[]);
        let b = model.param(&format!("{layer}.bias")).unwrap_or(&[]);
        ok &= (std_dev(w) - 0.02).abs() < 0.02 / 10.0 && b.iter().all(|&v| v == 0.0);
    }
    println!("{}", verdict(ok));
    all_ok &= ok;

    println!("Testing test-time forward pass ... ");
    let assignments = [
        ("conv.weight", linspace(-0.7, 0.3, 81)),
        ("conv.bias", linspace(-0.6, 0.2, 3)),
        ("fc.weight", linspace(-0.2, 0.2, 135)),
        ("fc.bias", linspace(-0.9, 0.1, 5)),
    ];
    for (name, values) in &assignments {
        if let Err(e) = model.assign(name, values) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let feats = match Tensor::<Image<8, 8, 3>, f64>::from_vec(4, linspace(-5.5, 4.5, 768)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let scores = model.forward(&feats, Mode::Train).to_vec();
    let correct_scores = [
        -13.85107294,
        -11.52845818,
        -9.20584342,
        -6.88322866,
        -4.56061390,
        -11.44514171,
        -10.21200524,
        -8.97886878,
        -7.74573231,
        -6.51259584,
        -9.03921048,
        -8.89555231,
        -8.75189413,
        -8.60823596,
        -8.46457778,
        -6.63327925,
        -7.57909937,
        -8.52491949,
        -9.4707396,
        -10.41655972,
    ];
    let scores_diff: f64 = scores
        .iter()
        .zip(&correct_scores)
        .map(|(a, b)| (a - b).abs())
        .sum();
    println!(
        "{} (sum of abs differences {scores_diff:.2e})",
        verdict(scores_diff < 1e-6)
    );
    all_ok &= scores_diff < 1e-6;

    println!("Testing the loss ...");
    let labels = [0, 2, 1, 4];
    let mut dscores = vec![0.0; 20];
    let loss = softmax_cross_entropy(&scores, &labels, 5, &mut dscores).unwrap_or(f64::NAN);
    let loss_ok = (loss - 4.56046848799693).abs() < 1e-10;
    println!("{} (loss {loss:.14})", verdict(loss_ok));
    all_ok &= loss_ok;

    println!("Testing the gradients (error should be no larger than 1e-6) ...");
    model.backward(&dscores);
    for name in ["conv.bias", "conv.weight", "fc.bias", "fc.weight"] {
        let analytic = model.grad(name).unwrap_or(&[]).to_vec();
        let mut values = model.param(name).unwrap_or(&[]).to_vec();
        let mut probe = TestCnn::<f64>::with_init(Init::NOTEBOOK, 1234);
        for (n, v) in &assignments {
            probe.assign(n, v).ok();
        }
        let mut scratch = vec![0.0; 20];
        let numeric = numerical_gradient(
            &mut values,
            |v| {
                probe.assign(name, v).ok();
                let s = probe.forward(&feats, Mode::Train).to_vec();
                softmax_cross_entropy(&s, &labels, 5, &mut scratch).unwrap_or(f64::NAN)
            },
            1e-5,
        );
        let error = rel_error(&analytic, &numeric);
        println!("{name} relative error: {error:.2e}");
        all_ok &= error < 1e-6;
    }
    println!("{}", verdict(all_ok));
    if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
