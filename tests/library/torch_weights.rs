//! PyTorch weights in and out (`constnet::torch`) against a fixture written by PyTorch
//! (`tests/fixtures/make_torch_fixture.py`): the same logits, an exact round trip, and typed
//! errors for every mismatch, including a file of the other layout.

use constnet::layers::{
    BatchNorm2d, Conv2d, Conv2dNoBias, Dropout, Flatten, GlobalAvgPool2d, Linear, Relu, Repeat,
};
use constnet::models::{BasicBlock, DownBlock, LeNet5, ResNet20, SmallCnn};
use constnet::safetensors::{Dtype, SafeTensors, TensorView, serialize};
use constnet::torch::{TorchError, TorchLayout, load_state_dict, save_state_dict, torch_params};
use constnet::train::{CheckpointError, load_checkpoint, save_checkpoint};
use constnet::{Float, Image, Mode, Network, Shape, Tensor, net};
use std::path::{Path, PathBuf};

net! {
    /// The fixture's small ResNet with BatchNorm: stem, an identity block, a projection block
    /// with stride 2, global average pooling, flatten and a square linear layer.
    struct TinyResNet {
        input: Image<8, 8, 3>,
        conv1: Conv2dNoBias<3, 4, 3, 1, 1>,
        bn1: BatchNorm2d<4>,
        relu: Relu,
        layer1: Repeat<BasicBlock<4>, 1>,
        layer2: DownBlock<4, 6, 2>,
        avgpool: GlobalAvgPool2d,
        flatten: Flatten,
        fc: Linear<6, 6>,
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The tensor `name` of the fixture's inputs and logits, as f64.
fn io(name: &str) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(fixture("torch_io.safetensors")).unwrap();
    let file = SafeTensors::parse(&bytes).unwrap();
    let t = file.tensor(name).unwrap();
    (t.shape.to_vec(), t.to_f64().unwrap())
}

/// The fixture's NCHW inputs of `model` as an NHWC batch.
fn input<S: Shape, T: Float>(model: &str) -> Tensor<S, T> {
    let (shape, nchw) = io(&format!("{model}.input"));
    let [n, c, h, w] = shape[..] else {
        panic!("{shape:?}")
    };
    assert_eq!([h, w, c], [S::H, S::W, S::C]);
    let mut nhwc = vec![T::ZERO; nchw.len()];
    for b in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for x in 0..w {
                    nhwc[((b * h + y) * w + x) * c + ch] =
                        T::from_f64(nchw[((b * c + ch) * h + y) * w + x]);
                }
            }
        }
    }
    Tensor::from_vec(n, nhwc).unwrap()
}

/// The largest difference between `net`'s eval logits and the fixture's `key`.
fn max_diff<T: Float, N: Network<T>>(net: &mut N, model: &str, key: &str) -> f64 {
    let x = input::<N::Input, T>(model);
    let logits = net.forward(&x, Mode::Eval).to_vec();
    let (_, expected) = io(&format!("{model}.{key}"));
    assert_eq!(logits.len(), expected.len());
    logits
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a.to_f64() - b).abs())
        .fold(0.0, f64::max)
}

fn all_params<T: Float, N: Network<T>>(net: &N) -> Vec<(String, Vec<T>)> {
    let mut out = Vec::new();
    net.params(&mut |layer, p| out.push((layer.param_name(p.name), p.value.to_vec())));
    out
}

#[test]
fn small_cnn_gives_pytorch_s_logits() {
    let mut net = SmallCnn::<f32>::new(7);
    load_state_dict(&mut net, fixture("torch_small_cnn.safetensors")).unwrap();
    let diff = max_diff(&mut net, "small_cnn", "logits");
    assert!(diff < 1e-5, "f32 logits differ by {diff}");
    // In f64, against PyTorch's float64 forward with the same weights.
    let mut wide = SmallCnn::<f64>::new(7);
    load_state_dict(&mut wide, fixture("torch_small_cnn.safetensors")).unwrap();
    let diff = max_diff(&mut wide, "small_cnn", "logits_f64");
    assert!(diff < 1e-12, "f64 logits differ by {diff}");
}

