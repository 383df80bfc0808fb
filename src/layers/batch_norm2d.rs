//! `BatchNorm2d<C>`: `H x W x C` -> `H x W x C`, each channel normalised over batch, height and
//! width, then scaled and shifted; `BatchNorm2dRelu<C>` the same followed by a ReLU, fused.
//!
//! Training uses the batch's mean and (biased) variance and updates running statistics
//! (momentum 0.1, unbiased variance, as PyTorch); evaluation uses the running statistics.
//! Parameters as PyTorch names them: `weight` (scale), `bias` (shift), `running_mean`,
//! `running_var`. PyTorch equivalent: `nn.BatchNorm2d(C)` (then `nn.ReLU()`).

use crate::kernels::batch_norm;
use crate::layer::{Init, Layer, Mode, Param, ParamKind, ParamMut};
use crate::shape::{Misfit, Problem, dims, upstream_failed};
use crate::{Float, Shape};
use rand::rngs::StdRng;

/// Batch normalisation over the `C` channels of an image; with `RELU`, followed by a ReLU in
/// the same passes (see [`BatchNorm2dRelu`]).
#[derive(Debug, Clone)]
pub struct BatchNorm2d<const C: usize, T: Float = f32, const RELU: bool = false> {
    /// Scale (gamma), `[C]`, 1 at init.
    pub weight: Vec<T>,
    /// Shift (beta), `[C]`, 0 at init.
    pub bias: Vec<T>,
    /// Gradient of `weight`.
    pub weight_grad: Vec<T>,
    /// Gradient of `bias`.
    pub bias_grad: Vec<T>,
    /// Running mean, `[C]`, used in evaluation.
    pub running_mean: Vec<T>,
    /// Running (unbiased) variance, `[C]`, used in evaluation.
    pub running_var: Vec<T>,
    momentum: f64,
    eps: f64,
    mean: Vec<T>,
    inv_std: Vec<T>,
    batch_statistics: bool,
    /// `[scale, shift]` of the last forward pass's normalisation (the fused ReLU's backward
    /// recomputes the normalised values from them).
    normalization: [[T; C]; 2],
    /// Each sample's statistics or gradient sums (`2 * batch * C`), reused.
    scratch: Vec<T>,
}

/// `BatchNorm2d<C>` then `Relu`, fused: `relu(x * scale + shift)` in one pass over memory, and
/// the ReLU's backward folded into BatchNorm's two passes (the normalised values recomputed
/// with the forward pass's fused multiply-add), with no buffer between the two. Bit for bit
/// the results of the two layers, in `f32` and `f64`, under every instruction set. The same
/// parameters and names as [`BatchNorm2d`] (`weight`, `bias`, `running_mean`, `running_var`),
/// so PyTorch's `bn1` loads into it. PyTorch equivalent: `nn.BatchNorm2d(C)` then `nn.ReLU()`.
///
/// `constnet::models::ResNet20` uses it after every convolution that a ReLU follows (its
/// effect on a training step: BENCHMARKS.md, session 10).
///
/// ```
/// use constnet::layers::{BatchNorm2d, BatchNorm2dRelu, Relu};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! {
///     pub struct Fused { input: Image<4, 4, 8>, bn: BatchNorm2dRelu<8> }
/// }
/// net! {
///     pub struct Apart { input: Image<4, 4, 8>, bn: BatchNorm2d<8>, relu: Relu }
/// }
///
/// let data = (0..2 * 4 * 4 * 8).map(|i| (i as f32 * 0.37).sin()).collect();
/// let x = Tensor::<Image<4, 4, 8>>::from_vec(2, data).unwrap();
/// let (mut fused, mut apart) = (Fused::<f32>::new(0), Apart::<f32>::new(0));
/// assert_eq!(fused.forward(&x, Mode::Train), apart.forward(&x, Mode::Train));
/// assert!(fused.param("bn.running_var").is_some());
/// ```
pub type BatchNorm2dRelu<const C: usize, T = f32> = BatchNorm2d<C, T, true>;

impl<const C: usize, T: Float, const RELU: bool> BatchNorm2d<C, T, RELU> {
    const SHAPE: &'static [usize] = &[C];

