//! Inference through `&self`: the same bits as `forward(.., Mode::Eval)` for every layer type
//! and the library's models, named activations, predictions, a network shared by threads.
//! (`tests/alloc/inference.rs`: no allocation once the workspace has grown.)

use constnet::layers::{
    AvgPool2d, BatchNorm2d, Conv2d, Conv2dNoBias, Dropout, Flatten, Gelu, GlobalAvgPool2d,
    Identity, LeakyRelu, Linear, MaxPool2d, Relu, Repeat, Residual, ResidualProj, Sigmoid, Tanh,
};
use constnet::models::{LeNet5, ResNet20, SmallCnn, SmallCnnBn};
use constnet::{Float, Image, InferError, Layer, Mode, Network, Shape, Tensor, Workspace, net};

net! {
    /// A branch that keeps 6 channels.
    struct Keep6 {
        conv: Conv2dNoBias<6, 6, 3, 1, 1>,
        bn: BatchNorm2d<6>,
        act: LeakyRelu,
    }
}

net! {
    /// A branch from 6 to 8 channels, stride 2.
    struct Down8 {
        conv: Conv2d<6, 8, 3, 2, 1>,
        act: Sigmoid,
    }
}

net! {
    /// The shortcut of `Down8`.
    struct Proj8 {
        0: Conv2dNoBias<6, 8, 1, 2, 0>,
        1: BatchNorm2d<8>,
    }
}

net! {
    /// Every layer type of the library, combinators included.
    struct Zoo {
        input: Image<12, 12, 3>,
        conv1: Conv2d<3, 6, 3, 1, 1>,        // 12x12x6
        bn1: BatchNorm2d<6>,
        gelu: Gelu,
        stage: Repeat<Residual<Keep6, Relu>, 3>,
        pool: MaxPool2d<2, 2>,               // 6x6x6
        down: ResidualProj<Down8, Proj8, Tanh>, // 3x3x8
        same: Residual<Identity>,
        avg: AvgPool2d<2, 1>,                // 2x2x8
        drop: Dropout = Dropout::new(0.3),
        gap: GlobalAvgPool2d,                // 1x1x8
        flatten: Flatten,
        fc1: Linear<8, 10>,
        relu: Relu,
        fc2: Linear<10, 4>,
    }
}

/// Deterministic inputs in about [-1, 1].
fn inputs<S: Shape, T: Float>(batch: usize, seed: usize) -> Tensor<S, T> {
    let values = (0..batch * S::LEN)
        .map(|i| T::from_f64((((i * 7919 + seed * 104_729) % 2001) as f64 - 1000.0) / 1000.0))
        .collect();
    Tensor::from_vec(batch, values).expect("a whole batch")
}

