// A block generic over its sizes, used twice: the second use does not fit what the first gives.
use constnet::layers::{BatchNorm2d, Conv2dNoBias, Relu};
use constnet::{Image, net};

net! {
    pub struct ConvBn<const IN: usize, const OUT: usize, const S: usize> {
        conv: Conv2dNoBias<IN, OUT, 3, S, 1>,
        bn: BatchNorm2d<OUT>,
        relu: Relu,
    }
}

net! {
    pub struct Net {
        input: Image<32, 32, 3>,
        stem: ConvBn<3, 16, 1>,
        down: ConvBn<32, 64, 2>,
    }
}

fn main() {}