    /// Batch normalisation with the given `momentum` (the newest batch's weight in the running
    /// statistics; PyTorch's default and ours: 0.1) and `eps` (added to the variance before the
    /// square root; 1e-5), given where the layer is declared:
    /// `bn: BatchNorm2d<16> = BatchNorm2d::new(0.01, 1e-3)`.
    ///
    /// # Panics
    /// If `momentum` is not in `[0, 1]` or `eps` is negative or not finite.
    pub fn new(momentum: f64, eps: f64) -> Self {
        assert!(
            (0.0..=1.0).contains(&momentum) && eps.is_finite() && eps >= 0.0,
            "BatchNorm2d::new({momentum}, {eps}): momentum must be in [0, 1] and eps finite and not negative"
        );
        BatchNorm2d {
            momentum,
            eps,
            ..Self::default()
        }
    }

    /// The weight of the newest batch in the running statistics.
    pub fn momentum(&self) -> f64 {
        self.momentum
    }

    /// The value added to the variance before the square root.
    pub fn eps(&self) -> f64 {
        self.eps
    }
}

impl<const C: usize, T: Float, const RELU: bool> Default for BatchNorm2d<C, T, RELU> {
    fn default() -> Self {
        BatchNorm2d {
            weight: vec![T::ONE; C],
            bias: vec![T::ZERO; C],
            weight_grad: vec![T::ZERO; C],
            bias_grad: vec![T::ZERO; C],
            running_mean: vec![T::ZERO; C],
            running_var: vec![T::ONE; C],
            momentum: 0.1,
            eps: 1e-5,
            mean: vec![T::ZERO; C],
            inv_std: vec![T::ONE; C],
            batch_statistics: false,
            normalization: [[T::ONE; C], [T::ZERO; C]],
            scratch: Vec::new(),
        }
    }
}

