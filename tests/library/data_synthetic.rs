//! The synthetic data set, mini-batch helpers and label noise.

use constnet::data::{
    DataSource, Dataset, SyntheticConfig, add_label_noise, epoch_order, fill_epoch_order, synthetic,
};
use rand::{SeedableRng, rngs::StdRng};

fn small(seed: u64) -> SyntheticConfig {
    SyntheticConfig {
        train: 400,
        val: 100,
        test: 60,
        seed,
    }
}

#[test]
fn default_sizes_and_shapes() {
    let c = SyntheticConfig::default();
    assert_eq!((c.train, c.val, c.test, c.seed), (4000, 1000, 1000, 0));
    let s = synthetic(&c);
    for (d, n) in [(&s.train, 4000), (&s.val, 1000), (&s.test, 1000)] {
        assert_eq!(d.len(), n);
        assert_eq!(d.images.len(), n * <Dataset>::IMAGE_LEN);
        assert_eq!(d.num_classes, 20);
        assert!(d.labels.iter().all(|&l| l < 20));
        assert!(d.images.iter().all(|v| v.is_finite()));
    }
    assert_eq!(s.label_names.len(), 20);
    assert!(s.label_names.iter().all(|n| n.starts_with("synthetic")));
    assert_eq!(s.source, DataSource::Synthetic);
    assert!(s.source.is_synthetic());
    assert_eq!(s.source.name(), "synthetic");
    assert_eq!(s.source.dir(), None);
    assert!(s.summary().contains("synthetic"));
    assert!(s.source.to_string().contains("not CIFAR-100"));
}

#[test]
fn deterministic_for_a_seed() {
    let a = synthetic(&small(3));
    let b = synthetic(&small(3));
    assert_eq!(a.train, b.train);
    assert_eq!(a.val, b.val);
    assert_eq!(a.test, b.test);
    assert_eq!(a.channel_mean(), b.channel_mean());
    assert_eq!(a.channel_std(), b.channel_std());
    // the same on one thread
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let c = pool.install(|| synthetic(&small(3)));
    assert_eq!(a.train, c.train);
    assert_eq!(a.channel_mean(), c.channel_mean());
}

#[test]
fn different_for_another_seed() {
    let a = synthetic(&small(3));
    let b = synthetic(&small(4));
    assert_ne!(a.train.images, b.train.images);
    assert_ne!(a.train.labels, b.train.labels);
    // splits differ from each other too
    assert_ne!(a.train.image(0), a.val.image(0));
}

#[test]
fn labels_balanced() {
    let s = synthetic(&small(1));
    assert_eq!(s.train.class_counts(), vec![20; 20]);
    assert_eq!(s.val.class_counts(), vec![5; 20]);
    assert_eq!(s.test.class_counts(), vec![3; 20]);
    // shuffled, not in class order
    assert_ne!(s.train.labels[..20], (0..20).collect::<Vec<_>>()[..]);
}

#[test]
fn normalised_on_train() {
    let s = synthetic(&small(2));
    let n = (s.train.images.len() / 3) as f64;
    for c in 0..3 {
        let vals = s
            .train
            .images
            .iter()
            .skip(c)
            .step_by(3)
            .map(|&v| f64::from(v));
        let mean = vals.clone().sum::<f64>() / n;
        let var = vals.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        assert!(mean.abs() < 1e-4, "channel {c} mean {mean}");
        assert!(
            (var.sqrt() - 1.0).abs() < 1e-4,
            "channel {c} std {}",
            var.sqrt()
        );
        assert!(s.channel_mean()[c] > 0.1 && s.channel_mean()[c] < 0.9);
        assert!(s.channel_std()[c] > 0.05 && s.channel_std()[c] < 0.5);
    }
    // un-normalising gives the 8-bit image back (in range, not constant)
    let rgb = s.to_rgb8(s.train.image(0));
    assert_eq!(rgb.len(), 3072);
    assert!(rgb.iter().any(|&v| v != rgb[0]));
}

/// The classes are told apart by their pattern: nearest class-mean of a
/// crude colour + orientation feature beats chance (5 %) on val. (The
/// small CNN reaches ~90 % in 3 epochs; this guards against a broken generator.)
#[test]
fn classes_are_distinguishable() {
    let s = synthetic(&SyntheticConfig {
        train: 2000,
        val: 400,
        test: 20,
        seed: 9,
    });
    /// Relative colour contrast (std of each channel) and relative
    /// gradient energy in four directions.
    fn features(img: &[f32]) -> Vec<f64> {
        let px = |h: usize, w: usize, c: usize| f64::from(img[(h * 32 + w) * 3 + c]);
        let mut f = vec![0.0; 7];
        for (c, fc) in f.iter_mut().enumerate().take(3) {
            let m = (0..1024).map(|p| px(p / 32, p % 32, c)).sum::<f64>() / 1024.0;
            *fc = ((0..1024)
                .map(|p| (px(p / 32, p % 32, c) - m).powi(2))
                .sum::<f64>()
                / 1024.0)
                .sqrt();
        }
        for h in 1..31 {
            for w in 1..31 {
                let g = |h: usize, w: usize| px(h, w, 0) + px(h, w, 1) + px(h, w, 2);
                let dy = g(h + 1, w) - g(h - 1, w);
                let dx = g(h, w + 1) - g(h, w - 1);
                let dd = g(h + 1, w + 1) - g(h - 1, w - 1);
                let da = g(h + 1, w - 1) - g(h - 1, w + 1);
                for (k, d) in [dy, dx, dd, da].into_iter().enumerate() {
                    f[3 + k] += d * d;
                }
            }
        }
        let (sc, sg) = (f[..3].iter().sum::<f64>(), f[3..].iter().sum::<f64>());
        f[..3].iter_mut().for_each(|v| *v /= sc);
        f[3..].iter_mut().for_each(|v| *v /= sg);
        f
    }
    let mut means = vec![vec![0.0; 7]; 20];
    let counts = s.train.class_counts();
    for i in 0..s.train.len() {
        for (m, f) in means[s.train.labels[i]]
            .iter_mut()
            .zip(features(s.train.image(i)))
        {
            *m += f / counts[s.train.labels[i]] as f64;
        }
    }
    let correct = (0..s.val.len())
        .filter(|&i| {
            let f = features(s.val.image(i));
            let best = (0..20)
                .min_by(|&a, &b| {
                    let d = |c: usize| {
                        means[c]
                            .iter()
                            .zip(&f)
                            .map(|(m, x)| (m - x).powi(2))
                            .sum::<f64>()
                    };
                    d(a).total_cmp(&d(b))
                })
                .unwrap();
            best == s.val.labels[i]
        })
        .count();
    let acc = correct as f64 / s.val.len() as f64;
    assert!(acc > 0.12, "nearest-mean accuracy {acc} (chance 0.05)");
}

