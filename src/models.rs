//! The notebook's networks, ready to use: [`TestCnn`] (its gradient-check network),
//! [`SmallCnn`] and [`SmallCnnBn`] (the `small_cnn` networks, see `examples/README.md`).

use crate::grad_check::linspace;
use crate::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use crate::{Float, Image, Init, net};

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
    /// The notebook's SmallCnn: conv-GELU-conv-GELU-maxpool-fc-GELU-fc on 32x32 RGB images, 20
    /// classes.
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
    /// [`SmallCnn`] with batch normalisation after each convolution (`bn1`, `bn2`), for the
    /// notebook's BatchNorm analysis.
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

/// Access to a network's first convolution (`conv1`), for the filter and feature-map pictures.
pub trait FirstConv<T: Float> {
    /// The first convolution layer.
    fn conv1(&mut self) -> &mut Conv2d<3, 16, 3, 1, 1, T>;
}

impl<T: Float> FirstConv<T> for SmallCnn<T> {
    fn conv1(&mut self) -> &mut Conv2d<3, 16, 3, 1, 1, T> {
        &mut self.conv1
    }
}

impl<T: Float> FirstConv<T> for SmallCnnBn<T> {
    fn conv1(&mut self) -> &mut Conv2d<3, 16, 3, 1, 1, T> {
        &mut self.conv1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Network;

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
