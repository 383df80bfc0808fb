//! The in-memory data set, mini-batch iteration and label noise.

use std::marker::PhantomData;

use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};

use super::DataError;
use crate::train::Samples;
use crate::{Image, Network, Shape};

/// A set of labelled images of shape `S` (32 x 32 RGB by default), normalised, NHWC f32.
///
/// Image `i` is `images[i * S::LEN..(i + 1) * S::LEN]`, laid out as `(h * S::W + w) * S::C + c`;
/// its label is `labels[i]`, in `0..num_classes`. Build one from your own data with
/// [`Dataset::new`] (f32 values) or [`Dataset::from_u8`] (8-bit pixels), which check the lengths
/// and labels; the loaders ([`load`](super::load), ...) build them from files. The fields are
/// public; keep `images.len() == labels.len() * S::LEN` if you change them.
///
/// The shape is part of the type, so a data set of the wrong shape for a network is a compile
/// error ([`Dataset::samples_for`]):
///
/// ```
/// use constnet::data::Dataset;
/// use constnet::Image;
///
/// // Two 2x2 grey images, classes 0 and 1 of 2.
/// let data = Dataset::<Image<2, 2, 1>>::from_u8(&[0, 64, 128, 255, 1, 2, 3, 4], vec![0, 1], 2)?;
/// assert_eq!(data.len(), 2);
/// assert_eq!(data.image(0), &[0.0, 64.0 / 255.0, 128.0 / 255.0, 1.0]);
/// // A label out of range is an error, not a panic.
/// let err = Dataset::<Image<2, 2, 1>>::new(vec![0.0; 4], vec![2], 2).unwrap_err();
/// assert_eq!(err.to_string(), "label 2 of image 0 is not in 0..1 (2 classes)");
/// # Ok::<(), constnet::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset<S: Shape = Image<32, 32, 3>> {
    /// All images, NHWC, `len() * S::LEN` values.
    pub images: Vec<f32>,
    /// One label per image, each in `0..num_classes`.
    pub labels: Vec<usize>,
    /// Number of classes.
    pub num_classes: usize,
    shape: PhantomData<fn() -> S>,
}

impl<S: Shape> Dataset<S> {
    /// Image height in pixels.
    pub const HEIGHT: usize = S::H;
    /// Image width in pixels.
    pub const WIDTH: usize = S::W;
    /// Channels.
    pub const CHANNELS: usize = S::C;
    /// Values per image: `HEIGHT * WIDTH * CHANNELS` (3072 for 32x32x3).
    pub const IMAGE_LEN: usize = S::LEN;

    /// A data set from NHWC values (`labels.len() * S::LEN` of them) and one label per image in
    /// `0..num_classes`; the values are used as they are (normalise them yourself, e.g. with
    /// [`Normalization`](super::Normalization)).
    pub fn new(
        images: Vec<f32>,
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        check_lengths::<S>(images.len(), labels.len())?;
        check_labels(&labels, num_classes)?;
        Ok(Self::new_unchecked(images, labels, num_classes))
    }

    /// A data set from 8-bit NHWC pixels (`labels.len() * S::LEN` of them), scaled to [0, 1]
    /// (divided by 255), with one label per image in `0..num_classes`.
    pub fn from_u8(
        pixels: &[u8],
        labels: Vec<usize>,
        num_classes: usize,
    ) -> Result<Self, DataError> {
        check_lengths::<S>(pixels.len(), labels.len())?;
        check_labels(&labels, num_classes)?;
        let images = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
        Ok(Self::new_unchecked(images, labels, num_classes))
    }

    /// An empty data set of `num_classes` classes.
    pub fn empty(num_classes: usize) -> Self {
        Self::new_unchecked(Vec::new(), Vec::new(), num_classes)
    }

    /// Without the checks: the caller guarantees the invariants.
    pub(crate) fn new_unchecked(images: Vec<f32>, labels: Vec<usize>, num_classes: usize) -> Self {
        debug_assert_eq!(images.len(), labels.len() * S::LEN);
        Dataset {
            images,
            labels,
            num_classes,
            shape: PhantomData,
        }
    }

    /// The sample shape `[H, W, C]`.
    pub fn shape() -> [usize; 3] {
        [S::H, S::W, S::C]
    }

    /// Checks the invariants (lengths and labels), e.g. after changing the public fields.
    pub fn validate(&self) -> Result<(), DataError> {
        check_lengths::<S>(self.images.len(), self.labels.len())?;
        check_labels(&self.labels, self.num_classes)
    }

    /// The images and labels as [`Samples`] for the network `N`, whose input must be this data
    /// set's shape `S`: another shape does not compile.
    ///
    /// ```
    /// use constnet::data::{synthetic, SyntheticConfig};
    /// use constnet::models::SmallCnn;
    ///
    /// let data = synthetic(&SyntheticConfig { train: 10, val: 5, test: 5, seed: 1 });
    /// let samples = data.train.samples_for::<SmallCnn<f32>>();
    /// assert_eq!(samples.len(), 10);
    /// ```
    ///
    /// ```compile_fail
    /// use constnet::data::Dataset;
    /// use constnet::models::SmallCnn; // takes 32x32x3
    /// use constnet::Image;
    ///
    /// let mnist = Dataset::<Image<28, 28, 1>>::empty(10);
    /// let samples = mnist.samples_for::<SmallCnn<f32>>();
    /// ```
    pub fn samples_for<N>(&self) -> Samples<'_, f32>
    where
        N: Network<f32, Input = S>,
    {
        Samples::new(&self.images, &self.labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Image `i`, NHWC (`S::LEN` values).
    ///
    /// # Panics
    /// If `i >= self.len()`.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * S::LEN..(i + 1) * S::LEN]
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
        images_out.reserve(indices.len() * S::LEN);
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
        self.images.truncate(self.labels.len() * S::LEN);
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

/// Checks that `values` is `labels` images of shape `S`.
fn check_lengths<S: Shape>(values: usize, labels: usize) -> Result<(), DataError> {
    if labels.checked_mul(S::LEN) == Some(values) {
        Ok(())
    } else {
        Err(DataError::LengthMismatch {
            values,
            labels,
            shape: [S::H, S::W, S::C],
        })
    }
}

/// Checks that every label is below `num_classes`.
fn check_labels(labels: &[usize], num_classes: usize) -> Result<(), DataError> {
    match labels.iter().enumerate().find(|(_, l)| **l >= num_classes) {
        Some((index, &label)) => Err(DataError::LabelOutOfRange {
            index,
            label,
            num_classes,
        }),
        None => Ok(()),
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
pub fn add_label_noise<S: Shape>(dataset: &mut Dataset<S>, fraction: f64, seed: u64) -> usize {
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
