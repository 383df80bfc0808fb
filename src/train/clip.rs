//! Gradient clipping by global norm, as PyTorch's `torch.nn.utils.clip_grad_norm_`.

use crate::{Float, Network, ParamKind};

/// Rescales the gradients of every trained parameter of `net` (buffers have none) so that
/// their global L2 norm is at most `max_norm`, and returns the norm before clipping.
///
/// As PyTorch's `clip_grad_norm_(parameters, max_norm)` (norm type 2): the total norm is
/// `sqrt(sum of g^2)` over all gradients, and when `max_norm / (total + 1e-6)` is below 1 every
/// gradient is multiplied by it. The sum runs in f64, in the network's parameter order, so the
/// result does not depend on the thread count. A NaN or infinite norm leaves the gradients as
/// they are (the training loop stops on them before clipping).
///
/// ```
/// use constnet::layers::Linear;
/// use constnet::train::clip_grad_norm;
/// use constnet::{Image, Network, net};
/// net! { struct Tiny { input: Image<1, 1, 1>, fc: Linear<1, 1> } }
/// let mut net = Tiny::<f64>::new(0);
/// net.params_mut(&mut |_, p| p.grad[0] = if p.name == "weight" { 3.0 } else { 4.0 });
/// assert_eq!(clip_grad_norm(&mut net, 1.0), 5.0);
/// let mut grads = Vec::new();
/// net.params(&mut |_, p| grads.push(p.grad[0]));
/// let coef = 1.0 / (5.0 + 1e-6);
/// assert_eq!(grads, [3.0 * coef, 4.0 * coef]);
/// ```
pub fn clip_grad_norm<T: Float, N: Network<T> + ?Sized>(net: &mut N, max_norm: f64) -> f64 {
    let mut sum = 0.0f64;
    net.params(&mut |_, p| {
        if p.kind != ParamKind::Buffer {
            for &g in p.grad {
                let g = g.to_f64();
                sum += g * g;
            }
        }
    });
    let total = sum.sqrt();
    let coef = max_norm / (total + 1e-6);
    if total.is_finite() && coef < 1.0 {
        let coef = T::from_f64(coef);
        net.params_mut(&mut |_, p| {
            if p.kind != ParamKind::Buffer {
                for g in p.grad.iter_mut() {
                    *g *= coef;
                }
            }
        });
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{BatchNorm2d, Linear};
    use crate::{Image, net};

    net! {
        struct Two {
            input: Image<1, 1, 2>,
            fc: Linear<2, 1>,
            bn: BatchNorm2d<1>,
        }
    }

    fn set(net: &mut Two<f32>, weight: [f32; 2], bias: f32) {
        net.params_mut(&mut |layer, p| match (layer.to_string().as_str(), p.name) {
            ("fc", "weight") => p.grad.copy_from_slice(&weight),
            ("fc", "bias") => p.grad[0] = bias,
            _ => p.grad.fill(0.0),
        });
    }

    fn grads(net: &Two<f32>) -> Vec<f32> {
        let mut all = Vec::new();
        net.params(&mut |_, p| all.extend_from_slice(p.grad));
        all
    }

    #[test]
    fn clips_to_the_global_norm() {
        let mut net = Two::<f32>::new(0);
        // Norm sqrt(1 + 4 + 4) = 3 over two parameters (and zero BatchNorm gradients).
        set(&mut net, [1.0, -2.0], 2.0);
        assert_eq!(clip_grad_norm(&mut net, 1.5), 3.0);
        let c = (1.5 / (3.0 + 1e-6)) as f32;
        assert_eq!(grads(&net), [c, -2.0 * c, 2.0 * c, 0.0, 0.0]);
        assert_eq!(net.param("bn.running_var").unwrap(), &[1.0]);
    }

    #[test]
    fn leaves_small_gradients_alone() {
        let mut net = Two::<f32>::new(0);
        set(&mut net, [1.0, -2.0], 2.0);
        // 3 / (3 + 1e-6) < 1 is not clipped only when the limit is at least 3 + 1e-6.
        assert_eq!(clip_grad_norm(&mut net, 3.1), 3.0);
        assert_eq!(grads(&net), [1.0, -2.0, 2.0, 0.0, 0.0]);
    }
}