#[test]
fn a_resnet_with_batchnorm_gives_pytorch_s_logits() {
    let mut net = TinyResNet::<f32>::new(7);
    load_state_dict(&mut net, fixture("torch_tiny_resnet.safetensors")).unwrap();
    // The running statistics came in (the fixture's are random, not 0 and 1).
    assert_ne!(
        net.param("layer2.downsample.1.running_var").unwrap()[0],
        1.0
    );
    let diff = max_diff(&mut net, "tiny_resnet", "logits");
    assert!(diff < 1e-5, "f32 logits differ by {diff}");
    let mut wide = TinyResNet::<f64>::new(7);
    load_state_dict(&mut wide, fixture("torch_tiny_resnet.safetensors")).unwrap();
    let diff = max_diff(&mut wide, "tiny_resnet", "logits_f64");
    assert!(diff < 1e-12, "f64 logits differ by {diff}");
}

/// Import, export, compare the export with PyTorch's file tensor by tensor, import again.
fn round_trip<N: Network<f32>>(mut net: N, mut again: N, file: &str) {
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("exported.safetensors");
    load_state_dict(&mut net, fixture(file)).unwrap();
    save_state_dict(&net, &exported).unwrap();

    // Read with the reference implementation: the same tensors, bit for bit, as PyTorch wrote
    // (num_batches_tracked aside: PyTorch's is 12, ours 0).
    let ours_bytes = std::fs::read(&exported).unwrap();
    let ours = safetensors::SafeTensors::deserialize(&ours_bytes).unwrap();
    let torch_bytes = std::fs::read(fixture(file)).unwrap();
    let torch = safetensors::SafeTensors::deserialize(&torch_bytes).unwrap();
    let mut names = ours.names();
    names.sort_unstable();
    let mut torch_names = torch.names();
    torch_names.sort_unstable();
    assert_eq!(names, torch_names);
    for name in names {
        let (a, b) = (ours.tensor(name).unwrap(), torch.tensor(name).unwrap());
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        if name.ends_with("num_batches_tracked") {
            assert_eq!(a.dtype(), safetensors::Dtype::I64);
            assert_eq!(a.data(), 0i64.to_le_bytes());
        } else {
            assert!(a.data() == b.data(), "{name} differs");
        }
    }

    load_state_dict(&mut again, &exported).unwrap();
    assert_eq!(all_params(&again), all_params(&net));
}

#[test]
fn export_is_pytorch_s_file_and_reimports_identically() {
    round_trip(
        SmallCnn::<f32>::new(1),
        SmallCnn::<f32>::new(2),
        "torch_small_cnn.safetensors",
    );
    round_trip(
        TinyResNet::<f32>::new(1),
        TinyResNet::<f32>::new(2),
        "torch_tiny_resnet.safetensors",
    );
}

#[test]
fn export_then_import_is_the_identity_for_any_weights() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lenet.safetensors");
    let net = LeNet5::<f64>::new(3);
    save_state_dict(&net, &path).unwrap();
    let mut back = LeNet5::<f64>::new(4);
    load_state_dict(&mut back, &path).unwrap();
    assert_eq!(all_params(&back), all_params(&net));
    // F64 for an f64 network, and the metadata says which layout.
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::parse(&bytes).unwrap();
    assert_eq!(file.tensor("fc1.weight").unwrap().dtype, Dtype::F64);
    assert_eq!(file.tensor("fc1.weight").unwrap().shape, [120, 400]);
    assert_eq!(file.metadata("layout"), Some("pytorch-nchw"));
    assert_eq!(file.metadata("format"), Some("pt"));
}

