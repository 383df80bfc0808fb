//! [`Samples`]: labelled samples as borrowed slices, what the training loop and evaluation read.

use crate::{Float, Shape};

/// Labelled samples: `labels.len()` samples of a network's input shape, NHWC in `images`.
///
/// A borrowed view, so any storage works: a [`Dataset`](crate::data::Dataset) (images of any
/// shape; `&Dataset` converts with `From`, so the training functions take `&data.train` directly), or a
/// small problem made inline. The sample shape comes from the network it is used with;
/// [`Samples::check`] verifies the lengths fit it.
///
/// ```
/// use constnet::train::Samples;
/// use constnet::Image;
/// let images = [0.0_f32; 2 * 4];
/// let samples = Samples::new(&images, &[1, 0]);
/// assert_eq!(samples.len(), 2);
/// assert!(samples.check::<Image<1, 1, 4>>("train").is_ok());
/// assert!(samples.check::<Image<1, 1, 3>>("train").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Samples<'a, T = f32> {
    /// The samples' values, NHWC, one sample after the other.
    pub images: &'a [T],
    /// One label (class index) per sample.
    pub labels: &'a [usize],
}

/// Samples that do not fit a network, or a batch size of 0.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamplesError {
    /// The values are not `labels.len()` samples of the network's input shape.
    #[error(
        "the {which} data has {values} values for {samples} labels, but the network takes samples of {h}x{w}x{c} = {sample_len} values"
    )]
    Length {
        /// Which data (`"train"`, `"validation"`, ...).
        which: &'static str,
        /// Number of values.
        values: usize,
        /// Number of labels.
        samples: usize,
        /// Sample height.
        h: usize,
        /// Sample width.
        w: usize,
        /// Sample channels.
        c: usize,
        /// Values per sample.
        sample_len: usize,
    },
    /// A batch size of 0.
    #[error("the batch size must be at least 1")]
    ZeroBatchSize,
}

impl<'a, T: Float> Samples<'a, T> {
    /// Views `images` (NHWC) with one label per sample.
    pub fn new(images: &'a [T], labels: &'a [usize]) -> Self {
        Samples { images, labels }
    }

    /// Number of samples (labels).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Checks that the images are `len()` samples of shape `S`; `which` names the data in the
    /// error.
    pub fn check<S: Shape>(&self, which: &'static str) -> Result<(), SamplesError> {
        if self.images.len() == self.labels.len() * S::LEN {
            Ok(())
        } else {
            Err(SamplesError::Length {
                which,
                values: self.images.len(),
                samples: self.labels.len(),
                h: S::H,
                w: S::W,
                c: S::C,
                sample_len: S::LEN,
            })
        }
    }

    /// The first `n` samples (all if there are fewer).
    pub fn head(&self, n: usize) -> Self {
        let n = n.min(self.len());
        let sample_len = self.images.len().checked_div(self.len()).unwrap_or(0);
        Samples {
            images: &self.images[..n * sample_len],
            labels: &self.labels[..n],
        }
    }
}

impl<'a, S: Shape> From<&'a crate::data::Dataset<S>> for Samples<'a, f32> {
    /// Views a data set's images and labels (of shape `S`, for networks with that input; use
    /// [`Dataset::samples_for`](crate::data::Dataset::samples_for) to have the compiler check
    /// that).
    fn from(data: &'a crate::data::Dataset<S>) -> Self {
        Samples {
            images: &data.images,
            labels: &data.labels,
        }
    }
}
