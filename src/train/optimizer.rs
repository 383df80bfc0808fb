//! Optimizers: SGD, SGD with momentum, RMSprop and Adam, with PyTorch's update rules and
//! defaults.

use crate::{Float, Network, ParamKind};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// Which update rule an [`Optimizer`] uses. Parses from and prints as `sgd`, `momentum`,
/// `rmsprop`, `adam` (the `--optimizer` values of the `small_cnn` example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizerKind {
    /// `w -= lr * g`.
    Sgd,
    /// PyTorch's SGD with momentum: `v = mu * v + g; w -= lr * v` (`mu` 0.9).
    Momentum,
    /// PyTorch's RMSprop: `s = alpha * s + (1 - alpha) * g^2; w -= lr * g / (sqrt(s) + eps)`
    /// (`alpha` 0.99, `eps` 1e-8).
    RmsProp,
    /// Adam with bias correction: `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    /// w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)` (betas 0.9 and 0.999, eps 1e-8),
    /// computed in PyTorch's order: `w -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
    #[default]
    Adam,
}

/// A name that is not an optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown optimizer '{0}' (expected sgd, momentum, rmsprop or adam)")]
pub struct UnknownOptimizer(pub String);

impl FromStr for OptimizerKind {
    type Err = UnknownOptimizer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "momentum" => Ok(OptimizerKind::Momentum),
            "rmsprop" => Ok(OptimizerKind::RmsProp),
            "adam" => Ok(OptimizerKind::Adam),
            _ => Err(UnknownOptimizer(s.to_string())),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::RmsProp => "rmsprop",
            OptimizerKind::Adam => "adam",
        })
    }
}

/// Updates a network's weights and biases from their gradients (buffers such as BatchNorm
/// running statistics are skipped).
///
/// The state (velocities, moment estimates) is one vector per parameter, allocated on the first
/// [`step`](Optimizer::step) and reused afterwards, so steps do not allocate. Updates are
/// element-wise and run in parallel chunks (the result does not depend on the thread count). Use one optimizer
/// per network. The hyper-parameters are public fields with PyTorch's defaults; the learning
/// rate can be changed between steps (the training loop decays it).
///
/// ```
/// use constnet::layers::Linear;
/// use constnet::train::{Optimizer, OptimizerKind};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! { struct Tiny { input: Image<1, 1, 1>, fc: Linear<1, 1> } }
/// let mut net = Tiny::<f64>::new(0);
/// net.assign("fc.weight", &[1.0]).unwrap();
/// net.assign("fc.bias", &[0.0]).unwrap();
/// let x = Tensor::from_vec(1, vec![1.0]).unwrap();
/// let mut sgd = Optimizer::new(OptimizerKind::Sgd, 0.1);
/// for _ in 0..3 {
///     let y = net.forward(&x, Mode::Train)[0];
///     net.backward(&[y]); // loss y^2 / 2
///     sgd.step(&mut net);
/// }
/// // y = w + b and each step multiplies it by 1 - 2 * 0.1.
/// let y = net.forward(&x, Mode::Eval)[0];
/// assert!((y - 0.8f64.powi(3)).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct Optimizer<T> {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Learning rate.
    pub learning_rate: f64,
    /// Momentum factor `mu` of [`OptimizerKind::Momentum`] (0.9).
    pub momentum: f64,
    /// Smoothing constant `alpha` of [`OptimizerKind::RmsProp`] (0.99).
    pub alpha: f64,
    /// Adam's first-moment decay `beta1` (0.9).
    pub beta1: f64,
    /// Adam's second-moment decay `beta2` (0.999).
    pub beta2: f64,
    /// Added to the denominator of RMSprop and Adam (1e-8).
    pub eps: f64,
    steps: u64,
    /// Velocity (momentum), first moment (Adam); one vector per trained parameter.
    first: Vec<Vec<T>>,
    /// Mean square (RMSprop), second moment (Adam).
    second: Vec<Vec<T>>,
}

impl<T: Float> Optimizer<T> {
    /// An optimizer of `kind` with learning rate `learning_rate` and PyTorch's defaults for the
    /// rest.
    pub fn new(kind: OptimizerKind, learning_rate: f64) -> Self {
        Optimizer {
            kind,
            learning_rate,
            momentum: 0.9,
            alpha: 0.99,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            steps: 0,
            first: Vec::new(),
            second: Vec::new(),
        }
    }

