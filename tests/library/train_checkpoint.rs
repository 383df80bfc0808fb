//! Safetensors checkpoints: round trip, architecture mismatches, damaged files, atomic writes.

use constnet::data::Normalization;
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::safetensors::{Dtype, TensorView, serialize};
use constnet::train::{
    CheckpointError, CheckpointInfo, load_checkpoint, load_checkpoint_with_info,
    read_checkpoint_info, save_checkpoint, save_checkpoint_with_info,
};
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

net! {
    /// A square linear layer: the same shape in PyTorch's layout and ours.
    struct Square {
        input: Image<1, 1, 3>,
        fc: Linear<3, 3>,
    }
}

#[test]
fn metadata_round_trips_and_a_plain_checkpoint_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let info = CheckpointInfo {
        model: Some("small-cnn".into()),
        // Commas, a line feed, backslashes (also before an n), an empty name, non-ASCII.
        class_names: vec![
            "aquatic mammals, fish".into(),
            "two\nlines".into(),
            "back\\slash \\n".into(),
            String::new(),
            "Größe \"quoted\"".into(),
        ],
        normalization: Some(
            Normalization::new(vec![0.1 + 0.2, 1e-300, 0.5], vec![1.0 / 3.0, 0.25, 7.0]).unwrap(),
        ),
    };
    let saved = trained_cnn();
    save_checkpoint_with_info(&saved, &info, &path).unwrap();
    assert_eq!(read_checkpoint_info(&path).unwrap(), info);
    let mut loaded = Cnn::<f32>::new(1);
    assert_eq!(load_checkpoint_with_info(&mut loaded, &path).unwrap(), info);
    assert_eq!(all_params(&loaded), all_params(&saved));

    // The keys as documented, readable by the reference implementation.
    let bytes = std::fs::read(&path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = meta.metadata().clone().unwrap();
    assert_eq!(meta["layout"], "constnet-nhwc");
    assert_eq!(meta["input"], "4,4,2");
    assert_eq!(meta["model"], "small-cnn");
    assert_eq!(meta["normalization_mean"], "0.30000000000000004,1e-300,0.5");
    assert_eq!(
        meta["class_names"],
        "aquatic mammals, fish\ntwo\\nlines\nback\\\\slash \\\\n\n\nGröße \"quoted\""
    );

    save_checkpoint(&saved, &path).unwrap();
    assert_eq!(
        read_checkpoint_info(&path).unwrap(),
        CheckpointInfo::default()
    );
}

#[test]
fn a_file_without_the_layout_tag_is_an_error_even_for_a_square_linear() {
    // A PyTorch state_dict of nn.Linear(3, 3): weight [OUT][IN], the shape ours has too.
    let weight: Vec<u8> = (0..9).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let bias: Vec<u8> = [0.5f32; 3].iter().flat_map(|v| v.to_le_bytes()).collect();
    let tensors = || {
        [
            TensorView {
                name: "fc.weight",
                dtype: Dtype::F32,
                shape: &[3, 3],
                data: &weight,
            },
            TensorView {
                name: "fc.bias",
                dtype: Dtype::F32,
                shape: &[3],
                data: &bias,
            },
        ]
    };
    let dir = tempfile::tempdir().unwrap();
    let untagged = dir.path().join("torch.safetensors");
    std::fs::write(&untagged, serialize(tensors(), &[]).unwrap()).unwrap();
    let other = dir.path().join("other.safetensors");
    std::fs::write(&other, serialize(tensors(), &[("layout", "nchw")]).unwrap()).unwrap();

    let mut net = Square::<f32>::new(1);
    let before = all_params(&net);
    let err = load_checkpoint(&mut net, &untagged).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Layout { found: None, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    for part in [
        "torch.safetensors",
        "no \"layout\": \"constnet-nhwc\" tag",
        "constnet::torch::load_state_dict",
    ] {
        assert!(message.contains(part), "{part:?} not in {message}");
    }
    assert_eq!(all_params(&net), before);
    assert!(matches!(
        read_checkpoint_info(&untagged),
        Err(CheckpointError::Layout { found: None, .. })
    ));

    let err = load_checkpoint(&mut net, &other).unwrap_err();
    assert!(
        matches!(&err, CheckpointError::Layout { found: Some(f), .. } if f == "nchw"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("says \"layout\": \"nchw\""),
        "{err}"
    );
    assert_eq!(all_params(&net), before);
}

net! {
    /// `Square` on another input shape, with the same parameters.
    struct SquareWide {
        input: Image<1, 3, 1>,
        fc: Linear<3, 3>,
    }
}

#[test]
fn another_input_shape_is_an_error_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_checkpoint(&Square::<f32>::new(1), &path).unwrap();
    let mut net = SquareWide::<f32>::new(2);
    let err = load_checkpoint(&mut net, &path).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Input {
                expected: [1, 3, 1],
                found: [1, 1, 3],
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("the checkpoint is for 1x1x3 inputs, but the network takes 1x3x1"),
        "{err}"
    );
}
