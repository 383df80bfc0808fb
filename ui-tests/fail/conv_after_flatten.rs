// A 3x3 convolution after Flatten: the map is 1x1.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<4, 4, 2>,
        flatten: Flatten,
        conv: Conv2d<32, 4, 3, 1, 0>,
    }
}

fn main() {}
