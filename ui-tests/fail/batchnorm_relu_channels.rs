// bn2 (BatchNorm then ReLU, fused) normalises 16 channels, but conv2 gives 32.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2dRelu, Conv2dNoBias};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<32, 32, 3>,
        conv1: Conv2dNoBias<3, 16, 3, 1, 1>,
        bn1: BatchNorm2dRelu<16>,
        conv2: Conv2dNoBias<16, 32, 3, 2, 0>,
        bn2: BatchNorm2dRelu<16>,
    }
}

fn main() {}