#[test]
fn epoch_order_and_gather() {
    let s = synthetic(&small(5));
    assert_eq!(epoch_order(5, None), vec![0, 1, 2, 3, 4]);
    let mut rng = StdRng::seed_from_u64(1);
    let a = epoch_order(s.train.len(), Some(&mut rng));
    let mut rng = StdRng::seed_from_u64(1);
    let b = epoch_order(s.train.len(), Some(&mut rng));
    assert_eq!(a, b, "same seed, same order");
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..s.train.len()).collect::<Vec<_>>());
    assert_ne!(a, sorted, "shuffled");

    // refilling reuses the buffer
    let mut order = Vec::new();
    fill_epoch_order(&mut order, 100, None);
    let ptr = order.as_ptr();
    fill_epoch_order(&mut order, 100, Some(&mut rng));
    assert_eq!(order.as_ptr(), ptr);

    let (mut x, mut y) = (Vec::new(), Vec::new());
    let mut pointers = None;
    for batch in a.chunks(32) {
        s.train.gather(batch, &mut x, &mut y);
        assert_eq!(x.len(), batch.len() * <Dataset>::IMAGE_LEN);
        assert_eq!(y.len(), batch.len());
        for (k, &i) in batch.iter().enumerate() {
            assert_eq!(&x[k * 3072..(k + 1) * 3072], s.train.image(i));
            assert_eq!(y[k], s.train.labels[i]);
        }
        // no reallocation after the first (full-size) batch
        match pointers {
            None => pointers = Some((x.as_ptr(), y.as_ptr())),
            Some(p) => assert_eq!(p, (x.as_ptr(), y.as_ptr())),
        }
    }
}

#[test]
fn truncate() {
    let mut s = synthetic(&small(6));
    let first = s.train.image(0).to_vec();
    let labels = s.train.labels[..50].to_vec();
    s.train.truncate(50);
    assert_eq!(s.train.len(), 50);
    assert_eq!(s.train.images.len(), 50 * 3072);
    assert_eq!(s.train.image(0), &first[..]);
    assert_eq!(s.train.labels, labels);
    s.train.truncate(1000);
    assert_eq!(s.train.len(), 50);
    s.train.truncate(0);
    assert!(s.train.is_empty());
}

#[test]
fn label_noise() {
    let s = synthetic(&small(7));
    let n = s.train.len();
    for fraction in [0.0, 0.1, 0.25, 0.333, 1.0] {
        let mut d = s.train.clone();
        let changed = add_label_noise(&mut d, fraction, 11);
        let want = (fraction * n as f64).round() as usize;
        assert_eq!(changed, want, "fraction {fraction}");
        let differ = s
            .train
            .labels
            .iter()
            .zip(&d.labels)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, want, "every chosen label moves to another class");
        assert!(d.labels.iter().all(|&l| l < 20));
        assert_eq!(d.images, s.train.images);

        let mut again = s.train.clone();
        add_label_noise(&mut again, fraction, 11);
        assert_eq!(again.labels, d.labels, "deterministic");
    }
    let mut a = s.train.clone();
    let mut b = s.train.clone();
    add_label_noise(&mut a, 0.5, 1);
    add_label_noise(&mut b, 0.5, 2);
    assert_ne!(a.labels, b.labels, "another seed, other images");

    // the new labels are spread over the other classes
    let mut d = s.train.clone();
    add_label_noise(&mut d, 1.0, 3);
    let mut seen = std::collections::HashSet::new();
    for (old, new) in s.train.labels.iter().zip(&d.labels) {
        seen.insert((*old, *new));
    }
    assert!(seen.len() > 200, "pairs seen: {}", seen.len());

    // out-of-range fractions are clamped, one class cannot be noised
    let mut d = s.train.clone();
    assert_eq!(add_label_noise(&mut d, 2.0, 0), n);
    assert_eq!(add_label_noise(&mut d, -1.0, 0), 0);
    assert_eq!(add_label_noise(&mut d, f64::NAN, 0), 0);
    d.num_classes = 1;
    assert_eq!(add_label_noise(&mut d, 0.5, 0), 0);
}
