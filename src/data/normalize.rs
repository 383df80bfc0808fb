//! [`Normalization`]: per-channel mean and population standard deviation (ddof 0) of a training
//! split in [0, 1] pixel units, computed in f64, deterministic whatever the thread count (partial
//! sums are combined in a fixed order), for any number of channels.

use rayon::prelude::*;

use super::DataError;

/// Per-channel normalisation: `(x - mean[c]) / std[c]` for a value `x` of channel `c` in [0, 1]
/// pixel units (8-bit pixels are divided by 255 first).
///
/// The loaders compute it on the training split and apply it to all three splits
/// ([`DataSplits::normalization`](super::DataSplits::normalization)); apply the same one to new
/// images before giving them to a trained network. It is plain numbers: store `mean` and `std`
/// wherever you like (a checkpoint's metadata, JSON) and rebuild it with [`Normalization::new`].
///
/// ```
/// use constnet::data::Normalization;
///
/// // Grey images: one channel.
/// let norm = Normalization::new(vec![0.5], vec![0.25])?;
/// assert_eq!(norm.normalize_u8(&[0, 255]), vec![-2.0, 2.0]);
/// let mut x = vec![0.75_f32];
/// norm.normalize(&mut x);
/// assert_eq!(x, vec![1.0]);
/// assert_eq!(norm.to_u8(&x), vec![191]); // 0.75 * 255 = 191.25
/// // Stored as plain numbers, restored exactly.
/// let (mean, std) = (norm.mean.clone(), norm.std.clone());
/// assert_eq!(Normalization::new(mean, std)?, norm);
/// # Ok::<(), constnet::data::DataError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Normalization {
    /// Per-channel mean, [0, 1] units.
    pub mean: Vec<f64>,
    /// Per-channel divisor: the population standard deviation, or 1 for a channel that is
    /// constant over the training split (to avoid dividing by 0).
    pub std: Vec<f64>,
}

impl Normalization {
    /// A normalisation from stored numbers: one mean and one std per channel, every std finite
    /// and positive, every mean finite.
    pub fn new(mean: Vec<f64>, std: Vec<f64>) -> Result<Self, DataError> {
        let bad = |detail: String| Err(DataError::BadNormalization { detail });
        if mean.len() != std.len() || mean.is_empty() {
            return bad(format!(
                "{} means and {} standard deviations (one of each per channel, at least one channel)",
                mean.len(),
                std.len()
            ));
        }
        if let Some((c, m)) = mean.iter().enumerate().find(|(_, m)| !m.is_finite()) {
            return bad(format!("mean {m} of channel {c} is not finite"));
        }
        if let Some((c, s)) = std
            .iter()
            .enumerate()
            .find(|(_, s)| !(s.is_finite() && **s > 0.0))
        {
            return bad(format!(
                "standard deviation {s} of channel {c} is not a positive number"
            ));
        }
        Ok(Normalization { mean, std })
    }