    /// How many steps were taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Forgets the state (velocities, moments, step count), as a new optimizer.
    pub fn reset(&mut self) {
        self.steps = 0;
        self.first.clear();
        self.second.clear();
    }

    /// Updates every weight and bias of `net` from its gradient (as set by the last
    /// `backward`, plus any regularization gradient).
    pub fn step<N: Network<T> + ?Sized>(&mut self, net: &mut N) {
        self.steps += 1;
        let t = self.steps;
        let lr = T::from_f64(self.learning_rate);
        let kind = self.kind;
        let (mu, alpha, b1, b2, eps) = (
            T::from_f64(self.momentum),
            T::from_f64(self.alpha),
            T::from_f64(self.beta1),
            T::from_f64(self.beta2),
            T::from_f64(self.eps),
        );
        let (one_minus_alpha, one_minus_b1, one_minus_b2) = (
            T::from_f64(1.0 - self.alpha),
            T::from_f64(1.0 - self.beta1),
            T::from_f64(1.0 - self.beta2),
        );
        // Bias corrections in f64 (`powi` of a Float is not available), then rounded once.
        let exponent = i32::try_from(t).unwrap_or(i32::MAX);
        let correction1 = 1.0 - self.beta1.powi(exponent);
        let correction2 = 1.0 - self.beta2.powi(exponent);
        let step_size = T::from_f64(self.learning_rate / correction1);
        let sqrt_correction2 = T::from_f64(correction2.sqrt());
        let (first, second) = (&mut self.first, &mut self.second);
        let mut index = 0;
        // On a pool thread, so that the parallel loops below fork there (see `on_pool`).
        crate::kernels::on_pool(move || {
            net.params_mut(&mut |_, p| {
                if p.kind == ParamKind::Buffer {
                    return;
                }
                let value = p.value;
                let grad: &[T] = p.grad;
                let needs = match kind {
                    OptimizerKind::Sgd => 0,
                    OptimizerKind::Momentum | OptimizerKind::RmsProp => 1,
                    OptimizerKind::Adam => 2,
                };
                // First step (or a network of another layout): allocate the state once.
                if needs >= 1 && first.get(index).is_none_or(|s| s.len() != value.len()) {
                    first.resize(index + 1, Vec::new());
                    first[index] = vec![T::ZERO; value.len()];
                }
                if needs >= 2 && second.get(index).is_none_or(|s| s.len() != value.len()) {
                    second.resize(index + 1, Vec::new());
                    second[index] = vec![T::ZERO; value.len()];
                }
                // Element-wise, so splitting across threads gives the same result for any count;
                // each chunk's loop is compiled for the CPU's best vector instructions (square
                // roots and divisions are exact in every width, so the result is the same).
                let chunk = chunk_len(value.len());
                let state1 = first
                    .get_mut(index)
                    .map(Vec::as_mut_slice)
                    .unwrap_or_default();
                match kind {
                    OptimizerKind::Sgd => chunks(value, grad, chunk).for_each(|(w, g)| {
                        crate::kernels::run(
                            #[inline(always)]
                            || {
                                for (w, &g) in w.iter_mut().zip(g) {
                                    *w -= lr * g;
                                }
                            },
                        )
                    }),
                    OptimizerKind::Momentum => chunks(value, grad, chunk)
                        .zip(state1.par_chunks_mut(chunk))
                        .for_each(|((w, g), v)| {
                            crate::kernels::run(
                                #[inline(always)]
                                || {
                                    for ((w, &g), v) in w.iter_mut().zip(g).zip(v) {
                                        *v = mu * *v + g;
                                        *w -= lr * *v;
                                    }
                                },
                            )
                        }),
                    OptimizerKind::RmsProp => chunks(value, grad, chunk)
                        .zip(state1.par_chunks_mut(chunk))
                        .for_each(|((w, g), s)| {
                            crate::kernels::run(
                                #[inline(always)]
                                || {
                                    for ((w, &g), s) in w.iter_mut().zip(g).zip(s) {
                                        *s = alpha * *s + one_minus_alpha * g * g;
                                        *w -= lr * g / (s.sqrt() + eps);
                                    }
                                },
                            )
                        }),
                    OptimizerKind::Adam => {
                        let state2 = second
                            .get_mut(index)
                            .map(Vec::as_mut_slice)
                            .unwrap_or_default();
                        chunks(value, grad, chunk)
                            .zip(state1.par_chunks_mut(chunk))
                            .zip(state2.par_chunks_mut(chunk))
                            .for_each(|(((w, g), m), v)| {
                                crate::kernels::run(
                                    #[inline(always)]
                                    || {
                                        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
                                            *m = b1 * *m + one_minus_b1 * g;
                                            *v = b2 * *v + one_minus_b2 * g * g;
                                            // m_hat / (sqrt(v_hat) + eps), in PyTorch's order.
                                            *w -= step_size * *m
                                                / (v.sqrt() / sqrt_correction2 + eps);
                                        }
                                    },
                                )
                            });
                    }
                }
                index += 1;
            })
        });
    }
}

