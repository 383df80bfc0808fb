// fc2 expects 100 features, fc1 gives 50.
#![allow(unused_imports)]
use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<7, 7, 32>,
        fc1: Linear<1568, 50>,
        gelu: Gelu,
        fc2: Linear<100, 20>,
    }
}

fn main() {}
