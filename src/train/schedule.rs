//! Learning-rate schedules as values: [`StepDecay`] (the default) and [`CosineWarmup`], behind
//! the [`LrSchedule`] trait; [`Schedule`] is either, as [`TrainConfig`](super::TrainConfig)
//! holds it.

/// The learning rate of every epoch, from the initial one. The training loop sets the
/// optimizer's rate from it before each epoch, so it depends on the epoch only (which is what
/// makes a resumed run exact).
pub trait LrSchedule {
    /// The learning rate used during `epoch` (from 1), from the initial rate `base`.
    fn learning_rate(&self, base: f64, epoch: usize) -> f64;
}

/// Multiplies the rate by `factor` after every `every` epochs (`every` 0: never):
/// epoch `e` uses `base * factor^floor((e - 1) / every)`, the factor applied by repeated
/// multiplication (the same bits as a running product).
///
/// ```
/// use constnet::train::{LrSchedule, StepDecay};
/// let s = StepDecay { factor: 0.5, every: 2 };
/// let rates: Vec<f64> = (1..=5).map(|e| s.learning_rate(0.1, e)).collect();
/// assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepDecay {
    /// Factor applied after every `every` epochs (0.95).
    pub factor: f64,
    /// Epochs between decays (10); 0 never decays.
    pub every: usize,
}

impl Default for StepDecay {
    fn default() -> Self {
        StepDecay {
            factor: 0.95,
            every: 10,
        }
    }
}

impl LrSchedule for StepDecay {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        let decays = epoch.saturating_sub(1).checked_div(self.every).unwrap_or(0);
        let mut lr = base;
        for _ in 0..decays {
            lr *= self.factor;
        }
        lr
    }
}

/// A linear warm-up over `warmup_epochs`, then a cosine from the initial rate down towards
/// `min_lr` over the remaining epochs of `total_epochs`:
///
/// - epoch `e <= W` (W = `warmup_epochs`): `base * e / W`;
/// - epoch `e > W`: `min_lr + (base - min_lr) * (1 + cos(pi * (e - W - 1) / (total - W))) / 2`
///   (PyTorch's `CosineAnnealingLR` with `T_max = total - W`, stepped per epoch): the first
///   epoch after the warm-up uses `base`, and the rate would reach `min_lr` at epoch
///   `total + 1`; epochs beyond `total_epochs` use `min_lr`.
///
/// The rates depend on `total_epochs`: a run resumed to more epochs than it was planned for
/// follows the new total from then on.
///
/// ```
/// use constnet::train::{CosineWarmup, LrSchedule};
/// let s = CosineWarmup { warmup_epochs: 2, total_epochs: 6, min_lr: 0.0 };
/// let rates: Vec<f64> = (1..=6).map(|e| s.learning_rate(1.0, e)).collect();
/// let expected = [0.5, 1.0, 1.0, 0.5 + 0.5 * std::f64::consts::FRAC_1_SQRT_2, 0.5, 0.5 - 0.5 * std::f64::consts::FRAC_1_SQRT_2];
/// for (r, e) in rates.iter().zip(expected) {
///     assert!((r - e).abs() < 1e-15);
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CosineWarmup {
    /// Epochs of linear warm-up (0: none).
    pub warmup_epochs: usize,
    /// Epochs of the whole run, warm-up included.
    pub total_epochs: usize,
    /// The rate the cosine decays towards.
    pub min_lr: f64,
}

impl LrSchedule for CosineWarmup {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        let w = self.warmup_epochs;
        if epoch <= w {
            return base * epoch as f64 / w as f64;
        }
        let span = self.total_epochs.saturating_sub(w);
        let t = epoch - w - 1;
        if t >= span {
            return self.min_lr;
        }
        let cosine = (std::f64::consts::PI * t as f64 / span as f64).cos();
        self.min_lr + (base - self.min_lr) * (1.0 + cosine) / 2.0
    }
}

/// One of the built-in schedules, as [`TrainConfig::schedule`](super::TrainConfig::schedule)
/// holds it (default: [`StepDecay::default`], factor 0.95 every 10 epochs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// [`StepDecay`].
    Step(StepDecay),
    /// [`CosineWarmup`].
    Cosine(CosineWarmup),
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Step(StepDecay::default())
    }
}

impl LrSchedule for Schedule {
    fn learning_rate(&self, base: f64, epoch: usize) -> f64 {
        match self {
            Schedule::Step(s) => s.learning_rate(base, epoch),
            Schedule::Cosine(s) => s.learning_rate(base, epoch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_decay_is_the_running_product() {
        // The training loop used to multiply its rate by the factor after every 10th epoch.
        let s = StepDecay::default();
        let mut running: f64 = 0.001;
        for epoch in 1..=35 {
            assert_eq!(s.learning_rate(0.001, epoch).to_bits(), running.to_bits());
            if epoch % 10 == 0 {
                running *= 0.95;
            }
        }
        let never = StepDecay {
            factor: 0.5,
            every: 0,
        };
        assert_eq!(never.learning_rate(0.3, 100), 0.3);
    }

    #[test]
    fn cosine_with_warmup_exact_values() {
        let s = CosineWarmup {
            warmup_epochs: 3,
            total_epochs: 7,
            min_lr: 0.01,
        };
        let r = |e| s.learning_rate(0.4, e);
        assert_eq!(r(1), 0.4 / 3.0);
        assert_eq!(r(2), 0.8 / 3.0);
        assert!((r(3) - 0.4).abs() < 1e-15); // 0.4 * 3 / 3, rounded
        assert_eq!(r(4), 0.4); // cos(0) = 1
        // cos(pi / 4) = sqrt(1/2): 0.01 + 0.39 * (1 + 0.7071067811865476) / 2
        assert!((r(5) - 0.34288582233137674).abs() < 1e-15);
        assert!((r(6) - 0.205).abs() < 1e-15); // cos(pi / 2) = 0
        assert!((r(7) - 0.06711417766862328).abs() < 1e-15);
        assert_eq!(r(8), 0.01);
        let none = CosineWarmup {
            warmup_epochs: 0,
            total_epochs: 2,
            min_lr: 0.0,
        };
        assert_eq!(none.learning_rate(1.0, 1), 1.0);
        assert!((none.learning_rate(1.0, 2) - 0.5).abs() < 1e-15);
    }
}
