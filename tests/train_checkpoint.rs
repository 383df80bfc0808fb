//! Safetensors checkpoints: round trip, architecture mismatches, damaged files, atomic writes.

use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{CheckpointError, load_checkpoint, save_checkpoint};
use constnet::{Image, Mode, Network, Tensor, net};

net! {
    struct Cnn {
        input: Image<4, 4, 2>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        bn1: BatchNorm2d<3>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<12, 5>,
    }
}

net! {
    /// As `Cnn` with a wider last layer.
    struct Wider {
        input: Image<4, 4, 2>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        bn1: BatchNorm2d<3>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<12, 6>,
    }
}

net! {
    /// As `Cnn` without the BatchNorm.
    struct NoBn {
        input: Image<4, 4, 2>,
        conv1: Conv2d<2, 3, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<12, 5>,
    }
}

fn input() -> Tensor<Image<4, 4, 2>> {
    Tensor::from_vec(3, (0..96).map(|i| (i as f32 * 0.37).sin()).collect()).unwrap()
}

/// A network whose BatchNorm running statistics have moved away from their initial values.
fn trained_cnn() -> Cnn {
    let mut net = Cnn::<f32>::new(9);
    net.forward(&input(), Mode::Train);
    net
}

fn all_params<N: Network<f32>>(net: &N) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    net.params(&mut |layer, p| out.push((format!("{layer}.{}", p.name), p.value.to_vec())));
    out
}

#[test]
fn round_trip_gives_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let mut saved = trained_cnn();
    save_checkpoint(&saved, &path).unwrap();

    let mut loaded = Cnn::<f32>::new(1);
    assert_ne!(all_params(&loaded), all_params(&saved));
    load_checkpoint(&mut loaded, &path).unwrap();
    assert_eq!(all_params(&loaded), all_params(&saved));
    let expected = saved.forward(&input(), Mode::Eval).to_vec();
    assert_eq!(loaded.forward(&input(), Mode::Eval), expected.as_slice());

    // Nothing but the checkpoint is left in the directory (the temporary file was renamed).
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["model.safetensors"]);
}

#[test]
fn the_file_has_pytorch_names_layer_shapes_and_f32() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let net = trained_cnn();
    save_checkpoint(&net, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn1.weight",
            "conv1.bias",
            "conv1.weight",
            "fc.bias",
            "fc.weight"
        ]
    );
    let conv = file.tensor("conv1.weight").unwrap();
    assert_eq!(conv.shape(), [3, 3, 2, 3]);
    assert_eq!(conv.dtype(), safetensors::Dtype::F32);
    assert_eq!(file.tensor("fc.weight").unwrap().shape(), [12, 5]);
    let mean = file.tensor("bn1.running_mean").unwrap();
    let first = f32::from_le_bytes(mean.data()[..4].try_into().unwrap());
    assert_eq!(first, net.param("bn1.running_mean").unwrap()[0]);
    assert_ne!(first, 0.0);
}

#[test]
fn f64_networks_save_f64_and_load_into_f32() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let net = Cnn::<f64>::new(3);
    save_checkpoint(&net, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(
        file.tensor("fc.bias").unwrap().dtype(),
        safetensors::Dtype::F64
    );
    let mut small = Cnn::<f32>::new(4);
    load_checkpoint(&mut small, &path).unwrap();
    let expected: Vec<f32> = net
        .param("conv1.weight")
        .unwrap()
        .iter()
        .map(|&w| w as f32)
        .collect();
    assert_eq!(small.param("conv1.weight").unwrap(), expected.as_slice());
}

#[test]
fn another_architecture_is_an_error_naming_the_tensor_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_checkpoint(&trained_cnn(), &path).unwrap();

    let mut wider = Wider::<f32>::new(2);
    let before = all_params(&wider);
    let err = load_checkpoint(&mut wider, &path).unwrap_err();
    match &err {
        CheckpointError::Shape {
            name,
            expected,
            found,
            ..
        } => {
            assert_eq!(name, "fc.weight");
            assert_eq!(expected, &[12, 6]);
            assert_eq!(found, &[12, 5]);
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(
            "'fc.weight' has shape [12, 5], but the network's parameter has shape [12, 6]"
        ),
        "{message}"
    );
    assert!(message.contains("model.safetensors"), "{message}");
    // conv1 and bn1 fit and come first, but nothing was assigned.
    assert_eq!(all_params(&wider), before);

    // A file without BatchNorm lacks bn1's tensors; a file with it has extra ones.
    let no_bn_path = dir.path().join("no_bn.safetensors");
    save_checkpoint(&NoBn::<f32>::new(1), &no_bn_path).unwrap();
    let mut cnn = Cnn::<f32>::new(1);
    let before = all_params(&cnn);
    let err = load_checkpoint(&mut cnn, &no_bn_path).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Missing { name, expected, .. } if name == "bn1.weight" && expected == &[3]),
        "{err:?}"
    );
    assert_eq!(all_params(&cnn), before);
    let mut no_bn = NoBn::<f32>::new(1);
    let err = load_checkpoint(&mut no_bn, &path).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Unexpected { name, .. } if name == "bn1.bias"),
        "{err:?}"
    );
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_checkpoint(&trained_cnn(), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut net = Cnn::<f32>::new(1);
    let before = all_params(&net);

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() - 10].to_vec()),
        ("header only", bytes[..20].to_vec()),
        ("empty", Vec::new()),
        ("garbage", b"this is not a safetensors file at all".to_vec()),
        ("huge header length", {
            let mut b = bytes.clone();
            b[..8].copy_from_slice(&u64::MAX.to_le_bytes());
            b
        }),
    ];
    for (what, content) in cases {
        let damaged = dir.path().join(format!("{what}.safetensors"));
        std::fs::write(&damaged, content).unwrap();
        let err = load_checkpoint(&mut net, &damaged).unwrap_err();
        assert!(
            matches!(err, CheckpointError::Format { .. }),
            "{what}: {err:?}"
        );
        assert!(
            err.to_string().contains(&format!("{what}.safetensors")),
            "{err}"
        );
    }
    assert_eq!(all_params(&net), before);

    let missing = dir.path().join("nope.safetensors");
    let err = load_checkpoint(&mut net, &missing).unwrap_err();
    assert!(matches!(err, CheckpointError::Read { .. }));
    assert!(err.to_string().contains("nope.safetensors"), "{err}");
}

#[test]
fn a_failed_write_names_the_path_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let net = trained_cnn();
    // The target is an existing directory: the rename fails after the temporary file is written.
    let target = dir.path().join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let err = save_checkpoint(&net, &target).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }), "{err:?}");
    assert!(err.to_string().contains("taken"), "{err}");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["taken"]);

    // A missing directory fails before anything is written.
    let err = save_checkpoint(&net, dir.path().join("no/such/dir/model.safetensors")).unwrap_err();
    assert!(matches!(err, CheckpointError::Write { .. }));

    // Overwriting an existing checkpoint replaces it whole.
    let path = dir.path().join("model.safetensors");
    save_checkpoint(&Cnn::<f32>::new(5), &path).unwrap();
    save_checkpoint(&net, &path).unwrap();
    let mut loaded = Cnn::<f32>::new(6);
    load_checkpoint(&mut loaded, &path).unwrap();
    assert_eq!(all_params(&loaded), all_params(&net));
}
