//! [`Augment`]: random crop with zero padding and horizontal flip of training batches.

use std::fmt;

use rand::Rng;

use crate::{Float, Shape};

/// Data augmentation for training batches (never for evaluation): each image is shifted by a
/// random crop of the image padded with `pad` zeros on every side, then mirrored left-right
/// with probability 1/2 if `flip`. Off by default ([`Augment::default`] changes nothing); the
/// standard CIFAR recipe is [`Augment::CIFAR`] (pad 4, flip).
///
/// The padding is 0 in the batch's units: applied to normalised images, as the loaders give
/// them, the padded border is the training mean colour.
///
/// Seeded: the same RNG state gives the same bits. For each image in order, the crop offsets
/// (`dy`, then `dx`, each uniform in `0..=2 * pad`, drawn only when `pad > 0`) and then the flip
/// (drawn only when `flip`) come from the RNG.
///
/// ```
/// use constnet::data::Augment;
/// use constnet::Image;
/// use rand::SeedableRng;
///
/// // One 2x2 grey image, flipped (pad 0): columns swapped.
/// let mut batch = vec![1.0, 2.0, 3.0, 4.0];
/// let flip = Augment { pad: 0, flip: true };
/// let mut rng = rand::rngs::StdRng::seed_from_u64(0);
/// for _ in 0..8 {
///     let before = batch.clone();
///     flip.apply::<Image<2, 2, 1>, _>(&mut batch, &mut rng);
///     assert!(batch == before || batch == vec![before[1], before[0], before[3], before[2]]);
/// }
/// // Off changes nothing and draws nothing.
/// let before = batch.clone();
/// Augment::default().apply::<Image<2, 2, 1>, _>(&mut batch, &mut rng);
/// assert_eq!(batch, before);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Augment {
    /// Zero padding on each side for the random crop (0: no crop).
    pub pad: usize,
    /// Mirror each image left-right with probability 1/2.
    pub flip: bool,
}

impl Augment {
    /// No augmentation.
    pub const NONE: Augment = Augment {
        pad: 0,
        flip: false,
    };

    /// The standard CIFAR recipe: random crop with 4 pixels of zero padding, horizontal flip.
    pub const CIFAR: Augment = Augment { pad: 4, flip: true };

    /// Whether this changes nothing.
    pub fn is_off(&self) -> bool {
        self.pad == 0 && !self.flip
    }

    /// Augments a batch of NHWC images of shape `S` in place (`images.len() / S::LEN` images; a
    /// ragged tail is left alone), drawing from `rng`. No allocation.
    pub fn apply<S: Shape, R: Rng + ?Sized>(&self, images: &mut [f32], rng: &mut R) {
        self.apply_to::<S, f32, R>(images, rng);
    }

    /// [`Augment::apply`] for images of any float type (the training loop's `T`): the same
    /// draws, so the same moves.
    pub(crate) fn apply_to<S: Shape, T: Float, R: Rng + ?Sized>(
        &self,
        images: &mut [T],
        rng: &mut R,
    ) {
        if self.is_off() || S::LEN == 0 {
            return;
        }
        for image in images.chunks_exact_mut(S::LEN) {
            if self.pad > 0 {
                let dy = rng.random_range(0..=2 * self.pad) as isize - self.pad as isize;
                let dx = rng.random_range(0..=2 * self.pad) as isize - self.pad as isize;
                shift::<S, T>(image, dy, dx);
            }
            if self.flip && rng.random_bool(0.5) {
                mirror::<S, T>(image);
            }
        }
    }
}

