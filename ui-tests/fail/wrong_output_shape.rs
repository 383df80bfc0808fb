// The network's output shape is a concrete type: naming it wrong is an error in plain numbers.
use constnet::layers::{Flatten, Linear};
use constnet::{Image, Network, net};
use std::marker::PhantomData;

net! {
    pub struct Net {
        input: Image<2, 2, 3>,
        flatten: Flatten,
        fc: Linear<12, 5>,
    }
}

fn main() {
    let _: PhantomData<<Net as Network<f32>>::Output> = PhantomData::<Image<1, 1, 6>>;
}
