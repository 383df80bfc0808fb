// A 4x4 pooling window on a 3x3 map.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<3, 3, 8>,
        pool: MaxPool2d<4, 2>,
    }
}

fn main() {}
