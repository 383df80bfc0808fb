//! L1 and L2 regularization over a network's weights: weights only
//! ([`ParamKind::Weight`]), not biases, BatchNorm scales and shifts, or buffers.

use crate::{Float, Network, ParamKind};
use std::fmt;
use std::str::FromStr;

/// A penalty on the size of the weights, added to the loss.
///
/// With strength `lambda`: L1 adds `lambda * sum |w|` (gradient `lambda * sign(w)`, 0 at 0),
/// L2 adds `lambda * sum w^2` (gradient `2 * lambda * w`). Parses from and prints as
/// `none`, `l1`, `l2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Regularization {
    /// No penalty.
    #[default]
    None,
    /// `lambda * sum |w|`.
    L1,
    /// `lambda * sum w^2`.
    L2,
}

/// A name that is not `none`, `l1` or `l2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown regularization '{0}' (expected none, l1 or l2)")]
pub struct UnknownRegularization(pub String);

impl FromStr for Regularization {
    type Err = UnknownRegularization;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Regularization::None),
            "l1" => Ok(Regularization::L1),
            "l2" => Ok(Regularization::L2),
            _ => Err(UnknownRegularization(s.to_string())),
        }
    }
}

impl fmt::Display for Regularization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Regularization::None => "none",
            Regularization::L1 => "l1",
            Regularization::L2 => "l2",
        })
    }
}

impl Regularization {
    /// The penalty for the network's current weights (0 for [`Regularization::None`]).
    ///
    /// ```
    /// use constnet::layers::Linear;
    /// use constnet::train::Regularization;
    /// use constnet::{Image, Network, net};
    /// net! { struct Tiny { input: Image<1, 1, 2>, fc: Linear<2, 1> } }
    /// let mut net = Tiny::<f64>::new(0);
    /// net.assign("fc.weight", &[3.0, -4.0]).unwrap();
    /// net.assign("fc.bias", &[100.0]).unwrap(); // biases are not penalised
    /// assert_eq!(Regularization::L1.penalty(&net, 0.5), 3.5);
    /// assert_eq!(Regularization::L2.penalty(&net, 0.5), 12.5);
    /// ```
    pub fn penalty<T: Float, N: Network<T> + ?Sized>(self, net: &N, lambda: f64) -> f64 {
        if self == Regularization::None {
            return 0.0;
        }
        let mut sum = 0.0;
        net.params(&mut |_, p| {
            if p.kind == ParamKind::Weight {
                sum += match self {
                    Regularization::L1 => p.value.iter().map(|w| w.to_f64().abs()).sum::<f64>(),
                    _ => p.value.iter().map(|w| w.to_f64() * w.to_f64()).sum::<f64>(),
                };
            }
        });
        lambda * sum
    }