#[test]
fn the_layouts_follow_the_layers() {
    let lenet = torch_params(&LeNet5::<f32>::new(0)).unwrap();
    let layout = |params: &[constnet::torch::TorchParam], name: &str| {
        params.iter().find(|p| p.name == name).unwrap().layout
    };
    assert_eq!(
        layout(&lenet, "conv2.weight"),
        TorchLayout::Conv {
            kh: 5,
            kw: 5,
            inputs: 6,
            outputs: 16
        }
    );
    assert_eq!(
        layout(&lenet, "fc1.weight"),
        TorchLayout::Linear {
            inputs: 400,
            outputs: 120,
            flattened: Some([5, 5, 16])
        }
    );
    // After a linear layer there is nothing to reorder.
    assert_eq!(
        layout(&lenet, "fc2.weight"),
        TorchLayout::Linear {
            inputs: 120,
            outputs: 84,
            flattened: None
        }
    );
    assert_eq!(layout(&lenet, "fc2.bias"), TorchLayout::Same);
    // Global average pooling leaves 1x1xC: nothing to reorder.
    let resnet = torch_params(&ResNet20::<20>::new(0)).unwrap();
    assert_eq!(
        layout(&resnet, "fc.weight"),
        TorchLayout::Linear {
            inputs: 64,
            outputs: 20,
            flattened: None
        }
    );
    let down = resnet
        .iter()
        .find(|p| p.name == "layer3.0.downsample.0.weight")
        .unwrap();
    assert_eq!(
        (down.shape.as_slice(), down.torch_shape.as_slice()),
        (&[1, 1, 32, 64][..], &[64, 32, 1, 1][..])
    );

    // Dropout and activations between the flatten and the linear layer keep the map's shape.
    net! {
        struct Dropped {
            input: Image<3, 2, 4>,
            conv: Conv2d<4, 5, 1, 1, 0>,
            flatten: Flatten,
            relu: Relu,
            drop: Dropout,
            fc: Linear<30, 2>,
        }
    }
    let dropped = torch_params(&Dropped::<f32>::new(0)).unwrap();
    assert_eq!(
        layout(&dropped, "fc.weight"),
        TorchLayout::Linear {
            inputs: 30,
            outputs: 2,
            flattened: Some([3, 2, 5])
        }
    );
}

#[test]
fn the_flatten_reorder_moves_each_column_where_pytorch_has_it() {
    // A 2x3x2 map flattened: NHWC feature (h, w, c) is PyTorch's feature c * 6 + h * 3 + w.
    let layout = TorchLayout::Linear {
        inputs: 12,
        outputs: 1,
        flattened: Some([2, 3, 2]),
    };
    let ours: Vec<usize> = (0..12).collect(); // ours[(h * 3 + w) * 2 + c] = that index
    let torch = layout.to_torch(&ours);
    for h in 0..2 {
        for w in 0..3 {
            for c in 0..2 {
                assert_eq!(torch[c * 6 + h * 3 + w], (h * 3 + w) * 2 + c);
            }
        }
    }
    assert_eq!(layout.from_torch(&torch), ours);
}

/// Owned tensors as [`write`] takes them.
fn as_refs(t: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<(&str, Vec<usize>, Vec<f32>)> {
    t.iter()
        .map(|(n, s, v)| (n.as_str(), s.clone(), v.clone()))
        .collect()
}

/// Writes `tensors` (name, shape, f32 values) as a safetensors file without metadata.
fn write(path: &Path, tensors: &[(&str, Vec<usize>, Vec<f32>)]) {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), data)| TensorView {
            name,
            dtype: Dtype::F32,
            shape,
            data,
        });
    std::fs::write(path, serialize(views, &[]).unwrap()).unwrap();
}

net! {
    /// A square linear layer: its PyTorch and constnet shapes agree.
    struct Square {
        input: Image<1, 1, 2>,
        fc: Linear<2, 2>,
    }
}