/// Moves BatchNorm's running statistics away from their initial values (and Dropout's mask
/// state), then checks that `infer_batch` gives the bits of `forward(Eval)`, batch after batch
/// with one workspace (growing and shrinking batches).
fn infer_matches_forward<T: Float, N: Network<T>>(mut net: N) {
    for seed in 0..2 {
        net.forward(&inputs(3, 100 + seed), Mode::Train);
    }
    let mut ws = Workspace::new();
    for (batch, seed) in [(1, 1), (4, 2), (2, 3), (4, 4)] {
        let x = inputs::<N::Input, T>(batch, seed);
        let want = net.forward(&x, Mode::Eval).to_vec();
        let got = net.infer_batch(&x, &mut ws);
        assert_eq!(got.dims()[0], batch);
        assert_eq!(got.as_slice().len(), batch * <N::Output as Shape>::LEN);
        let same = got
            .as_slice()
            .iter()
            .zip(&want)
            .all(|(a, b)| a.to_f64().to_bits() == b.to_f64().to_bits());
        assert!(
            same,
            "batch {batch}: infer {:?} != forward {:?}",
            got.as_slice(),
            want
        );
        assert!(want.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn infer_gives_the_bits_of_forward_in_evaluation() {
    infer_matches_forward(SmallCnn::<f32>::new(1));
    infer_matches_forward(SmallCnnBn::<f32>::new(2));
    infer_matches_forward(LeNet5::<f32>::new(3));
    infer_matches_forward(ResNet20::<20, f32>::new(4));
    infer_matches_forward(Zoo::<f32>::new(5));
    infer_matches_forward(Zoo::<f64>::new(6));
    infer_matches_forward(SmallCnnBn::<f64>::new(7));
}

#[test]
fn scratch_is_two_widest_stages_plus_the_largest_inner_need() {
    // SmallCnn: the widest output before the last layer is conv1's 32x32x16; its head
    // (transparent, a network of its own) needs two buffers of its widest, 7x7x32.
    let need = <SmallCnn as Layer<Image<32, 32, 3>, f32>>::infer_scratch(5);
    assert_eq!(need, 2 * 5 * 32 * 32 * 16 + 2 * 5 * 7 * 7 * 32);
    assert_eq!(SmallCnn::<f32>::new(0).infer_scratch_len(5), need);
    // A single layer needs none; a residual needs its branch's output.
    assert_eq!(<Relu as Layer<Image<4, 4, 2>, f32>>::infer_scratch(3), 0);
    assert_eq!(
        <Residual<Identity> as Layer<Image<4, 4, 2>, f32>>::infer_scratch(3),
        3 * 32
    );
}

#[test]
fn activations_by_name() {
    let net = ResNet20::<20, f32>::new(11);
    let x = inputs::<Image<32, 32, 3>, f32>(2, 5);
    let mut ws = Workspace::new();

    // The stem's convolution, computed directly.
    let mut conv1 = vec![0.0; 2 * 32 * 32 * 16];
    Layer::<Image<32, 32, 3>, f32>::infer(&net.conv1, x.as_slice(), &mut conv1, 2, &mut []);
    let got = net.activation("conv1", &x, &mut ws).unwrap();
    assert_eq!((got.batch, got.shape), (2, [32, 32, 16]));
    assert_eq!(got.values, &conv1[..]);
    assert_eq!(got.sample(1), &conv1[32 * 32 * 16..]);

    // A nested layer: the projection shortcut's convolution of layer2's first block, from
    // layer1's output.
    let layer1 = net
        .activation("layer1", &x, &mut ws)
        .unwrap()
        .values
        .to_vec();
    assert_eq!(layer1.len(), 2 * 32 * 32 * 16);
    let mut projected = vec![0.0; 2 * 16 * 16 * 32];
    Layer::<Image<32, 32, 16>, f32>::infer(
        &net.layer2._0.shortcut._0,
        &layer1,
        &mut projected,
        2,
        &mut [],
    );
    let got = net
        .activation("layer2.0.downsample.0", &x, &mut ws)
        .unwrap();
    assert_eq!(got.shape, [16, 16, 32]);
    assert_eq!(got.values, &projected[..]);

    // A block's name is its output (after the ReLU), not its branch's.
    let block = net
        .activation("layer1.2", &x, &mut ws)
        .unwrap()
        .values
        .to_vec();
    assert_eq!(block, layer1);
    assert!(block.iter().all(|&v| v >= 0.0));

    // The last layer's activation is the output.
    let scores = net.infer_batch(&x, &mut ws).as_slice().to_vec();
    assert_eq!(
        net.activation("fc", &x, &mut ws).unwrap().values,
        &scores[..]
    );

    // A name of a layer inside a transparent part (SmallCnn's head) is the network's own.
    let small = SmallCnn::<f32>::new(1);
    let pooled = small.activation("pool", &x, &mut ws).unwrap();
    assert_eq!(pooled.shape, [7, 7, 32]);

    // Every layer of the summary has an activation of its shape.
    for layer in net.layers() {
        let got = net.activation(&layer.name, &x, &mut ws).unwrap();
        assert_eq!(got.shape, layer.output, "{}", layer.name);
        assert_eq!(got.values.len(), 2 * layer.output.iter().product::<usize>());
    }
}

#[test]
fn an_unknown_layer_name_is_an_error_listing_the_names() {
    let net = SmallCnn::<f32>::new(1);
    let x = inputs::<Image<32, 32, 3>, f32>(1, 1);
    let mut ws = Workspace::new();
    for name in ["conv3", "", "conv1.weight", "head"] {
        let err = net.activation(name, &x, &mut ws).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "no layer named '{name}' (the network has: conv1, gelu1, conv2, gelu2, pool, \
                 flatten, fc1, gelu3, fc2)"
            )
        );
        assert!(matches!(err, InferError::UnknownLayer { .. }));
    }
    // An index written with a leading zero is not the layer's name.
    let resnet = ResNet20::<20, f32>::new(1);
    assert!(resnet.activation("layer1.00", &x, &mut ws).is_err());
}

#[test]
fn predictions_are_the_argmax_and_the_softmax() {
    let net = LeNet5::<f64>::new(2);
    let x = inputs::<Image<28, 28, 1>, f64>(3, 9);
    let mut ws = Workspace::new();
    let scores = net.infer_batch(&x, &mut ws).as_slice().to_vec();
    let mut classes = Vec::new();
    constnet::train::predictions(&scores, 10, &mut classes);
    let predictions = net.predict_batch(&x, &mut ws);
    assert_eq!((predictions.len(), predictions.classes()), (3, 10));
    for (i, p) in predictions.iter().enumerate() {
        let row = &scores[i * 10..(i + 1) * 10];
        assert_eq!(p.class, classes[i]);
        assert_eq!(p.scores, row);
        let total: f64 = row.iter().map(|s| s.exp()).sum();
        for (prob, s) in p.probabilities.iter().zip(row) {
            assert!((prob - s.exp() / total).abs() < 1e-12);
        }
        let top = p.top(3);
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].class, p.class);
        assert!(top[0].probability >= top[1].probability);
        assert!(top[1].probability >= top[2].probability);
        assert_eq!(p.top(50).len(), 10);
    }
    assert!(predictions.get(3).is_none());

    // One image: the same as its row in the batch.
    let one = net.predict(x.sample(2), &mut ws).unwrap();
    assert_eq!(one.scores, &scores[20..30]);
    assert_eq!(one.class, classes[2]);
    let err = net.predict(&x.as_slice()[..100], &mut ws).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the input does not fit the network: a tensor of 1 samples of 28x28x1 needs 784 values, got 100"
    );
}