    /// Adds the penalty's gradient to the gradients of the network's weights (call it after
    /// `backward`, which sets them) and returns the penalty, as [`Regularization::penalty`].
    pub fn add_gradient<T: Float, N: Network<T> + ?Sized>(self, net: &mut N, lambda: f64) -> f64 {
        if self == Regularization::None {
            return 0.0;
        }
        let (l, two_l) = (T::from_f64(lambda), T::from_f64(2.0 * lambda));
        let mut sum = 0.0;
        net.params_mut(&mut |_, p| {
            if p.kind != ParamKind::Weight {
                return;
            }
            for (g, &w) in p.grad.iter_mut().zip(p.value.iter()) {
                let wf = w.to_f64();
                match self {
                    Regularization::L1 => {
                        sum += wf.abs();
                        if w > T::ZERO {
                            *g += l;
                        } else if w < T::ZERO {
                            *g -= l;
                        }
                    }
                    _ => {
                        sum += wf * wf;
                        *g += two_l * w;
                    }
                }
            }
        });
        lambda * sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::{numerical_gradient, rel_error};
    use crate::layers::{BatchNorm2d, Conv2d, Flatten, Linear, Relu};
    use crate::train::softmax_cross_entropy;
    use crate::{Image, Init, Mode, Tensor, net};

    net! {
        struct Small {
            input: Image<3, 3, 2>,
            conv: Conv2d<2, 2, 2, 1, 0>,
            bn: BatchNorm2d<2>,
            relu: Relu,
            flatten: Flatten,
            fc: Linear<8, 3>,
        }
    }

    #[test]
    fn names_round_trip() {
        for r in [Regularization::None, Regularization::L1, Regularization::L2] {
            assert_eq!(r.to_string().parse::<Regularization>(), Ok(r));
        }
        assert_eq!("L2".parse::<Regularization>(), Ok(Regularization::L2));
        assert!("l3".parse::<Regularization>().is_err());
    }

    /// Hand-computed: only `conv.weight` and `fc.weight` count, not biases or BatchNorm.
    #[test]
    fn penalty_is_over_weights_only() {
        let mut net = Small::<f64>::new(1);
        net.params_mut(&mut |_, p| p.value.fill(0.0));
        net.assign("conv.weight", &[&[1.0, -2.0][..], &[0.0; 14]].concat())
            .unwrap();
        net.assign("fc.weight", &[&[0.5, 0.0, -3.0][..], &[0.0; 21]].concat())
            .unwrap();
        net.assign("conv.bias", &[7.0, 7.0]).unwrap();
        net.assign("bn.weight", &[9.0, 9.0]).unwrap();
        net.assign("bn.running_var", &[5.0, 5.0]).unwrap();
        net.assign("fc.bias", &[11.0; 3]).unwrap();
        // sum |w| = 1 + 2 + 0.5 + 3 = 6.5; sum w^2 = 1 + 4 + 0.25 + 9 = 14.25.
        assert_eq!(Regularization::L1.penalty(&net, 0.1), 0.1 * 6.5);
        assert_eq!(Regularization::L2.penalty(&net, 0.1), 0.1 * 14.25);
        assert_eq!(Regularization::None.penalty(&net, 0.1), 0.0);

        net.params_mut(&mut |_, p| p.grad.fill(1.0));
        let penalty = Regularization::L1.add_gradient(&mut net, 0.1);
        assert_eq!(penalty, 0.1 * 6.5);
        assert_eq!(&net.grad("conv.weight").unwrap()[..3], &[1.1, 0.9, 1.0]);
        assert_eq!(net.grad("conv.bias").unwrap(), &[1.0, 1.0]);
        assert_eq!(net.grad("bn.weight").unwrap(), &[1.0, 1.0]);

        net.params_mut(&mut |_, p| p.grad.fill(0.0));
        Regularization::L2.add_gradient(&mut net, 0.1);
        assert_eq!(
            &net.grad("fc.weight").unwrap()[..3],
            &[0.1, 0.0, -0.6000000000000001]
        );
        assert_eq!(net.grad("fc.bias").unwrap(), &[0.0; 3]);
    }

    /// The gradient of loss + penalty through a tiny network, against a numerical gradient.
    #[test]
    fn regularized_gradient_matches_numerical() {
        net! {
            struct Mlp {
                input: Image<1, 1, 3>,
                fc1: Linear<3, 4>,
                relu: Relu,
                fc2: Linear<4, 3>,
            }
        }
        let x = Tensor::<Image<1, 1, 3>, f64>::from_vec(2, vec![0.5, -1.0, 2.0, 1.5, 0.3, -0.7])
            .unwrap();
        let labels = [2, 0];
        for reg in [Regularization::L1, Regularization::L2] {
            let mut net = Mlp::<f64>::with_init(Init::Normal { std: 0.5 }, 3);
            let lambda = 0.3;
            let scores = net.forward(&x, Mode::Train).to_vec();
            let mut dscores = vec![0.0; scores.len()];
            softmax_cross_entropy(&scores, &labels, 3, &mut dscores).unwrap();
            net.backward(&dscores);
            reg.add_gradient(&mut net, lambda);
            const NAMES: [&str; 4] = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"];
            for name in NAMES {
                let analytic = net.grad(name).unwrap().to_vec();
                let mut values = net.param(name).unwrap().to_vec();
                let mut probe = Mlp::<f64>::new(0);
                for n in NAMES {
                    probe.assign(n, net.param(n).unwrap()).unwrap();
                }
                let mut scratch = vec![0.0; scores.len()];
                let numeric = numerical_gradient(
                    &mut values,
                    |v| {
                        probe.assign(name, v).unwrap();
                        let s = probe.forward(&x, Mode::Train).to_vec();
                        softmax_cross_entropy(&s, &labels, 3, &mut scratch).unwrap()
                            + reg.penalty(&probe, lambda)
                    },
                    1e-6,
                );
                let err = rel_error(&analytic, &numeric);
                assert!(err < 1e-6, "{reg} {name}: relative error {err:e}");
            }
        }
    }
}
