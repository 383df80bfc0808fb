//! Inference through `&self` allocates nothing once the workspace has grown to the largest
//! batch.

use crate::counting_alloc;
use constnet::models::SmallCnnBn;
use constnet::{Image, Network, Tensor, Workspace};

fn inputs(batch: usize, seed: usize) -> Tensor<Image<32, 32, 3>> {
    let values = (0..batch * 32 * 32 * 3)
        .map(|i| (((i * 7919 + seed * 104_729) % 2001) as f32 - 1000.0) / 1000.0)
        .collect();
    Tensor::from_vec(batch, values).expect("a whole batch")
}

#[test]
fn inference_allocates_nothing_once_the_workspace_has_grown() {
    let _turn = counting_alloc::one_at_a_time();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("a thread pool");
    let net = SmallCnnBn::<f32>::new(4);
    let big = inputs(6, 1);
    let small = inputs(2, 2);
    pool.install(|| {
        let mut ws = Workspace::new();
        net.predict_batch(&big, &mut ws);
        net.activation("conv2", &big, &mut ws).unwrap();
        // A second round warms up the rayon workers' deques.
        net.predict_batch(&big, &mut ws);
        let held = ws.len();
        let before = counting_alloc::allocations();
        for x in [&small, &big, &small] {
            let classes: usize = net.predict_batch(x, &mut ws).iter().map(|p| p.class).sum();
            std::hint::black_box(classes);
            std::hint::black_box(net.infer_batch(x, &mut ws).as_slice()[0]);
            std::hint::black_box(net.predict(x.sample(0), &mut ws).unwrap().class);
        }
        let after = counting_alloc::allocations();
        assert_eq!(after - before, 0, "allocations in 9 inferences");
        assert_eq!(ws.len(), held);
        // The counter does count: a fresh vector is one allocation.
        let v = std::hint::black_box(vec![1u8; 10]);
        assert!(counting_alloc::allocations() > after);
        drop(v);
    });
}
