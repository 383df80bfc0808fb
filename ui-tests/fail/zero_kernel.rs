// A convolution with a 0x0 kernel.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<8, 8, 3>,
        conv: Conv2d<3, 4, 0, 1, 0>,
    }
}

fn main() {}
