// A 5x5 kernel on a 4x4 map without padding.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<8, 8, 1>,
        pool: MaxPool2d<2, 2>,
        conv: Conv2d<1, 2, 5, 1, 0>,
    }
}

fn main() {}
