//! The notebook's networks, ready to use: [`TestCnn`] (its gradient-check network),
//! [`SmallCnn`] and [`SmallCnnBn`] (the `small_cnn` networks, see `examples/README.md`).

use crate::grad_check::linspace;
use crate::layers::{
    AvgPool2d, BatchNorm2d, BatchNorm2dRelu, Conv2d, Conv2dNoBias, Flatten, Gelu, GlobalAvgPool2d,
    Linear, MaxPool2d, Relu, Repeat, Residual, ResidualProj, Tanh,
};
use crate::{Image, Init, net};

net! {
    /// The notebook's TestCNN: conv-maxpool-flatten-fc on 8x8 RGB images, 5 classes, no activation.
    pub struct TestCnn {
        input: Image<8, 8, 3>,
        /// 3x3 convolution, 3 filters, no padding: 6x6x3.
        conv: Conv2d<3, 3, 3, 1, 0>,
        /// 2x2 max-pooling: 3x3x3.
        pool: MaxPool2d<2, 2>,
        /// Flatten to 27 features.
        flatten: Flatten,
        /// Fully connected, 5 class scores.
        fc: Linear<27, 5>,
    }
}

impl TestCnn<f64> {
    /// The TestCNN of the notebook's forward-pass check: the notebook's initialisation,
    /// then `conv.weight = linspace(-0.7, 0.3, 81)`, `conv.bias = linspace(-0.6, 0.2, 3)`,
    /// `fc.weight = linspace(-0.2, 0.2, 135)`, `fc.bias = linspace(-0.9, 0.1, 5)`.
    pub fn notebook_check() -> Self {
        let mut net = Self::with_init(Init::NOTEBOOK, 1234);
        net.conv.weight = linspace(-0.7, 0.3, 81);
        net.conv.bias = linspace(-0.6, 0.2, 3);
        net.fc.weight = linspace(-0.2, 0.2, 135);
        net.fc.bias = linspace(-0.9, 0.1, 5);
        net
    }
}

net! {
    /// The part that [`SmallCnn`] and [`SmallCnnBn`] share after their convolutions:
    /// max-pooling, flatten, `fc1` (100 units), GELU, `fc2` (20 class scores), from 15x15x32.
    pub struct SmallCnnHead {
        /// 2x2 max-pooling: 7x7x32.
        pool: MaxPool2d<2, 2>,
        /// Flatten to 1568 features.
        flatten: Flatten,
        /// Fully connected, 100 units.
        fc1: Linear<1568, 100>,
        /// GELU.
        gelu3: Gelu,
        /// Fully connected, 20 class scores.
        fc2: Linear<100, 20>,
    }
}

net! {
    /// The notebook's SmallCnn: conv-GELU-conv-GELU-maxpool-fc-GELU-fc on 32x32 RGB images, 20
    /// classes. Its parameters: `conv1.weight` `[3, 3, 3, 16]`, `conv1.bias`, `conv2.weight`
    /// `[3, 3, 16, 32]`, `conv2.bias`, `fc1.weight` `[1568, 100]`, `fc1.bias`, `fc2.weight`
    /// `[100, 20]`, `fc2.bias`.
    pub struct SmallCnn {
        input: Image<32, 32, 3>,
        /// 3x3 convolution, 16 filters, padding 1: 32x32x16.
        conv1: Conv2d<3, 16, 3, 1, 1>,
        /// GELU (tanh approximation).
        gelu1: Gelu,
        /// 3x3 convolution, 32 filters, stride 2: 15x15x32.
        conv2: Conv2d<16, 32, 3, 2, 0>,
        /// GELU.
        gelu2: Gelu,
        /// Pooling and the two fully connected layers (named as this network's own).
        #[transparent]
        head: SmallCnnHead,
    }
}

net! {
    /// [`SmallCnn`] with batch normalisation after each convolution (`bn1`, `bn2`), for the
    /// notebook's BatchNorm analysis; the same head.
    pub struct SmallCnnBn {
        input: Image<32, 32, 3>,
        /// 3x3 convolution, 16 filters, padding 1: 32x32x16.
        conv1: Conv2d<3, 16, 3, 1, 1>,
        /// Batch normalisation of conv1's 16 channels.
        bn1: BatchNorm2d<16>,
        /// GELU (tanh approximation).
        gelu1: Gelu,
        /// 3x3 convolution, 32 filters, stride 2: 15x15x32.
        conv2: Conv2d<16, 32, 3, 2, 0>,
        /// Batch normalisation of conv2's 32 channels.
        bn2: BatchNorm2d<32>,
        /// GELU.
        gelu2: Gelu,
        /// Pooling and the two fully connected layers (named as this network's own).
        #[transparent]
        head: SmallCnnHead,
    }
}

