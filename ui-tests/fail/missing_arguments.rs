// Two arguments of a convolution left out: one error, at the layer.
use constnet::layers::{Flatten, Linear};
use constnet::{Image, net};
use constnet::layers::Conv2d;

net! {
    pub struct Net {
        input: Image<8, 8, 3>,
        c: Conv2d<3, 8, 3>,
        flatten: Flatten,
        fc: Linear<288, 10>,
    }
}

fn main() {}
