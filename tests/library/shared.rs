//! What several modules train on: a tiny CNN with BatchNorm and 4x4 images of bars.

use constnet::layers::{BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::{Image, net};

net! {
    /// A tiny CNN on 4x4 grey images, with BatchNorm: its buffers (running statistics) must be
    /// trained, saved and resumed too.
    pub struct TinyCnn {
        input: Image<4, 4, 1>,
        conv: Conv2d<1, 4, 3, 1, 1>,
        bn: BatchNorm2d<4>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<16, 2>,
    }
}

/// 4x4 images: class 0 has a bright vertical bar, class 1 a horizontal one, at varying places.
pub fn bars(n: usize) -> (Vec<f32>, Vec<usize>) {
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 2;
        let at = (i / 2) % 4;
        for h in 0..4 {
            for w in 0..4 {
                let on = if class == 0 { w == at } else { h == at };
                let noise = ((i * 16 + h * 4 + w) as f32 * 0.77).sin() * 0.1;
                images.push(if on { 1.0 } else { 0.0 } + noise);
            }
        }
        labels.push(class);
    }
    (images, labels)
}