#[test]
fn a_square_linear_loads_transposed_only_through_the_importer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("square.safetensors");
    // nn.Linear(2, 2) with weight [[1, 2], [3, 4]]: y0 = x0 + 2 x1, y1 = 3 x0 + 4 x1.
    write(
        &path,
        &[
            ("fc.weight", vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]),
            ("fc.bias", vec![2], vec![0.0, 0.5]),
        ],
    );
    let mut net = Square::<f32>::new(0);
    let before = all_params(&net);
    let err = load_checkpoint(&mut net, &path).unwrap_err();
    assert!(
        matches!(err, CheckpointError::Layout { found: None, .. }),
        "{err:?}"
    );
    assert_eq!(all_params(&net), before);

    load_state_dict(&mut net, &path).unwrap();
    assert_eq!(net.param("fc.weight").unwrap(), [1.0, 3.0, 2.0, 4.0]);
    let x = Tensor::<Image<1, 1, 2>>::from_vec(1, vec![1.0, 10.0]).unwrap();
    assert_eq!(net.forward(&x, Mode::Eval), [21.0, 43.5]);

    // Our export is refused by load_checkpoint too, naming its layout.
    let exported = dir.path().join("exported.safetensors");
    save_state_dict(&net, &exported).unwrap();
    let err = load_checkpoint(&mut net, &exported).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Layout { found: Some(l), .. } if l == "pytorch-nchw"),
        "{err:?}"
    );
    // And a constnet checkpoint is refused by the importer.
    let ours = dir.path().join("ours.safetensors");
    save_checkpoint(&net, &ours).unwrap();
    let err = load_state_dict(&mut net, &ours).unwrap_err();
    assert!(matches!(err, TorchError::ConstnetFile { .. }), "{err:?}");
    assert!(err.to_string().contains("load_checkpoint"), "{err}");
}

#[test]
fn missing_extra_and_misshaped_tensors_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.safetensors");
    let mut net = TinyResNet::<f32>::new(0);
    let before = all_params(&net);
    let load = |net: &mut TinyResNet<f32>, tensors: &[(&str, Vec<usize>, Vec<f32>)]| {
        write(&path, tensors);
        load_state_dict(net, &path).unwrap_err()
    };
    // Everything but fc.bias, in PyTorch's shapes.
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = torch_params(&net)
        .unwrap()
        .into_iter()
        .map(|p| {
            let n = p.torch_shape.iter().product();
            (p.name, p.torch_shape, vec![0.5; n])
        })
        .collect();
    let fc_bias = tensors.pop().unwrap();
    assert_eq!(fc_bias.0, "fc.bias");
    let err = load(&mut net, &as_refs(&tensors));
    assert!(
        matches!(&err, TorchError::Missing { name, expected, .. } if name == "fc.bias" && expected == &[6]),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("'fc.bias' (PyTorch shape [6])"),
        "{err}"
    );

    // An extra tensor (num_batches_tracked of a BatchNorm is fine, of a conv it is not).
    tensors.push(fc_bias);
    tensors.push(("bn1.num_batches_tracked".into(), vec![], vec![3.0]));
    tensors.push(("conv1.num_batches_tracked".into(), vec![], vec![3.0]));
    let err = load(&mut net, &as_refs(&tensors));
    assert!(
        matches!(&err, TorchError::Unexpected { name, .. } if name == "conv1.num_batches_tracked"),
        "{err:?}"
    );
    tensors.pop();

    // conv1.weight in constnet's shape instead of PyTorch's.
    tensors[0] = ("conv1.weight".into(), vec![3, 3, 3, 4], vec![0.5; 108]);
    let err = load(&mut net, &as_refs(&tensors));
    assert!(
        matches!(&err, TorchError::Shape { name, expected, found, .. }
            if name == "conv1.weight" && expected == &[4, 3, 3, 3] && found == &[3, 3, 3, 4]),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("'conv1.weight' has shape [3, 3, 3, 4], but the network's parameter has PyTorch shape [4, 3, 3, 3]"),
        "{err}"
    );
    assert_eq!(all_params(&net), before);

    // With the right shape, it loads (num_batches_tracked ignored).
    tensors[0] = ("conv1.weight".into(), vec![4, 3, 3, 3], vec![0.5; 108]);
    write(&path, &as_refs(&tensors));
    load_state_dict(&mut net, &path).unwrap();
    assert_eq!(net.param("fc.bias").unwrap(), [0.5; 6]);
}