net! {
    /// LeNet-5 (LeCun et al. 1998) for 28x28 grey images such as MNIST, 10 classes: 5x5
    /// convolutions (the first padded to keep 28x28), tanh, 2x2 average pooling, and three fully
    /// connected layers (400 -> 120 -> 84 -> 10).
    pub struct LeNet5 {
        input: Image<28, 28, 1>,
        /// 5x5 convolution, 6 filters, padding 2: 28x28x6.
        conv1: Conv2d<1, 6, 5, 1, 2>,
        /// Tanh.
        tanh1: Tanh,
        /// 2x2 average pooling: 14x14x6.
        pool1: AvgPool2d<2, 2>,
        /// 5x5 convolution, 16 filters: 10x10x16.
        conv2: Conv2d<6, 16, 5, 1, 0>,
        /// Tanh.
        tanh2: Tanh,
        /// 2x2 average pooling: 5x5x16.
        pool2: AvgPool2d<2, 2>,
        /// Flatten to 400 features.
        flatten: Flatten,
        /// Fully connected, 120 units.
        fc1: Linear<400, 120>,
        /// Tanh.
        tanh3: Tanh,
        /// Fully connected, 84 units.
        fc2: Linear<120, 84>,
        /// Tanh.
        tanh4: Tanh,
        /// Fully connected, 10 class scores.
        fc3: Linear<84, 10>,
    }
}

net! {
    /// The branch of a ResNet basic block: 3x3 convolution (stride `S`) without bias, BatchNorm,
    /// ReLU, 3x3 convolution without bias, BatchNorm; `IN` to `OUT` channels.
    pub struct BasicBranch<const IN: usize, const OUT: usize, const S: usize> {
        /// 3x3 convolution with stride `S`, padding 1.
        conv1: Conv2dNoBias<IN, OUT, 3, S, 1>,
        /// BatchNorm, then ReLU (fused: one pass over memory).
        bn1: BatchNorm2dRelu<OUT>,
        /// 3x3 convolution, padding 1.
        conv2: Conv2dNoBias<OUT, OUT, 3, 1, 1>,
        /// BatchNorm.
        bn2: BatchNorm2d<OUT>,
    }
}

net! {
    /// A ResNet projection shortcut: 1x1 convolution with stride `S`, no bias, then BatchNorm
    /// (named `0` and `1`, as torchvision's `downsample`).
    pub struct Downsample<const IN: usize, const OUT: usize, const S: usize> {
        /// 1x1 convolution with stride `S`.
        0: Conv2dNoBias<IN, OUT, 1, S, 0>,
        /// BatchNorm.
        1: BatchNorm2d<OUT>,
    }
}

/// A ResNet basic block that keeps `C` channels: `relu(branch(x) + x)` (He et al. 2016).
pub type BasicBlock<const C: usize, T = f32> = Residual<BasicBranch<C, C, 1, T>, Relu<T>, T>;

/// A ResNet basic block from `IN` to `OUT` channels with stride `S`:
/// `relu(branch(x) + downsample(x))`.
pub type DownBlock<const IN: usize, const OUT: usize, const S: usize, T = f32> =
    ResidualProj<BasicBranch<IN, OUT, S, T>, Downsample<IN, OUT, S, T>, Relu<T>, T>;

net! {
    /// A stage of the CIFAR ResNet-20 that halves the resolution: a [`DownBlock`] from `IN` to
    /// `OUT` channels with stride 2, then two [`BasicBlock`]s.
    pub struct DownStage<const IN: usize, const OUT: usize> {
        /// `IN` to `OUT` channels, stride 2, projection shortcut.
        0: DownBlock<IN, OUT, 2>,
        /// Identity shortcut.
        1: BasicBlock<OUT>,
        /// Identity shortcut.
        2: BasicBlock<OUT>,
    }
}

