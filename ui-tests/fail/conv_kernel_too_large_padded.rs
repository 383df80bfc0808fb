// A 7x7 kernel on a 4x4 map with padding 1 (6x6).
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<4, 4, 2>,
        conv: Conv2d<2, 2, 7, 1, 1>,
    }
}

fn main() {}
