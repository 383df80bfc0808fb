// A pooling with stride 0.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<8, 8, 3>,
        pool: MaxPool2d<2, 0>,
    }
}

fn main() {}