#[test]
fn half_precision_loads_and_integers_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("half.safetensors");
    // bf16 is the upper half of an f32: 1.0, 2.0, -0.5, 3.0 and 0.25, 0.75.
    let bf16 = |v: &[f32]| -> Vec<u8> {
        v.iter()
            .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
            .collect()
    };
    let weight = bf16(&[1.0, 2.0, -0.5, 3.0]);
    let bias = bf16(&[0.25, 0.75]);
    let bytes = serialize(
        [
            TensorView {
                name: "fc.weight",
                dtype: Dtype::BF16,
                shape: &[2, 2],
                data: &weight,
            },
            TensorView {
                name: "fc.bias",
                dtype: Dtype::BF16,
                shape: &[2],
                data: &bias,
            },
        ],
        &[],
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let mut net = Square::<f32>::new(0);
    load_state_dict(&mut net, &path).unwrap();
    assert_eq!(net.param("fc.weight").unwrap(), [1.0, -0.5, 2.0, 3.0]);
    assert_eq!(net.param("fc.bias").unwrap(), [0.25, 0.75]);

    let ints: Vec<u8> = [1i32, 2, 3, 4]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bytes = serialize(
        [
            TensorView {
                name: "fc.weight",
                dtype: Dtype::I32,
                shape: &[2, 2],
                data: &ints,
            },
            TensorView {
                name: "fc.bias",
                dtype: Dtype::BF16,
                shape: &[2],
                data: &bias,
            },
        ],
        &[],
    )
    .unwrap();
    std::fs::write(&path, bytes).unwrap();
    let err = load_state_dict(&mut net, &path).unwrap_err();
    assert!(
        matches!(&err, TorchError::Dtype { name, found: Dtype::I32, .. } if name == "fc.weight"),
        "{err:?}"
    );
}

/// The fixture's NCHW inputs of `model` through `Network::predict_batch`: each sample's scores
/// and probabilities.
fn predictions<N: Network<f32>>(net: &N, model: &str) -> Vec<(Vec<f32>, Vec<f32>)> {
    let x = input::<N::Input, f32>(model);
    let mut ws = constnet::Workspace::new();
    let batch = net.predict_batch(&x, &mut ws);
    batch
        .iter()
        .map(|p| (p.scores.to_vec(), p.probabilities.to_vec()))
        .collect()
}

#[test]
fn import_predict_export_reimport_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    // Import PyTorch's SmallCnn and predict its inputs: PyTorch's logits.
    let mut net = SmallCnn::<f32>::new(1);
    load_state_dict(&mut net, fixture("torch_small_cnn.safetensors")).unwrap();
    let first = predictions(&net, "small_cnn");
    let (_, logits) = io("small_cnn.logits");
    let ours: Vec<f64> = first
        .iter()
        .flat_map(|(s, _)| s.iter().map(|&v| f64::from(v)))
        .collect();
    assert_eq!(ours.len(), logits.len());
    let diff = ours
        .iter()
        .zip(&logits)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(diff < 1e-5, "logits differ by {diff}");
    for (_, p) in &first {
        let sum: f32 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "{sum}");
    }

    // Export, re-import into a network of another RNG seed: the same tensors, the same
    // predictions, bit for bit.
    let exported = dir.path().join("exported.safetensors");
    save_state_dict(&net, &exported).unwrap();
    let mut again = SmallCnn::<f32>::new(2);
    assert_ne!(predictions(&again, "small_cnn"), first);
    load_state_dict(&mut again, &exported).unwrap();
    assert_eq!(all_params(&again), all_params(&net));
    assert_eq!(predictions(&again, "small_cnn"), first);

    // Through constnet's own checkpoint too (the layout tag written and checked).
    let ours = dir.path().join("ours.safetensors");
    save_checkpoint(&again, &ours).unwrap();
    let mut third = SmallCnn::<f32>::new(3);
    load_checkpoint(&mut third, &ours).unwrap();
    assert_eq!(predictions(&third, "small_cnn"), first);

    // The same with BatchNorm's running statistics (the tiny ResNet).
    let mut net = TinyResNet::<f32>::new(1);
    load_state_dict(&mut net, fixture("torch_tiny_resnet.safetensors")).unwrap();
    let first = predictions(&net, "tiny_resnet");
    save_state_dict(&net, &exported).unwrap();
    let mut again = TinyResNet::<f32>::new(2);
    load_state_dict(&mut again, &exported).unwrap();
    assert_eq!(predictions(&again, "tiny_resnet"), first);
}
