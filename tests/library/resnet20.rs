//! ResNet-20 against PyTorch (a fixture computed by `tests/fixtures/make_resnet20_fixture.py`),
//! its parameter names and count, and the reproducibility of its training across thread counts.

use constnet::models::ResNet20;
use constnet::train::softmax_cross_entropy;
use constnet::{Image, Init, Mode, Network, ParamKind, Tensor};
use std::collections::HashMap;

/// The fixture's formula for parameter `name`, in PyTorch's layout.
fn formula(name: &str, n: usize) -> Vec<f64> {
    let s: u32 = name.bytes().map(u32::from).sum();
    (0..n)
        .map(|i| 0.1 * (0.7 * i as f64 + 0.01 * f64::from(s)).sin())
        .collect()
}

/// PyTorch-layout values moved into constnet's layout of `shape`.
fn from_torch_layout(torch: &[f64], shape: &[usize]) -> Vec<f64> {
    match *shape {
        // conv: ours [K][K][IN][OUT], PyTorch's [OUT][IN][K][K]
        [kh, kw, cin, cout] => {
            let mut ours = vec![0.0; torch.len()];
            for o in 0..cout {
                for i in 0..cin {
                    for y in 0..kh {
                        for x in 0..kw {
                            ours[((y * kw + x) * cin + i) * cout + o] =
                                torch[((o * cin + i) * kh + y) * kw + x];
                        }
                    }
                }
            }
            ours
        }
        // linear: ours [IN][OUT], PyTorch's [OUT][IN]
        [inputs, outputs] => {
            let mut ours = vec![0.0; torch.len()];
            for o in 0..outputs {
                for i in 0..inputs {
                    ours[i * outputs + o] = torch[o * inputs + i];
                }
            }
            ours
        }
        _ => torch.to_vec(),
    }
}

fn fixture() -> serde_json::Value {
    let text = include_str!("../fixtures/resnet20_torch.json");
    serde_json::from_str(text).expect("the fixture is JSON")
}

fn numbers(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

fn net_as_in_fixture() -> ResNet20<20, f64> {
    let mut net = ResNet20::<20, f64>::with_init(Init::He, 0);
    net.params_mut(&mut |path, p| {
        if p.kind == ParamKind::Buffer {
            return;
        }
        let name = path.param_name(p.name);
        let mut torch = formula(&name, p.value.len());
        if p.name == "weight" && p.shape.len() == 1 {
            torch.iter_mut().for_each(|v| *v += 1.0);
        }
        p.value.copy_from_slice(&from_torch_layout(&torch, p.shape));
    });
    net
}

fn input() -> Tensor<Image<32, 32, 3>, f64> {
    let mut x = Tensor::<Image<32, 32, 3>, f64>::zeros(2);
    for n in 0..2 {
        let sample = x.sample_mut(n);
        for c in 0..3 {
            for h in 0..32 {
                for w in 0..32 {
                    let torch_index = ((n * 3 + c) * 32 + h) * 32 + w;
                    sample[(h * 32 + w) * 3 + c] = (0.013 * torch_index as f64).sin();
                }
            }
        }
    }
    x
}

fn assert_close(what: &str, ours: &[f64], theirs: &[f64], tolerance: f64) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * (1.0 + b.abs()),
            "{what}[{i}]: constnet {a}, PyTorch {b}"
        );
    }
}