// Several per-channel arrays are read and written together: indexing by channel reads best.
#[allow(clippy::needless_range_loop)]
impl<In: Shape, T: Float, const C: usize, const RELU: bool> Layer<In, T>
    for BatchNorm2d<C, T, RELU>
{
    type Out = In;
    const KIND: &'static str = if RELU {
        "BatchNorm2dRelu"
    } else {
        "BatchNorm2d"
    };
    const ARGS: &'static [usize] = &[C];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() || In::C == C {
        Ok(())
    } else {
        Err(Misfit::new(
            <Self as Layer<In, T>>::KIND,
            &[C],
            dims::<In>(),
            Problem::Channels { expected: C },
        ))
    };

    fn signature(&self) -> String {
        format!(
            "{}<{C}>(momentum = {}, eps = {:e})",
            <Self as Layer<In, T>>::KIND,
            self.momentum,
            self.eps
        )
    }

    fn init(&mut self, _init: Init, _rng: &mut StdRng) {
        let momentum = self.momentum;
        let eps = self.eps;
        *self = BatchNorm2d {
            momentum,
            eps,
            ..Self::default()
        };
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: Mode) {
        let eps = T::from_f64(self.eps);
        self.batch_statistics = mode == Mode::Train;
        if input.is_empty() {
            return;
        }
        if self.batch_statistics {
            let count = input.len() / C;
            let n = T::from_f64(count as f64);
            self.scratch.resize(2 * batch * C, T::ZERO);
            let mut var = [T::ZERO; C];
            batch_norm::batch_stats::<T, C>(
                input,
                batch,
                &mut self.scratch,
                &mut self.mean,
                &mut var,
            );
            batch_norm::inv_std(&var, eps, &mut self.inv_std);
            let momentum = T::from_f64(self.momentum);
            let unbias = if count > 1 { n / (n - T::ONE) } else { T::ONE };
            for c in 0..C {
                self.running_mean[c] =
                    (T::ONE - momentum) * self.running_mean[c] + momentum * self.mean[c];
                self.running_var[c] =
                    (T::ONE - momentum) * self.running_var[c] + momentum * var[c] * unbias;
            }
        } else {
            self.mean.copy_from_slice(&self.running_mean);
            batch_norm::inv_std(&self.running_var, eps, &mut self.inv_std);
        }
        self.normalization =
            batch_norm::scale_shift::<T, C>(&self.weight, &self.bias, &self.mean, &self.inv_std);
        let [scale, shift] = &self.normalization;
        batch_norm::normalize_batch::<T, C, RELU>(input, output, scale, shift);
    }

    /// With the running statistics, as evaluation-mode `forward` (the same operations).
    fn infer(&self, input: &[T], output: &mut [T], _batch: usize, _scratch: &mut [T]) {
        let mut inv_std = [T::ONE; C];
        batch_norm::inv_std(&self.running_var, T::from_f64(self.eps), &mut inv_std);
        let [scale, shift] =
            batch_norm::scale_shift::<T, C>(&self.weight, &self.bias, &self.running_mean, &inv_std);
        batch_norm::normalize_batch::<T, C, RELU>(input, output, &scale, &shift);
    }

    fn backward(
        &mut self,
        input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        if input.is_empty() {
            self.weight_grad.fill(T::ZERO);
            self.bias_grad.fill(T::ZERO);
            return;
        }
        self.scratch.resize(2 * batch * C, T::ZERO);
        batch_norm::param_grads::<T, C, RELU>(
            input,
            grad_output,
            batch,
            &self.mean,
            &self.inv_std,
            &self.normalization,
            &mut self.scratch,
            &mut self.weight_grad,
            &mut self.bias_grad,
        );
        let Some(grad_input) = grad_input else { return };
        let coef = batch_norm::input_grad_coefficients::<T, C>(
            &self.weight,
            &self.mean,
            &self.inv_std,
            &self.weight_grad,
            &self.bias_grad,
            input.len() / C,
            self.batch_statistics,
        );
        batch_norm::input_grad_batch::<T, C, RELU>(
            input,
            grad_output,
            grad_input,
            &coef,
            &self.normalization,
        );
    }

    fn params<'a>(&'a self, f: &mut dyn FnMut(Param<'a, T>)) {
        let param = |name, kind, value: &'a [T], grad: &'a [T]| Param {
            name,
            kind,
            shape: Self::SHAPE,
            value,
            grad,
        };
        f(param(
            "weight",
            ParamKind::Bias,
            &self.weight,
            &self.weight_grad,
        ));
        f(param("bias", ParamKind::Bias, &self.bias, &self.bias_grad));
        f(param(
            "running_mean",
            ParamKind::Buffer,
            &self.running_mean,
            &[],
        ));
        f(param(
            "running_var",
            ParamKind::Buffer,
            &self.running_var,
            &[],
        ));
    }

    fn params_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, T>)) {
        let shape = Self::SHAPE;
        f(ParamMut {
            name: "weight",
            kind: ParamKind::Bias,
            shape,
            value: &mut self.weight,
            grad: &mut self.weight_grad,
        });
        f(ParamMut {
            name: "bias",
            kind: ParamKind::Bias,
            shape,
            value: &mut self.bias,
            grad: &mut self.bias_grad,
        });
        f(ParamMut {
            name: "running_mean",
            kind: ParamKind::Buffer,
            shape,
            value: &mut self.running_mean,
            grad: &mut [],
        });
        f(ParamMut {
            name: "running_var",
            kind: ParamKind::Buffer,
            shape,
            value: &mut self.running_var,
            grad: &mut [],
        });
    }
}

