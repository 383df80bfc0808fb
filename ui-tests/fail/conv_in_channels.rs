// conv2 expects 15 input channels, but conv1 gives 16.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<32, 32, 3>,
        conv1: Conv2d<3, 16, 3, 1, 1>,
        gelu1: Gelu,
        conv2: Conv2d<15, 32, 3, 2, 0>,
        gelu2: Gelu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc1: Linear<1568, 100>,
        gelu3: Gelu,
        fc2: Linear<100, 20>,
    }
}

fn main() {}