/// `out(y, x) = in(y + dy, x + dx)`, 0 outside the image; in place (the reads run ahead of
/// the writes: forwards when the source is later in memory, backwards otherwise).
fn shift<S: Shape, T: Float>(image: &mut [T], dy: isize, dx: isize) {
    let (h, w, c) = (S::H as isize, S::W as isize, S::C);
    let at = |y: isize, x: isize| (y * w + x) as usize * c;
    let mut move_pixel = |y: isize, x: isize| {
        let (sy, sx) = (y + dy, x + dx);
        let dst = at(y, x);
        if (0..h).contains(&sy) && (0..w).contains(&sx) {
            let src = at(sy, sx);
            image.copy_within(src..src + c, dst);
        } else {
            image[dst..dst + c].fill(T::ZERO);
        }
    };
    if dy * w + dx >= 0 {
        for y in 0..h {
            for x in 0..w {
                move_pixel(y, x);
            }
        }
    } else {
        for y in (0..h).rev() {
            for x in (0..w).rev() {
                move_pixel(y, x);
            }
        }
    }
}

/// `none`, or `crop<pad>` (random crop with that zero padding) and `flip` joined by `+`:
/// [`Augment::CIFAR`] is `crop4+flip`. [`FromStr`](std::str::FromStr) reads it back.
impl fmt::Display for Augment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.pad, self.flip) {
            (0, false) => f.write_str("none"),
            (0, true) => f.write_str("flip"),
            (pad, false) => write!(f, "crop{pad}"),
            (pad, true) => write!(f, "crop{pad}+flip"),
        }
    }
}

/// A text that is not an [`Augment`]'s display form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown augmentation '{0}' (expected none, flip, crop<N> or crop<N>+flip)")]
pub struct UnknownAugment(pub String);

impl std::str::FromStr for Augment {
    type Err = UnknownAugment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnknownAugment(s.to_string());
        if s == "none" {
            return Ok(Augment::NONE);
        }
        let mut augment = Augment::NONE;
        for part in s.split('+') {
            match part.strip_prefix("crop") {
                Some(pad) if augment.pad == 0 => {
                    augment.pad = pad.parse().map_err(|_| bad())?;
                }
                None if part == "flip" && !augment.flip => augment.flip = true,
                _ => return Err(bad()),
            }
        }
        Ok(augment)
    }
}

/// Mirrors an image left-right in place.
fn mirror<S: Shape, T: Copy>(image: &mut [T]) {
    let (w, c) = (S::W, S::C);
    for row in image.chunks_exact_mut(w * c) {
        for x in 0..w / 2 {
            let (a, b) = (x * c, (w - 1 - x) * c);
            for k in 0..c {
                row.swap(a + k, b + k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    /// The shift against a copy-based reference, for every offset of a 3x4x2 image.
    #[test]
    fn shift_matches_a_reference() {
        type S = Image<3, 4, 2>;
        let original: Vec<f32> = (1..=24).map(|v| v as f32).collect();
        for dy in -4..=4isize {
            for dx in -5..=5isize {
                let mut got = original.clone();
                shift::<S, f32>(&mut got, dy, dx);
                let mut want = vec![0.0; 24];
                for y in 0..3isize {
                    for x in 0..4isize {
                        let (sy, sx) = (y + dy, x + dx);
                        if (0..3).contains(&sy) && (0..4).contains(&sx) {
                            for k in 0..2 {
                                want[((y * 4 + x) * 2) as usize + k] =
                                    original[((sy * 4 + sx) * 2) as usize + k];
                            }
                        }
                    }
                }
                assert_eq!(got, want, "dy {dy} dx {dx}");
            }
        }
    }

    #[test]
    fn display_reads_back() {
        for a in [
            Augment::NONE,
            Augment::CIFAR,
            Augment {
                pad: 2,
                flip: false,
            },
            Augment { pad: 0, flip: true },
        ] {
            assert_eq!(a.to_string().parse::<Augment>(), Ok(a));
        }
        assert_eq!(Augment::CIFAR.to_string(), "crop4+flip");
        assert!("crop".parse::<Augment>().is_err());
        assert!("flip+flip".parse::<Augment>().is_err());
    }

    #[test]
    fn mirror_swaps_columns_keeping_channels() {
        let mut img = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        mirror::<Image<1, 3, 2>, f32>(&mut img);
        assert_eq!(img, vec![5.0, 6.0, 3.0, 4.0, 1.0, 2.0]);
    }
}
