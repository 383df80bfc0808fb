// An input shape with a zero height.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<0, 32, 3>,
        flatten: Flatten,
    }
}

fn main() {}