#[test]
fn a_trained_network_is_shared_by_threads() {
    let mut net = SmallCnnBn::<f32>::new(3);
    Network::forward(&mut net, &inputs(4, 1), Mode::Train);
    let x = inputs::<Image<32, 32, 3>, f32>(3, 2);
    let want = Network::forward(&mut net, &x, Mode::Eval).to_vec();
    let net = &net;
    let results: Vec<Vec<f32>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|t| {
                let x = &x;
                s.spawn(move || {
                    let mut ws = Workspace::new();
                    let mut last = Vec::new();
                    for _ in 0..3 + t {
                        last = net.infer_batch(x, &mut ws).as_slice().to_vec();
                    }
                    last
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results, [want.clone(), want]);
}

/// A batch of evaluation larger than one pass of the inference path (which evaluates a large
/// batch in passes that fit the cache: at most 8 MB of intermediate outputs, and ResNet-20
/// holds more than 64 KB per sample, so 200 samples take at least two passes) gives the bits
/// of `forward(Eval)`, which evaluates the batch in one call.
#[test]
fn a_batch_evaluated_in_several_passes_gives_the_bits_of_one_forward() {
    let mut net = ResNet20::<20, f32>::new(5);
    assert!(net.infer_scratch_len(1) * 4 > 64 * 1024);
    Network::forward(&mut net, &inputs(3, 7), Mode::Train);
    let x = inputs::<Image<32, 32, 3>, f32>(200, 8);
    let want = Network::forward(&mut net, &x, Mode::Eval).to_vec();
    let mut ws = Workspace::new();
    let got = net.infer_batch(&x, &mut ws).as_slice().to_vec();
    assert_eq!(got.len(), want.len());
    let differing = got
        .iter()
        .zip(&want)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    assert_eq!(differing, 0, "of {} values", want.len());
    // The workspace holds one pass's intermediate outputs, not the batch's.
    assert!(ws.len() < net.infer_scratch_len(200), "{} values", ws.len());
}