#[test]
fn forward_and_one_training_step_match_pytorch() {
    let fixture = fixture();
    let mut net = net_as_in_fixture();
    assert_eq!(
        net.num_params() as u64,
        fixture["parameters"].as_u64().unwrap()
    );
    let x = input();
    let labels = [3, 17];
    let logits = net.forward(&x, Mode::Train).to_vec();
    assert_close("logits", &logits, &numbers(&fixture["logits"]), 1e-9);

    let mut grad = vec![0.0; logits.len()];
    let loss = softmax_cross_entropy(&logits, &labels, 20, &mut grad).unwrap();
    assert_close("loss", &[loss], &[fixture["loss"].as_f64().unwrap()], 1e-9);
    net.backward(&grad);

    let mut sums: HashMap<String, [f64; 2]> = HashMap::new();
    let mut running: HashMap<String, f64> = HashMap::new();
    net.params(&mut |path, p| {
        let name = path.param_name(p.name);
        if p.kind == ParamKind::Buffer {
            running.insert(name, p.value.iter().sum());
        } else {
            let sum = p.grad.iter().sum();
            let squares = p.grad.iter().map(|g| g * g).sum();
            sums.insert(name, [sum, squares]);
        }
    });
    let expected = fixture["grad_sums"].as_object().unwrap();
    assert_eq!(sums.len(), expected.len(), "trained parameters");
    for (name, pair) in expected {
        let ours = sums
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        assert_close(
            &format!("gradient sums of {name}"),
            ours,
            &numbers(pair),
            1e-9,
        );
    }
    let expected = fixture["running_sums"].as_object().unwrap();
    assert_eq!(running.len(), expected.len(), "running statistics");
    for (name, value) in expected {
        let ours = running
            .get(name)
            .unwrap_or_else(|| panic!("no buffer {name}"));
        assert_close(name, &[*ours], &[value.as_f64().unwrap()], 1e-9);
    }

    // SGD, learning rate 0.1, then forward again.
    net.params_mut(&mut |_, p| {
        if p.kind != ParamKind::Buffer {
            for (v, g) in p.value.iter_mut().zip(p.grad.iter()) {
                *v -= 0.1 * g;
            }
        }
    });
    let after = net.forward(&x, Mode::Train).to_vec();
    assert_close(
        "logits after a step",
        &after,
        &numbers(&fixture["logits_after_step"]),
        1e-9,
    );
}

#[test]
fn names_and_shapes_are_torchvision_s() {
    let net = ResNet20::<20>::new(0);
    assert_eq!(net.num_params(), 273_124);
    let mut shapes = HashMap::new();
    net.params(&mut |path, p| {
        shapes.insert(path.param_name(p.name), p.shape.to_vec());
    });
    for (name, shape) in [
        ("conv1.weight", vec![3, 3, 3, 16]),
        ("bn1.weight", vec![16]),
        ("bn1.running_var", vec![16]),
        ("layer1.0.conv1.weight", vec![3, 3, 16, 16]),
        ("layer1.2.bn2.bias", vec![16]),
        ("layer2.0.conv1.weight", vec![3, 3, 16, 32]),
        ("layer2.0.downsample.0.weight", vec![1, 1, 16, 32]),
        ("layer2.0.downsample.1.running_mean", vec![32]),
        ("layer3.2.conv2.weight", vec![3, 3, 64, 64]),
        ("fc.weight", vec![64, 20]),
        ("fc.bias", vec![20]),
    ] {
        assert_eq!(shapes.get(name), Some(&shape), "{name}");
    }
    // 21 convolutions (2 of them shortcuts), a linear weight and bias, 21 BatchNorms with 4
    // tensors each
    assert_eq!(shapes.len(), 21 + 2 + 21 * 4);
    assert!(
        !shapes.contains_key("conv1.bias"),
        "no bias before BatchNorm"
    );
    let summary = net.summary().to_string();
    assert!(summary.contains("layer2.0.downsample"), "{summary}");
    assert!(
        summary.contains("BatchNorm2d<16>(momentum = 0.1, eps = 1e-5)"),
        "{summary}"
    );
    assert!(summary.trim_end().ends_with("273124"), "{summary}");
}

/// Three SGD steps of ResNet-20 in f32 on a pool of `threads` threads: the parameters'
/// bits.
fn train_bits(threads: usize) -> Vec<u32> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool");
    pool.install(|| {
        let mut net = ResNet20::<20>::new(7);
        let mut x = Tensor::<Image<32, 32, 3>>::zeros(8);
        for (i, v) in x.as_mut_slice().iter_mut().enumerate() {
            *v = ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
        }
        let labels: Vec<usize> = (0..8).map(|i| i * 3 % 20).collect();
        let mut grad = vec![0.0f32; 8 * 20];
        for _ in 0..3 {
            let logits = net.forward(&x, Mode::Train).to_vec();
            softmax_cross_entropy(&logits, &labels, 20, &mut grad).unwrap();
            net.backward(&grad);
            net.params_mut(&mut |_, p| {
                if p.kind != ParamKind::Buffer {
                    for (v, g) in p.value.iter_mut().zip(p.grad.iter()) {
                        *v -= 0.05 * g;
                    }
                }
            });
        }
        let mut bits = Vec::new();
        net.params(&mut |_, p| bits.extend(p.value.iter().map(|v| v.to_bits())));
        bits
    })
}

#[test]
fn training_gives_the_same_bits_on_one_and_two_threads() {
    let one = train_bits(1);
    // Trained parameters and the running statistics of 784 BatchNorm channels.
    assert_eq!(one.len(), 273_124 + 2 * 784);
    assert_eq!(one, train_bits(2));
}
