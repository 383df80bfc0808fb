// A residual block whose branch turns 16 channels into 32: the identity shortcut cannot be added.
use constnet::layers::{BatchNorm2d, Conv2dNoBias, Relu, Residual};
use constnet::{Image, net};

net! {
    pub struct Branch<const IN: usize, const OUT: usize, const S: usize> {
        conv1: Conv2dNoBias<IN, OUT, 3, S, 1>,
        bn1: BatchNorm2d<OUT>,
        relu: Relu,
        conv2: Conv2dNoBias<OUT, OUT, 3, 1, 1>,
        bn2: BatchNorm2d<OUT>,
    }
}

net! {
    pub struct Net {
        input: Image<32, 32, 16>,
        block: Residual<Branch<16, 32, 1>, Relu>,
    }
}

fn main() {}
