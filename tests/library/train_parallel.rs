//! The data-parallel hook: one replica gives the same bits as no exchange, replicas simulated
//! by threads give the loss curve of one process, and a failure on one replica stops all.

use constnet::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use constnet::train::{
    GradientSync, History, OptimizerKind, Regularization, Samples, SingleProcess, SyncError,
    TrainConfig, TrainError, train_net_parallel, train_net_with,
};
use constnet::{Image, Network, net};
use std::sync::{Arc, Barrier, Mutex};

use crate::shared::bars;

net! {
    /// A tiny CNN without BatchNorm (local batch statistics would differ from the global ones).
    struct TinyCnn {
        input: Image<4, 4, 1>,
        conv: Conv2d<1, 4, 3, 1, 1>,
        relu: Relu,
        pool: MaxPool2d<2, 2>,
        flatten: Flatten,
        fc: Linear<16, 2>,
    }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 3,
        batch_size: 9, // not divisible by 2: the replicas' slices differ in size
        learning_rate: 0.01,
        optimizer: OptimizerKind::Adam,
        regularization: Regularization::L2,
        reg_lambda: 0.001,
        ..TrainConfig::default()
    }
}

fn params(net: &TinyCnn<f32>) -> Vec<f32> {
    let mut all = Vec::new();
    net.params(&mut |_, p| all.extend_from_slice(p.value));
    all
}

fn without_times(mut h: History) -> History {
    for e in &mut h.epochs {
        (e.seconds, e.train_images_per_sec, e.sync_seconds) = (0.0, 0.0, 0.0);
    }
    h
}

#[test]
fn one_replica_gives_the_bits_of_no_exchange() {
    let (images, labels) = bars(60);
    let (val_images, val_labels) = bars(20);
    let (train, val) = (
        Samples::new(&images, &labels),
        Samples::new(&val_images, &val_labels),
    );
    let mut plain = TinyCnn::<f32>::new(5);
    let a = train_net_with(&mut plain, train, val, &config(), &mut ()).unwrap();
    let mut synced = TinyCnn::<f32>::new(5);
    let b = train_net_parallel(
        &mut synced,
        train,
        val,
        &config(),
        &mut (),
        &mut SingleProcess,
    )
    .unwrap();
    assert_eq!(without_times(a), without_times(b));
    let (pa, pb) = (params(&plain), params(&synced));
    assert!(pa.iter().zip(&pb).all(|(x, y)| x.to_bits() == y.to_bits()));
}

/// Replicas as threads: each puts its values in its slot, and every one sums the slots in rank
/// order (so all get the same bits).
struct ThreadSum {
    rank: usize,
    replicas: usize,
    slots: Arc<Mutex<Vec<Vec<f64>>>>,
    barrier: Arc<Barrier>,
    /// Fail at this call (a broken link), after taking part in it.
    fail_at: Option<usize>,
    calls: usize,
}

impl ThreadSum {
    fn group(replicas: usize) -> Vec<ThreadSum> {
        let slots = Arc::new(Mutex::new(vec![Vec::new(); replicas]));
        let barrier = Arc::new(Barrier::new(replicas));
        (0..replicas)
            .map(|rank| ThreadSum {
                rank,
                replicas,
                slots: slots.clone(),
                barrier: barrier.clone(),
                fail_at: None,
                calls: 0,
            })
            .collect()
    }

    fn sum(&mut self, values: &mut [f64]) -> Result<(), SyncError> {
        self.calls += 1;
        self.slots.lock().unwrap()[self.rank] = values.to_vec();
        self.barrier.wait();
        {
            let slots = self.slots.lock().unwrap();
            for (i, v) in values.iter_mut().enumerate() {
                *v = slots.iter().map(|s| s[i]).fold(0.0, |a, b| a + b);
            }
        }
        self.barrier.wait();
        if self.fail_at == Some(self.calls) {
            return Err(SyncError::new("link down"));
        }
        Ok(())
    }
}

impl GradientSync for ThreadSum {
    fn rank(&self) -> usize {
        self.rank
    }
    fn replicas(&self) -> usize {
        self.replicas
    }
    fn all_reduce_sum_f32(&mut self, values: &mut [f32]) -> Result<(), SyncError> {
        let mut wide: Vec<f64> = values.iter().map(|&v| v as f64).collect();
        self.sum(&mut wide)?;
        for (v, w) in values.iter_mut().zip(wide) {
            *v = w as f32;
        }
        Ok(())
    }
    fn all_reduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), SyncError> {
        self.sum(values)
    }
}

