// A 4x4 average-pooling window on the 3x3 map a convolution leaves.
use constnet::layers::{AvgPool2d, Conv2d, Relu};
use constnet::{Image, net};

net! {
    pub struct Net {
        input: Image<7, 7, 3>,
        conv: Conv2d<3, 8, 3, 2, 0>,
        relu: Relu,
        pool: AvgPool2d<4, 2>,
    }
}

fn main() {}
