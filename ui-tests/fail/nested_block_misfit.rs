// A misfit inside a nested block: the block's second convolution expects 16 channels but gets 8.
// The error names the outer layer and the inner one.
use constnet::layers::{Conv2d, Flatten, GlobalAvgPool2d, Linear, Relu};
use constnet::{Image, net};

net! {
    pub struct Features {
        conv1: Conv2d<3, 8, 3, 1, 1>,
        relu1: Relu,
        conv2: Conv2d<16, 16, 3, 1, 1>,
        relu2: Relu,
    }
}

net! {
    pub struct Net {
        input: Image<32, 32, 3>,
        features: Features,
        pool: GlobalAvgPool2d,
        flatten: Flatten,
        fc: Linear<16, 10>,
    }
}

fn main() {}