/// Parameters smaller than this are updated by one thread (splitting costs more than it saves).
const PARALLEL_MIN: usize = 32 * 1024;

/// Values per parallel chunk of a parameter of `len` values: one run per thread.
fn chunk_len(len: usize) -> usize {
    if len < PARALLEL_MIN {
        len.max(1)
    } else {
        len.div_ceil(rayon::current_num_threads())
    }
}

/// A parameter's values and gradient, chunk by chunk, in parallel.
fn chunks<'a, T: Float>(
    value: &'a mut [T],
    grad: &'a [T],
    chunk: usize,
) -> impl IndexedParallelIterator<Item = (&'a mut [T], &'a [T])> {
    value.par_chunks_mut(chunk).zip(grad.par_chunks(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{BatchNorm2d, Linear};
    use crate::{Image, net};

    net! {
        /// Two trained values (weight and bias) and a BatchNorm whose buffers must not move.
        struct Pair {
            input: Image<1, 1, 1>,
            fc: Linear<1, 1>,
            bn: BatchNorm2d<1>,
        }
    }

    /// Runs three steps from w = 1, b = -1 with constant gradients g_w = 2, g_b = -0.5 (and
    /// gradients on the BatchNorm scale/shift of 0); returns (w, b) after each step.
    fn three_steps(mut opt: Optimizer<f64>) -> Vec<(f64, f64)> {
        let mut net = Pair::<f64>::new(0);
        net.assign("fc.weight", &[1.0]).unwrap();
        net.assign("fc.bias", &[-1.0]).unwrap();
        let mut out = Vec::new();
        for _ in 0..3 {
            net.params_mut(&mut |layer, p| {
                if layer == "fc" {
                    p.grad[0] = if p.name == "weight" { 2.0 } else { -0.5 };
                } else {
                    p.grad.fill(0.0);
                }
            });
            opt.step(&mut net);
            out.push((
                net.param("fc.weight").unwrap()[0],
                net.param("fc.bias").unwrap()[0],
            ));
        }
        assert_eq!(net.param("bn.running_mean").unwrap(), &[0.0]);
        assert_eq!(net.param("bn.running_var").unwrap(), &[1.0]);
        assert_eq!(net.param("bn.weight").unwrap(), &[1.0]);
        out
    }

    fn assert_close(got: &[(f64, f64)], expected: &[(f64, f64)]) {
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (g.0 - e.0).abs() < 1e-12 && (g.1 - e.1).abs() < 1e-12,
                "step {}: got {g:?}, expected {e:?}",
                i + 1
            );
        }
    }

    #[test]
    fn sgd_by_hand() {
        // w: 1 - 0.1 * 2 per step; b: -1 + 0.1 * 0.5 per step.
        let got = three_steps(Optimizer::new(OptimizerKind::Sgd, 0.1));
        assert_close(&got, &[(0.8, -0.95), (0.6, -0.9), (0.4, -0.85)]);
    }

    #[test]
    fn momentum_by_hand() {
        // v = 0.9 v + g: 1 g, 1.9 g, 2.71 g; w moves by lr * v: cumulative 1, 2.9, 5.61 (x lr g).
        // w: 1 - 0.1*2*{1, 2.9, 5.61} = 0.8, 0.42, -0.122; b: -1 + 0.05*{...} = -0.95, -0.855, -0.7195.
        let got = three_steps(Optimizer::new(OptimizerKind::Momentum, 0.1));
        assert_close(&got, &[(0.8, -0.95), (0.42, -0.855), (-0.122, -0.7195)]);
    }

    #[test]
    fn rmsprop_by_hand() {
        // s_t = (1 - 0.99^t) g^2: 0.01 g^2, 0.0199 g^2, 0.029701 g^2, so each step moves by
        // lr * sign(g) / sqrt(1 - 0.99^t):
        // 1/sqrt(0.01) = 10, 1/sqrt(0.0199) = 7.088812050083359, 1/sqrt(0.029701) = 5.80249084764774
        let mut opt = Optimizer::new(OptimizerKind::RmsProp, 0.01);
        opt.eps = 1e-300; // not 0: the BatchNorm scale's zero gradient would give 0 / 0
        let got = three_steps(opt);
        let d = [10.0, 7.088812050083359, 5.80249084764774];
        let w = [
            1.0 - 0.01 * d[0],
            1.0 - 0.01 * (d[0] + d[1]),
            1.0 - 0.01 * (d[0] + d[1] + d[2]),
        ];
        let b = [
            -1.0 + 0.01 * d[0],
            -1.0 + 0.01 * (d[0] + d[1]),
            -1.0 + 0.01 * (d[0] + d[1] + d[2]),
        ];
        assert_close(&got, &[(w[0], b[0]), (w[1], b[1]), (w[2], b[2])]);
        // The same numbers, written out: 0.9, 0.82911187949916641, 0.771086971022689
        assert!((got[2].0 - 0.771086971022689).abs() < 1e-12);
    }

    #[test]
    fn adam_by_hand() {
        // With a constant gradient, m_hat = g and v_hat = g^2 at every step: each step moves by
        // lr * g / (|g| + eps), i.e. 0.01 * 2 / (2 + 1e-8) for w and 0.01 * 0.5 / (0.5 + 1e-8)
        // for b: lr * sign(g) up to eps.
        let got = three_steps(Optimizer::new(OptimizerKind::Adam, 0.01));
        let (dw, db) = (0.02 / (2.0 + 1e-8), 0.005 / (0.5 + 1e-8));
        let expected: Vec<(f64, f64)> = (1..=3)
            .map(|t| (1.0 - t as f64 * dw, -1.0 + t as f64 * db))
            .collect();
        assert_close(&got, &expected);
        assert!((got[2].0 - 0.97).abs() < 1e-9 && (got[2].1 + 0.97).abs() < 1e-9);
    }

    #[test]
    fn adam_with_a_changing_gradient_by_hand() {
        // Gradient 1, then 3 (scalar, lr 0.1, eps 0):
        // t=1: m = 0.1, v = 0.001; m_hat = 1, v_hat = 1 -> step 0.1.
        // t=2: m = 0.09 + 0.3 = 0.39, v = 0.000999 + 0.009 = 0.009999;
        //      m_hat = 0.39 / 0.19 = 2.0526315789473686, v_hat = 0.009999 / 0.001999 = 5.002001000500250;
        //      step = 0.1 * 2.0526315789473686 / 2.236515370 = 0.0917781; w = -0.1917781.
        net! { struct One { input: Image<1, 1, 1>, fc: Linear<1, 1> } }
        let mut net = One::<f64>::new(0);
        net.assign("fc.weight", &[0.0]).unwrap();
        let mut opt = Optimizer::new(OptimizerKind::Adam, 0.1);
        opt.eps = 1e-300;
        for g in [1.0, 3.0] {
            net.params_mut(&mut |_, p| p.grad[0] = if p.name == "weight" { g } else { 0.0 });
            opt.step(&mut net);
        }
        let expected = -0.1 - 0.1 * (0.39 / 0.19) / (0.009999f64 / 0.001999).sqrt();
        assert!((net.param("fc.weight").unwrap()[0] - expected).abs() < 1e-12);
        assert!((expected - (-0.1917781)).abs() < 1e-6);
        assert_eq!(opt.steps(), 2);
    }

    #[test]
    fn names_round_trip() {
        for k in [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::RmsProp,
            OptimizerKind::Adam,
        ] {
            assert_eq!(k.to_string().parse::<OptimizerKind>(), Ok(k));
        }
        assert_eq!(
            "RMSprop".parse::<OptimizerKind>(),
            Ok(OptimizerKind::RmsProp)
        );
        assert!("adagrad".parse::<OptimizerKind>().is_err());
    }
}
