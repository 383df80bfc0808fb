//! `Dropout`: any shape -> the same shape; in training each value is zeroed with probability `p`
//! and the others scaled by `1 / (1 - p)`; in evaluation the identity.
//!
//! PyTorch equivalent: `nn.Dropout(p)` (inverted dropout). The mask comes from the layer's own
//! generator, seeded when the network is initialised, so a seeded run is reproducible.

use crate::layer::{Init, Layer, Mode};
use crate::shape::Misfit;
use crate::{Float, Shape};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

/// Dropout with probability `p`, given where the layer is declared (const generics cannot be
/// floats): `drop: Dropout = Dropout::new(0.25)` in a [`net!`](crate::net!); 0.5 by default, as
/// PyTorch.
///
/// ```
/// use constnet::layers::{Dropout, Linear};
/// use constnet::{Image, Network, net};
/// net! {
///     pub struct Net {
///         input: Image<1, 1, 4>,
///         drop: Dropout = Dropout::new(0.25),
///         fc: Linear<4, 2>,
///     }
/// }
/// let net = Net::<f32>::new(0);
/// assert_eq!(net.drop.probability(), 0.25);
/// assert!(net.summary().to_string().contains("Dropout(p = 0.25)"));
/// ```
#[derive(Debug, Clone)]
pub struct Dropout<T: Float = f32> {
    probability: f64,
    mask: Vec<T>,
    rng: StdRng,
    masked: bool,
}

impl<T: Float> Default for Dropout<T> {
    fn default() -> Self {
        Dropout {
            probability: 0.5,
            mask: Vec::new(),
            rng: StdRng::seed_from_u64(0),
            masked: false,
        }
    }
}

impl<T: Float> Dropout<T> {
    /// Dropout that zeroes each value with probability `p` in training.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1]` (a mistake in the declaration, seen when the network is built).
    pub fn new(p: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&p),
            "Dropout::new({p}): the probability must be in [0, 1]"
        );
        Dropout {
            probability: p,
            ..Self::default()
        }
    }

    /// The probability of zeroing a value.
    pub fn probability(&self) -> f64 {
        self.probability
    }
}

impl<In: Shape, T: Float> Layer<In, T> for Dropout<T> {
    type Out = In;
    const KIND: &'static str = "Dropout";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = Ok(());

    fn init(&mut self, _init: Init, rng: &mut StdRng) {
        self.rng = StdRng::seed_from_u64(rng.next_u64());
    }

    fn signature(&self) -> String {
        format!("Dropout(p = {})", self.probability)
    }

    fn forward(&mut self, input: &[T], output: &mut [T], _batch: usize, mode: Mode) {
        self.masked = mode == Mode::Train && self.probability > 0.0;
        if !self.masked {
            output.copy_from_slice(input);
            return;
        }
        let p = self.probability;
        let keep = if p < 1.0 {
            T::from_f64(1.0 / (1.0 - p))
        } else {
            T::ZERO
        };
        self.mask.clear();
        for _ in 0..input.len() {
            let dropped = self.rng.random::<f64>() < p;
            self.mask.push(if dropped { T::ZERO } else { keep });
        }
        for ((y, &x), &m) in output.iter_mut().zip(input).zip(&self.mask) {
            *y = x * m;
        }
    }

    /// The identity, as evaluation-mode `forward`.
    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        output.copy_from_slice(input);
    }

    fn backward(
        &mut self,
        _: &[T],
        _: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        _: usize,
    ) {
        let Some(grad_input) = grad_input else { return };
        if self.masked {
            for ((dx, &dy), &m) in grad_input.iter_mut().zip(grad_output).zip(&self.mask) {
                *dx = dy * m;
            }
        } else {
            grad_input.copy_from_slice(grad_output);
        }
    }
}

impl<T: Float, U: Float> crate::layer::WithFloat<U> for Dropout<T> {
    type Layer = Dropout<U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;

    type L = Dropout<f64>;

    #[test]
    fn training_masks_and_scales_evaluation_is_identity() {
        let mut layer = L::new(0.25);
        let x = vec![2.0; 4000];
        let mut y = vec![0.0; 4000];
        <L as Layer<Image<1, 1, 4000>, f64>>::forward(&mut layer, &x, &mut y, 1, Mode::Train);
        let kept = y.iter().filter(|&&v| v != 0.0).count();
        assert!(
            (2800..3200).contains(&kept),
            "kept {kept} of 4000 at p = 0.25"
        );
        assert!(
            y.iter()
                .all(|&v| v == 0.0 || (v - 2.0 / 0.75).abs() < 1e-12)
        );
        // The gradient passes exactly where the value did, with the same scale.
        let mut dx = vec![0.0; 4000];
        <L as Layer<Image<1, 1, 4000>, f64>>::backward(
            &mut layer,
            &x,
            &y,
            &vec![1.0; 4000],
            Some(&mut dx),
            1,
        );
        for (d, v) in dx.iter().zip(&y) {
            assert_eq!(*d * 2.0, *v);
        }
        <L as Layer<Image<1, 1, 4000>, f64>>::forward(&mut layer, &x, &mut y, 1, Mode::Eval);
        assert_eq!(y, x);
    }

    #[test]
    fn masks_are_reproducible_from_the_init_seed() {
        let run = |seed| {
            let mut layer = L::default();
            <L as Layer<Image<1, 1, 64>, f64>>::init(
                &mut layer,
                Init::He,
                &mut StdRng::seed_from_u64(seed),
            );
            let mut y = vec![0.0; 64];
            <L as Layer<Image<1, 1, 64>, f64>>::forward(
                &mut layer,
                &[1.0; 64],
                &mut y,
                1,
                Mode::Train,
            );
            y
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
