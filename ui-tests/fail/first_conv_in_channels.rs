// The first layer expects grey images (1 channel), the input is RGB.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<28, 28, 3>,
        conv: Conv2d<1, 8, 3, 1, 1>,
    }
}

fn main() {}