    /// The normalisation that changes nothing (mean 0, std 1) for `channels` channels.
    pub fn identity(channels: usize) -> Self {
        Normalization {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }

    /// The mean as `f32` (as written to `metrics.json`).
    pub fn mean_f32(&self) -> Vec<f32> {
        self.mean.iter().map(|&m| m as f32).collect()
    }

    /// The std as `f32` (as written to `metrics.json`).
    pub fn std_f32(&self) -> Vec<f32> {
        self.std.iter().map(|&s| s as f32).collect()
    }

    /// From per-channel count, mean and sum of squared deviations from the mean.
    pub(crate) fn from_moments(count: u64, mean: Vec<f64>, sq_dev: &[f64]) -> Self {
        let std = sq_dev
            .iter()
            .map(|&sq| {
                let s = if count > 0 {
                    (sq / count as f64).sqrt()
                } else {
                    0.0
                };
                if s > 0.0 && s.is_finite() { s } else { 1.0 }
            })
            .collect();
        Normalization { mean, std }
    }

    /// The statistics of NHWC images with `channels` channels whose values are in [0, 1] units
    /// (`images.len()` a multiple of `channels`; a ragged tail is ignored).
    ///
    /// # Panics
    /// If `channels` is 0.
    pub fn of_images(images: &[f32], channels: usize) -> Self {
        assert!(channels > 0, "Normalization::of_images: 0 channels");
        let chunk = channels * 64 * 1024;
        let count = (images.len() / channels) as u64;
        let add = |acc: Vec<f64>, part: Vec<f64>| -> Vec<f64> {
            acc.iter().zip(&part).map(|(a, b)| a + b).collect()
        };
        let sums: Vec<Vec<f64>> = images
            .par_chunks(chunk)
            .map(|part| {
                let mut s = vec![0.0f64; channels];
                for px in part.chunks_exact(channels) {
                    for (acc, &v) in s.iter_mut().zip(px) {
                        *acc += f64::from(v);
                    }
                }
                s
            })
            .collect();
        let mut mean = sums.into_iter().fold(vec![0.0; channels], add);
        if count > 0 {
            mean.iter_mut().for_each(|m| *m /= count as f64);
        }
        let devs: Vec<Vec<f64>> = images
            .par_chunks(chunk)
            .map(|part| {
                let mut s = vec![0.0f64; channels];
                for px in part.chunks_exact(channels) {
                    for ((acc, &v), m) in s.iter_mut().zip(px).zip(&mean) {
                        let d = f64::from(v) - m;
                        *acc += d * d;
                    }
                }
                s
            })
            .collect();
        let sq = devs.into_iter().fold(vec![0.0; channels], add);
        Self::from_moments(count, mean, &sq)
    }

    /// The exact statistics of 8-bit NHWC pixels with `channels` channels (histograms, so the
    /// result does not depend on the order of the pixels), in [0, 1] units.
    ///
    /// # Panics
    /// If `channels` is 0.
    pub fn of_u8(pixels: &[u8], channels: usize) -> Self {
        assert!(channels > 0, "Normalization::of_u8: 0 channels");
        let chunk = channels * 64 * 1024;
        let hists: Vec<Vec<[u64; 256]>> = pixels
            .par_chunks(chunk)
            .map(|part| {
                let mut h = vec![[0u64; 256]; channels];
                for px in part.chunks_exact(channels) {
                    for (hc, &v) in h.iter_mut().zip(px) {
                        hc[usize::from(v)] += 1;
                    }
                }
                h
            })
            .collect();
        let mut total = vec![[0u64; 256]; channels];
        for h in &hists {
            for (t, hc) in total.iter_mut().zip(h) {
                for (a, b) in t.iter_mut().zip(hc) {
                    *a += b;
                }
            }
        }
        Self::from_histograms(&total)
    }

    /// The statistics from per-channel histograms of 8-bit values.
    pub(crate) fn from_histograms(hists: &[[u64; 256]]) -> Self {
        let count: u64 = hists.first().map_or(0, |h| h.iter().sum());
        let mut mean = Vec::with_capacity(hists.len());
        let mut sq = Vec::with_capacity(hists.len());
        for h in hists {
            let sum: u64 = h.iter().enumerate().map(|(v, &k)| v as u64 * k).sum();
            let m = if count > 0 {
                sum as f64 / count as f64 / 255.0
            } else {
                0.0
            };
            sq.push(
                h.iter()
                    .enumerate()
                    .map(|(v, &k)| {
                        let d = v as f64 / 255.0 - m;
                        k as f64 * d * d
                    })
                    .sum(),
            );
            mean.push(m);
        }
        Self::from_moments(count, mean, &sq)
    }

    /// Normalises one value in [0, 1] units of channel `c` (computed in f64).
    ///
    /// # Panics
    /// If `c >= self.channels()`.
    #[inline]
    pub fn apply_value(&self, x: f64, c: usize) -> f32 {
        ((x - self.mean[c]) / self.std[c]) as f32
    }

    /// Per channel, the normalised value of each 8-bit pixel value (`table[c][v]`).
    pub(crate) fn u8_tables(&self) -> Vec<[f32; 256]> {
        (0..self.channels())
            .map(|c| std::array::from_fn(|v| self.apply_value(v as f64 / 255.0, c)))
            .collect()
    }

    /// Normalises NHWC images in [0, 1] units in place (values `i` of channel `i % channels()`).
    pub fn normalize(&self, images: &mut [f32]) {
        let channels = self.channels().max(1);
        images
            .par_chunks_mut(channels * 64 * 1024)
            .for_each(|part| {
                for px in part.chunks_mut(channels) {
                    for (c, v) in px.iter_mut().enumerate() {
                        *v = self.apply_value(f64::from(*v), c);
                    }
                }
            });
    }

    /// Normalises 8-bit NHWC pixels (0..=255, values `i` of channel `i % channels()`): the
    /// network input for new images, exactly as the loaders compute it.
    pub fn normalize_u8(&self, pixels: &[u8]) -> Vec<f32> {
        let tables = self.u8_tables();
        let channels = tables.len().max(1);
        let mut out = vec![0f32; pixels.len()];
        for (o, p) in out.chunks_mut(channels).zip(pixels.chunks(channels)) {
            for ((o, &v), t) in o.iter_mut().zip(p).zip(&tables) {
                *o = t[usize::from(v)];
            }
        }
        out
    }

    /// Undoes the normalisation: normalised NHWC values back to [0, 1] units.
    pub fn denormalize(&self, images: &[f32]) -> Vec<f32> {
        let channels = self.channels().max(1);
        let mut out = images.to_vec();
        for px in out.chunks_mut(channels) {
            for (c, v) in px.iter_mut().enumerate() {
                *v = (f64::from(*v) * self.std[c] + self.mean[c]) as f32;
            }
        }
        out
    }

    /// Undoes the normalisation to 8-bit values (rounded, clamped to 0..=255), e.g. to draw.
    pub fn to_u8(&self, images: &[f32]) -> Vec<u8> {
        self.denormalize(images)
            .iter()
            .map(|&v| (v * 255.0).round().clamp(0.0, 255.0) as u8)
            .collect()
    }
}
