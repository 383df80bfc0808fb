// Blocks with const parameters, nested in a generic network, reused with different sizes.
#![deny(warnings)]
use constnet::layers::{BatchNorm2d, Conv2dNoBias, Flatten, GlobalAvgPool2d, Linear, Relu, Repeat};
use constnet::models::{BasicBlock, DownBlock, ResNet20};
use constnet::{Image, Mode, Network, Tensor, net};

net! {
    pub struct Tiny<const CLASSES: usize> {
        input: Image<16, 16, 3>,
        stem: Conv2dNoBias<3, 8, 3, 1, 1>,
        bn: BatchNorm2d<8>,
        relu: Relu,
        blocks: Repeat<BasicBlock<8>, 2>,
        down: DownBlock<8, 16, 2>,
        pool: GlobalAvgPool2d,
        flatten: Flatten,
        fc: Linear<16, CLASSES>,
    }
}

const _: () = Tiny::<5>::CHECK;
const _: () = ResNet20::<100>::CHECK;

fn main() {
    let mut net = Tiny::<5, f64>::new(1);
    let y = net.forward(&Tensor::<Image<16, 16, 3>, f64>::zeros(2), Mode::Train);
    assert_eq!(y.len(), 10);
    assert!(net.param("down.downsample.0.weight").is_some());
}
