// One number changed in the SmallCnn: fc1 expects 1567 features, but 7x7x32 = 1568 arrive.
use constnet::layers::{Conv2d, Flatten, Gelu, Linear, MaxPool2d};
use constnet::{Image, net};

net! {
    pub struct SmallCnn {
        input: Image<32, 32, 3>,
        conv1: Conv2d<3, 16, 3, 1, 1>,
        gelu1: Gelu,
        conv2: Conv2d<16, 32, 3, 2, 0>,
        gelu2: Gelu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc1: Linear<1567, 100>,
        gelu3: Gelu,
        fc2: Linear<100, 20>,
    }
}

fn main() {}
