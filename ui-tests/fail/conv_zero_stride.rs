// A convolution with stride 0.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<8, 8, 3>,
        conv: Conv2d<3, 4, 3, 0, 1>,
    }
}

fn main() {}