net! {
    /// ResNet-20 for 32x32 RGB images (He et al. 2016, section 4.2: the CIFAR ResNet, here with
    /// projection shortcuts): a 3x3 convolution to 16 channels, three stages of three basic
    /// blocks (16, 32 and 64 channels; 32x32, 16x16, 8x8), global average pooling and a linear
    /// layer to `CLASSES` scores. Parameter names as torchvision's ResNet (`conv1.weight`,
    /// `layer2.0.downsample.0.weight`, `fc.bias`, ...); 273,124 trained parameters at 20 classes.
    ///
    /// ```
    /// use constnet::models::ResNet20;
    /// use constnet::Network;
    /// let net = ResNet20::<20>::new(0);
    /// assert_eq!(net.num_params(), 273_124);
    /// assert!(net.param("layer2.0.downsample.1.running_var").is_some());
    /// ```
    pub struct ResNet20<const CLASSES: usize> {
        input: Image<32, 32, 3>,
        /// 3x3 convolution to 16 channels, no bias.
        conv1: Conv2dNoBias<3, 16, 3, 1, 1>,
        /// BatchNorm, then ReLU (fused).
        bn1: BatchNorm2dRelu<16>,
        /// Three basic blocks, 16 channels, 32x32.
        layer1: Repeat<BasicBlock<16>, 3>,
        /// 16 to 32 channels, 16x16.
        layer2: DownStage<16, 32>,
        /// 32 to 64 channels, 8x8.
        layer3: DownStage<32, 64>,
        /// Global average pooling: 1x1x64.
        avgpool: GlobalAvgPool2d,
        /// Flatten to 64 features.
        flatten: Flatten,
        /// Fully connected, `CLASSES` scores.
        fc: Linear<64, CLASSES>,
    }
}

// `cargo check` evaluates the fit of the ResNet-20 that the programs train.
const _: () = ResNet20::<20>::CHECK;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Network;
    use crate::grad_check::check_composed;

    net! {
        /// A small residual network: stem, an identity block, a projection block, head.
        struct TinyResNet {
            input: Image<6, 6, 2>,
            conv1: Conv2dNoBias<2, 4, 3, 1, 1>,
            bn1: BatchNorm2d<4>,
            relu: Relu,
            layer1: Repeat<BasicBlock<4>, 2>,
            layer2: DownBlock<4, 6, 2>,
            avgpool: GlobalAvgPool2d,
            flatten: Flatten,
            fc: Linear<6, 3>,
        }
    }

    #[test]
    fn lenet5_takes_28x28_grey_images_to_10_scores() {
        use crate::{Mode, Tensor};
        let mut net = LeNet5::<f32>::new(0);
        // 156 + 2,416 + 48,120 + 10,164 + 850, as PyTorch's LeNet-5 with padding 2
        assert_eq!(net.num_params(), 61_706);
        let scores = net.forward(&Tensor::<Image<28, 28, 1>>::zeros(3), Mode::Eval);
        assert_eq!(scores.len(), 3 * 10);
        assert!(scores.iter().all(|s| s.is_finite()));
    }

    #[test]
    fn a_small_residual_network_has_the_right_gradients() {
        // ReLU's kink: a step of the central difference that crosses 0 in one of the many
        // ReLU inputs shifts the numerical gradient slightly, hence 1e-5 rather than 1e-6
        // (a wrong gradient gives an error near 1).
        check_composed::<Image<6, 6, 2>, TinyResNet<f64>>(3, 11, 1e-5);
    }

    #[test]
    fn parameter_names_and_shapes_are_the_spec_s() {
        let net = SmallCnn::<f32>::new(0);
        let mut got = Vec::new();
        net.params(&mut |layer, p| got.push((format!("{layer}.{}", p.name), p.shape.to_vec())));
        let want: Vec<(String, Vec<usize>)> = [
            ("conv1.weight", vec![3, 3, 3, 16]),
            ("conv1.bias", vec![16]),
            ("conv2.weight", vec![3, 3, 16, 32]),
            ("conv2.bias", vec![32]),
            ("fc1.weight", vec![1568, 100]),
            ("fc1.bias", vec![100]),
            ("fc2.weight", vec![100, 20]),
            ("fc2.bias", vec![20]),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
        assert_eq!(got, want);
        let bn = SmallCnnBn::<f32>::new(0).param_names();
        for name in [
            "bn1.weight",
            "bn1.bias",
            "bn1.running_mean",
            "bn1.running_var",
            "bn2.weight",
        ] {
            assert!(bn.iter().any(|n| n == name), "{name} missing from {bn:?}");
        }
    }
}
