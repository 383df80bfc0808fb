// A convolution with 0 filters.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<8, 8, 3>,
        conv: Conv2d<3, 0, 3, 1, 1>,
    }
}

fn main() {}
