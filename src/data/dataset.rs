//! The in-memory data set, mini-batch iteration and label noise.

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};

/// A set of labelled 32 x 32 RGB images, normalised, NHWC f32.
///
/// Image `i` is `images[i * IMAGE_LEN..(i + 1) * IMAGE_LEN]`, laid out as
/// `(h * WIDTH + w) * CHANNELS + c`; its label is `labels[i]`, in
/// `0..num_classes`. The fields are public; keep
/// `images.len() == labels.len() * IMAGE_LEN` if you change them.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// All images, NHWC, `len() * IMAGE_LEN` values.
    pub images: Vec<f32>,
    /// One label per image, each in `0..num_classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
}

impl Dataset {
    /// Image height in pixels.
    pub const HEIGHT: usize = 32;
    /// Image width in pixels.
    pub const WIDTH: usize = 32;
    /// Colour channels (red, green, blue).
    pub const CHANNELS: usize = 3;
    /// Values per image: `HEIGHT * WIDTH * CHANNELS` = 3072.
    pub const IMAGE_LEN: usize = Self::HEIGHT * Self::WIDTH * Self::CHANNELS;

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`, NHWC (`IMAGE_LEN` values).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * Self::IMAGE_LEN..(i + 1) * Self::IMAGE_LEN]
    }

    /// Copies the images and labels at `indices` (in that order) into
    /// `images_out` and `labels_out`, replacing their contents. The buffers
    /// are cleared and refilled, so once they are large enough for a batch
    /// no allocation happens: reuse them from batch to batch.
    ///
    /// ```
    /// use constnet::data::{epoch_order, synthetic, SyntheticConfig};
    ///
    /// let data = synthetic(&SyntheticConfig { train: 100, val: 20, test: 20, seed: 1 });
    /// let order = epoch_order(data.train.len(), None);
    /// let (mut images, mut labels) = (Vec::new(), Vec::new());
    /// for batch in order.chunks(32) {
    ///     data.train.gather(batch, &mut images, &mut labels);
    ///     assert_eq!(images.len(), batch.len() * 3072);
    ///     // ... forward and backward pass on `images` and `labels` ...
    /// }
    /// ```
    ///
    /// # Panics
    /// If an index is `>= self.len()`.
    pub fn gather(
        &self,
        indices: &[usize],
        images_out: &mut Vec<f32>,
        labels_out: &mut Vec<usize>,
    ) {
        images_out.clear();
        labels_out.clear();
        images_out.reserve(indices.len() * Self::IMAGE_LEN);
        labels_out.reserve(indices.len());
        for &i in indices {
            images_out.extend_from_slice(self.image(i));
            labels_out.push(self.labels[i]);
        }
    }

    /// Keeps only the first `n` images (nothing happens if there are fewer).
    /// For `--limit-train`.
    pub fn truncate(&mut self, n: usize) {
        self.labels.truncate(n);
        self.images.truncate(self.labels.len() * Self::IMAGE_LEN);
    }

    /// The number of images of each class (`num_classes` counts; labels
    /// outside `0..num_classes`, if any, are not counted).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &l in &self.labels {
            if let Some(c) = counts.get_mut(l) {
                *c += 1;
            }
        }
        counts
    }
}

/// The order in which to visit `len` images in one epoch: `0..len`, shuffled
/// with `shuffle` if given (pass `None` for data-set order, as PyTorch's
/// `shuffle=False`). Split it into mini-batches with `chunks(batch_size)`
/// and fetch each with [`Dataset::gather`].
///
/// ```
/// use constnet::data::epoch_order;
/// use rand::SeedableRng;
///
/// assert_eq!(epoch_order(4, None), vec![0, 1, 2, 3]);
/// let mut rng = rand::rngs::StdRng::seed_from_u64(123);
/// let mut order = epoch_order(10, Some(&mut rng));
/// order.sort();
/// assert_eq!(order, (0..10).collect::<Vec<_>>());
///
/// // Shuffling chosen at run time (`--no-shuffle`):
/// let shuffle = false;
/// let order = epoch_order(3, if shuffle { Some(&mut rng) } else { None });
/// assert_eq!(order, vec![0, 1, 2]);
/// ```
pub fn epoch_order(len: usize, shuffle: Option<&mut dyn RngCore>) -> Vec<usize> {
    let mut order = Vec::with_capacity(len);
    fill_epoch_order(&mut order, len, shuffle);
    order
}

/// As [`epoch_order`], but refills `order` in place (no allocation once it
/// has room for `len` indices).
pub fn fill_epoch_order(order: &mut Vec<usize>, len: usize, shuffle: Option<&mut dyn RngCore>) {
    order.clear();
    order.extend(0..len);
    if let Some(rng) = shuffle {
        order.shuffle(rng);
    }
}

/// Replaces the labels of `round(fraction * len)` distinct images, chosen by
/// a shuffle seeded with `seed`, each by a class drawn uniformly among the
/// *other* classes; returns how many labels were changed. Deterministic for
/// a given data set, fraction and seed.
///
/// `fraction` is clamped to [0, 1] (NaN counts as 0). With fewer than two
/// classes there is no other class, and nothing changes.
///
/// ```
/// use constnet::data::{add_label_noise, synthetic, SyntheticConfig};
///
/// let mut data = synthetic(&SyntheticConfig { train: 200, val: 20, test: 20, seed: 0 });
/// let before = data.train.labels.clone();
/// let changed = add_label_noise(&mut data.train, 0.1, 7);
/// assert_eq!(changed, 20);
/// let differ = before.iter().zip(&data.train.labels).filter(|(a, b)| a != b).count();
/// assert_eq!(differ, 20);
/// ```
pub fn add_label_noise(dataset: &mut Dataset, fraction: f64, seed: u64) -> usize {
    let n = dataset.labels.len();
    let classes = dataset.num_classes;
    if classes < 2 || n == 0 {
        return 0;
    }
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let count = ((fraction * n as f64).round() as usize).min(n);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut indices: Vec<usize> = (0..n).collect();
    let (chosen, _) = indices.partial_shuffle(&mut rng, count);
    for &i in chosen.iter() {
        let Some(label) = dataset.labels.get_mut(i) else {
            continue;
        };
        // Uniform over the classes other than the current one.
        let mut new = rng.random_range(0..classes - 1);
        if new >= *label {
            new += 1;
        }
        *label = new;
    }
    count
}