/// Trains one replica per thread; returns each one's result and parameters.
fn replicated(
    syncs: Vec<ThreadSum>,
    images: &[f32],
    labels: &[usize],
    val: Samples<'_, f32>,
) -> Vec<(Result<History, TrainError>, Vec<f32>)> {
    std::thread::scope(|s| {
        let handles: Vec<_> = syncs
            .into_iter()
            .map(|mut sync| {
                s.spawn(move || {
                    let mut net = TinyCnn::<f32>::new(5);
                    let train = Samples::new(images, labels);
                    let h = train_net_parallel(&mut net, train, val, &config(), &mut (), &mut sync);
                    (h, params(&net))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

#[test]
fn two_replicas_follow_the_loss_curve_of_one_process() {
    let (images, labels) = bars(60);
    let (val_images, val_labels) = bars(20);
    let val = Samples::new(&val_images, &val_labels);
    let mut net = TinyCnn::<f32>::new(5);
    let one = train_net_with(
        &mut net,
        Samples::new(&images, &labels),
        val,
        &config(),
        &mut (),
    )
    .unwrap();

    let results = replicated(ThreadSum::group(2), &images, &labels, val);
    let (h0, p0) = (results[0].0.clone().unwrap(), &results[0].1);
    let (h1, p1) = (results[1].0.clone().unwrap(), &results[1].1);
    // Every replica has the same bits.
    assert_eq!(without_times(h0.clone()), without_times(h1));
    assert!(p0.iter().zip(p1).all(|(x, y)| x.to_bits() == y.to_bits()));
    // And the loss curve of one process.
    assert_eq!(h0.loss_per_iteration.len(), one.loss_per_iteration.len());
    for (i, (a, b)) in h0
        .loss_per_iteration
        .iter()
        .zip(&one.loss_per_iteration)
        .enumerate()
    {
        assert!((a - b).abs() <= 1e-4 * b.abs(), "iteration {i}: {a} vs {b}");
    }
    assert!(h0.epochs.iter().all(|e| e.sync_seconds > 0.0));
    for (a, b) in h0.epochs.iter().zip(&one.epochs) {
        assert!((a.val_acc - b.val_acc).abs() <= 1.0 / 20.0);
    }
}

#[test]
fn a_bad_label_on_one_replica_stops_both() {
    let (images, mut labels) = bars(60);
    labels[7] = 5; // in replica 1's slice of the first batch (samples 4..9), without shuffling
    let (val_images, val_labels) = bars(20);
    let val = Samples::new(&val_images, &val_labels);
    let syncs = ThreadSum::group(2);
    let results = std::thread::scope(|s| {
        let handles: Vec<_> = syncs
            .into_iter()
            .map(|mut sync| {
                let (images, labels) = (&images, &labels);
                s.spawn(move || {
                    let mut net = TinyCnn::<f32>::new(5);
                    let config = TrainConfig {
                        shuffle: false,
                        ..config()
                    };
                    let train = Samples::new(images, labels);
                    train_net_parallel(&mut net, train, val, &config, &mut (), &mut sync)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect::<Vec<_>>()
    });
    match &results[0] {
        Err(TrainError::Sync {
            epoch: 1,
            iteration: 1,
            source,
        }) => assert!(source.message.contains("another replica")),
        other => panic!("replica 0: {other:?}"),
    }
    assert!(matches!(
        results[1],
        Err(TrainError::Loss {
            epoch: 1,
            iteration: 1,
            ..
        })
    ));
}

#[test]
fn a_broken_exchange_stops_with_its_error() {
    let (images, labels) = bars(60);
    let (val_images, val_labels) = bars(20);
    let val = Samples::new(&val_images, &val_labels);
    let mut syncs = ThreadSum::group(2);
    for s in &mut syncs {
        s.fail_at = Some(3);
    }
    for (result, _) in replicated(syncs, &images, &labels, val) {
        match result {
            Err(TrainError::Sync {
                epoch: 1,
                iteration: 3,
                source,
            }) => assert_eq!(source.message, "link down"),
            other => panic!("{other:?}"),
        }
    }
}
