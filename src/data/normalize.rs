//! Per-channel normalisation shared by the CIFAR loader and the synthetic
//! data set: mean and population standard deviation (ddof 0) of the
//! training split in [0, 1] pixel units, computed in f64, deterministic
//! whatever the thread count (partial sums are combined in a fixed order).

use rayon::prelude::*;

use super::Dataset;

/// Channel statistics in [0, 1] pixel units.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChannelNorm {
    pub mean: [f64; 3],
    /// The divisor: the population standard deviation, or 1 for a channel
    /// that is constant over the training split (to avoid dividing by 0).
    pub std: [f64; 3],
}

impl ChannelNorm {
    /// From per-channel count, sum and sum of squared deviations from `mean`.
    pub fn from_moments(count: u64, mean: [f64; 3], sq_dev: [f64; 3]) -> Self {
        let mut std = [1.0; 3];
        for c in 0..3 {
            let s = if count > 0 {
                (sq_dev[c] / count as f64).sqrt()
            } else {
                0.0
            };
            std[c] = if s > 0.0 && s.is_finite() { s } else { 1.0 };
        }
        ChannelNorm { mean, std }
    }

    /// Normalises one value in [0, 1] units for channel `c`.
    #[inline]
    pub fn apply(&self, x: f64, c: usize) -> f32 {
        ((x - self.mean[c]) / self.std[c]) as f32
    }

    /// Mean as reported in [`super::DataSplits::channel_mean`].
    pub fn mean_f32(&self) -> [f32; 3] {
        self.mean.map(|m| m as f32)
    }

    /// Std as reported in [`super::DataSplits::channel_std`].
    pub fn std_f32(&self) -> [f32; 3] {
        self.std.map(|s| s as f32)
    }

    /// Statistics of an NHWC f32 buffer whose values are in [0, 1] units.
    pub fn of_nhwc(images: &[f32]) -> Self {
        let chunk = 64 * Dataset::IMAGE_LEN;
        let count = (images.len() / 3) as u64;
        let sums: Vec<[f64; 3]> = images
            .par_chunks(chunk)
            .map(|part| {
                let mut s = [0.0f64; 3];
                for px in part.chunks_exact(3) {
                    for c in 0..3 {
                        s[c] += f64::from(px[c]);
                    }
                }
                s
            })
            .collect();
        let mut mean = [0.0; 3];
        for s in &sums {
            for c in 0..3 {
                mean[c] += s[c];
            }
        }
        if count > 0 {
            mean = mean.map(|m| m / count as f64);
        }
        let devs: Vec<[f64; 3]> = images
            .par_chunks(chunk)
            .map(|part| {
                let mut s = [0.0f64; 3];
                for px in part.chunks_exact(3) {
                    for c in 0..3 {
                        let d = f64::from(px[c]) - mean[c];
                        s[c] += d * d;
                    }
                }
                s
            })
            .collect();
        let mut sq = [0.0; 3];
        for s in &devs {
            for c in 0..3 {
                sq[c] += s[c];
            }
        }
        Self::from_moments(count, mean, sq)
    }

    /// Normalises an NHWC buffer in [0, 1] units in place.
    pub fn apply_nhwc(&self, images: &mut [f32]) {
        images
            .par_chunks_mut(64 * Dataset::IMAGE_LEN)
            .for_each(|part| {
                for px in part.chunks_exact_mut(3) {
                    for (c, v) in px.iter_mut().enumerate() {
                        *v = self.apply(f64::from(*v), c);
                    }
                }
            });
    }
}
