// A 28x28 image given to a network for 32x32 images.
use constnet::layers::{Conv2d, Flatten, Linear};
use constnet::{Image, Mode, Network, Tensor, net};

net! {
    pub struct Net {
        input: Image<32, 32, 3>,
        conv: Conv2d<3, 4, 3, 1, 1>,
        flatten: Flatten,
        fc: Linear<4096, 10>,
    }
}

fn main() {
    let mut net = Net::<f32>::new(0);
    let images = Tensor::<Image<28, 28, 3>>::zeros(1);
    net.forward(&images, Mode::Eval);
}