impl<const C: usize, T: Float, U: Float, const RELU: bool> crate::layer::WithFloat<U>
    for BatchNorm2d<C, T, RELU>
{
    type Layer = BatchNorm2d<C, U, RELU>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    #[test]
    fn gradients_match_numerical_ones_in_training() {
        check_layer::<Image<3, 3, 4>, BatchNorm2d<4, f64>>(3, 1);
        check_layer::<Image<2, 5, 2>, BatchNorm2d<2, f64>>(4, 2);
    }

    #[test]
    fn fused_relu_gradients_match_numerical_ones() {
        check_layer::<Image<3, 3, 4>, BatchNorm2dRelu<4, f64>>(3, 1);
        check_layer::<Image<2, 5, 2>, BatchNorm2dRelu<2, f64>>(4, 2);
    }

    /// `BatchNorm2dRelu` gives the bits of `BatchNorm2d` then `Relu`: forward in training and
    /// evaluation, `infer`, the parameter and input gradients, the running statistics (16
    /// channels: the vector kernels; 5: the generic ones).
    #[test]
    fn fused_relu_is_batch_norm_then_relu() {
        fn check<const C: usize>() {
            use crate::layers::Relu;
            type S<const C: usize> = Image<3, 5, C>;
            let batch = 3;
            let n = batch * 15 * C;
            let x: Vec<f32> = (0..n)
                .map(|i| (i as f32 * 0.37).sin() * 2.0 + 0.3)
                .collect();
            let dy: Vec<f32> = (0..n).map(|i| (i as f32 * 0.91).cos()).collect();
            let mut fused = BatchNorm2dRelu::<C>::default();
            let mut bn = BatchNorm2d::<C>::default();
            for (c, (w, b)) in fused.weight.iter_mut().zip(&mut fused.bias).enumerate() {
                *w = 1.0 + 0.1 * c as f32;
                *b = 0.2 - 0.05 * c as f32;
            }
            bn.weight.clone_from(&fused.weight);
            bn.bias.clone_from(&fused.bias);
            let mut relu = Relu::<f32>::default();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for mode in [Mode::Train, Mode::Eval, Mode::Train] {
                let (mut y, mut z, mut want) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                <BatchNorm2dRelu<C> as Layer<S<C>, f32>>::forward(
                    &mut fused, &x, &mut y, batch, mode,
                );
                <BatchNorm2d<C> as Layer<S<C>, f32>>::forward(&mut bn, &x, &mut z, batch, mode);
                <Relu as Layer<S<C>, f32>>::forward(&mut relu, &z, &mut want, batch, mode);
                assert_eq!(bits(&y), bits(&want), "forward {mode:?}, {C} channels");
                assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0));
                let (mut dx, mut dz, mut want_dx) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
                <BatchNorm2dRelu<C> as Layer<S<C>, f32>>::backward(
                    &mut fused,
                    &x,
                    &y,
                    &dy,
                    Some(&mut dx),
                    batch,
                );
                <Relu as Layer<S<C>, f32>>::backward(
                    &mut relu,
                    &z,
                    &want,
                    &dy,
                    Some(&mut dz),
                    batch,
                );
                <BatchNorm2d<C> as Layer<S<C>, f32>>::backward(
                    &mut bn,
                    &x,
                    &z,
                    &dz,
                    Some(&mut want_dx),
                    batch,
                );
                assert_eq!(bits(&dx), bits(&want_dx), "input gradient {mode:?}");
                assert_eq!(bits(&fused.weight_grad), bits(&bn.weight_grad));
                assert_eq!(bits(&fused.bias_grad), bits(&bn.bias_grad));
                assert_eq!(bits(&fused.running_mean), bits(&bn.running_mean));
                assert_eq!(bits(&fused.running_var), bits(&bn.running_var));
            }
            let (mut y, mut z, mut want) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            <BatchNorm2dRelu<C> as Layer<S<C>, f32>>::infer(&fused, &x, &mut y, batch, &mut []);
            <BatchNorm2d<C> as Layer<S<C>, f32>>::infer(&bn, &x, &mut z, batch, &mut []);
            <Relu as Layer<S<C>, f32>>::infer(&relu, &z, &mut want, batch, &mut []);
            assert_eq!(bits(&y), bits(&want), "infer");
            assert_eq!(
                <BatchNorm2dRelu<C> as Layer<S<C>, f32>>::signature(&fused),
                format!("BatchNorm2dRelu<{C}>(momentum = 0.1, eps = 1e-5)")
            );
        }
        check::<16>();
        check::<5>();
    }

    #[test]
    fn normalises_per_channel_and_tracks_running_statistics() {
        type L = BatchNorm2d<2, f64>;
        let mut bn = L::default();
        // Channel 0: 1, 3, 5, 7 (mean 4, variance 5); channel 1: all 2.
        let x = [1.0, 2.0, 3.0, 2.0, 5.0, 2.0, 7.0, 2.0];
        let mut y = [0.0; 8];
        <L as Layer<Image<2, 1, 2>, f64>>::forward(&mut bn, &x, &mut y, 2, Mode::Train);
        let s = (5.0_f64 + 1e-5).sqrt();
        assert!((y[0] + 3.0 / s).abs() < 1e-12 && (y[6] - 3.0 / s).abs() < 1e-12);
        assert_eq!(y[1], 0.0);
        assert!((bn.running_mean[0] - 0.4).abs() < 1e-12);
        assert!((bn.running_var[0] - (0.9 + 0.1 * 5.0 * 4.0 / 3.0)).abs() < 1e-12);
        <L as Layer<Image<2, 1, 2>, f64>>::forward(&mut bn, &x, &mut y, 2, Mode::Eval);
        assert!((y[0] - (1.0 - 0.4) / (bn.running_var[0] + 1e-5).sqrt()).abs() < 1e-12);
    }
}
