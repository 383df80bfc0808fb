// A residual block whose branch has stride 2 and 32 filters: 16x16x32 cannot be added to the
// 32x32x16 input.
use constnet::layers::{BatchNorm2d, Conv2dNoBias, Repeat, Relu, Residual};
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
    pub struct Stage {
        0: Residual<Branch<16, 16, 1>, Relu>,
        1: Residual<Branch<16, 32, 2>, Relu>,
    }
}

net! {
    pub struct Net {
        input: Image<32, 32, 16>,
        layer1: Repeat<Residual<Branch<16, 16, 1>, Relu>, 2>,
        layer2: Stage,
    }
}

fn main() {}
