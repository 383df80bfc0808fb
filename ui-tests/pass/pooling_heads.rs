// Average pooling, a global-average-pooling head feeding `Linear` directly (1x1x16 is 16
// features), Sigmoid and Tanh fit, in f32 and f64, and train: forward and backward run.
use constnet::layers::{AvgPool2d, Conv2d, GlobalAvgPool2d, Linear, Sigmoid, Tanh};
use constnet::{Image, Mode, Network, Tensor, net};

net! {
    pub struct Net {
        input: Image<12, 12, 3>,
        conv1: Conv2d<3, 8, 3, 1, 1>,   // 12x12x8
        tanh: Tanh,
        pool: AvgPool2d<3, 2>,          // 5x5x8
        conv2: Conv2d<8, 16, 3, 1, 0>,  // 3x3x16
        sigmoid: Sigmoid,
        gap: GlobalAvgPool2d,           // 1x1x16
        fc: Linear<16, 10>,
    }
}

fn main() {
    let output: std::marker::PhantomData<<Net as Network<f32>>::Output> =
        std::marker::PhantomData::<Image<1, 1, 10>>;
    let _ = output;
    let mut net = Net::<f64>::new(1);
    let scores = net.forward(&Tensor::zeros(2), Mode::Train).to_vec();
    assert_eq!(scores.len(), 20);
    net.backward(&[1.0; 20]);
    let mut net = Net::<f32>::new(1);
    assert_eq!(net.forward(&Tensor::zeros(3), Mode::Eval).len(), 30);
}
