// The SmallCnn of SPEC.md section 5 fits, in f32 and f64, and its output shape can be named.
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, Mode, Network, Tensor, net};

net! {
    pub struct SmallCnn {
        input: Image<32, 32, 3>,
        conv1: Conv2d<3, 16, 3, 1, 1>,
        bn1: BatchNorm2d<16>,
        gelu1: Gelu,
        conv2: Conv2d<16, 32, 3, 2, 0>,
        gelu2: Gelu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc1: Linear<1568, 100>,
        gelu3: Gelu,
        fc2: Linear<100, 20>,
    }
}

fn main() {
    let output: std::marker::PhantomData<<SmallCnn as Network<f32>>::Output> =
        std::marker::PhantomData::<Image<1, 1, 20>>;
    let _ = output;
    let mut net = SmallCnn::<f64>::new(1);
    let scores = net.forward(&Tensor::zeros(2), Mode::Eval);
    assert_eq!(scores.len(), 40);
}
