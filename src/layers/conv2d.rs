//! `Conv2d<IN_C, OUT_C, K, S, P>`: `H x W x IN_C` -> `((H + 2P - K) / S + 1) x ((W + 2P - K) / S + 1) x OUT_C`.
//!
//! Cross-correlation (no kernel flip) with zero padding `P` on every side; weight
//! `[K][K][IN_C][OUT_C]`, bias `[OUT_C]`. PyTorch equivalent: `nn.Conv2d(IN_C, OUT_C, K, S, P)`
//! (whose weight is laid out `[OUT_C][IN_C][K][K]`).

use crate::kernels::{self, ConvDims, conv};
use crate::layer::{
    Init, Layer, Mode, Param, ParamKind, ParamMut, fill_normal, visit_weight_and_bias,
    visit_weight_and_bias_mut,
};
use crate::shape::{ConvOut, Misfit, Problem, check_window, upstream_failed};
use crate::{Float, Shape};
use rand::rngs::StdRng;

/// A 2-D convolution with `OUT_C` filters of size `K x K` over `IN_C` channels, stride `S` and
/// zero padding `P`: weight `[K][K][IN_C][OUT_C]`, bias `[OUT_C]`, NHWC input and output.
///
/// ```
/// use constnet::layers::Conv2d;
/// let conv = Conv2d::<3, 16, 3, 1, 1>::default();
/// assert_eq!(conv.weight.len(), 3 * 3 * 3 * 16);
/// ```
#[derive(Debug, Clone)]
pub struct Conv2d<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    T: Float = f32,
    const BIAS: bool = true,
> {
    /// `[K][K][IN_C][OUT_C]`, row-major.
    pub weight: Vec<T>,
    /// `[OUT_C]`.
    pub bias: Vec<T>,
    /// Gradient of `weight` from the last backward pass.
    pub weight_grad: Vec<T>,
    /// Gradient of `bias` from the last backward pass.
    pub bias_grad: Vec<T>,
    /// The weights as `[K][K][OUT_C][IN_C]`, rewritten by each backward pass for the input
    /// gradient's inner loop; kept here so that backward does not allocate.
    weight_transposed: Vec<T>,
    /// A second partial sum of the weight gradient, for kernels that split the batch in two.
    weight_grad_partial: Vec<T>,
    /// The kernels' working memory (Winograd's transformed weights and sums for 3x3 stride-1
    /// layers of 16-128 channels; empty for the others), kept so that training does not
    /// allocate.
    scratch: Vec<T>,
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    T: Float,
    const BIAS: bool,
> Conv2d<IN_C, OUT_C, K, S, P, T, BIAS>
{
    const WEIGHT_SHAPE: &'static [usize] = &[K, K, IN_C, OUT_C];
    const BIAS_SHAPE: &'static [usize] = &[OUT_C];
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    T: Float,
    const BIAS: bool,
> Default for Conv2d<IN_C, OUT_C, K, S, P, T, BIAS>
{
    fn default() -> Self {
        Conv2d {
            weight: vec![T::ZERO; K * K * IN_C * OUT_C],
            bias: vec![T::ZERO; OUT_C],
            weight_grad: vec![T::ZERO; K * K * IN_C * OUT_C],
            bias_grad: vec![T::ZERO; OUT_C],
            weight_transposed: vec![T::ZERO; K * K * IN_C * OUT_C],
            weight_grad_partial: vec![T::ZERO; K * K * IN_C * OUT_C],
            scratch: vec![T::ZERO; conv::scratch_len::<T>(IN_C, OUT_C, K, S, P)],
        }
    }
}

impl<
    In,
    T,
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const BIAS: bool,
> Layer<In, T> for Conv2d<IN_C, OUT_C, K, S, P, T, BIAS>
where
    In: Shape,
    T: Float,
{
    type Out = ConvOut<In, OUT_C, K, S, P>;
    const KIND: &'static str = if BIAS { "Conv2d" } else { "Conv2dNoBias" };
    const ARGS: &'static [usize] = &[IN_C, OUT_C, K, S, P];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else if In::C != IN_C {
        Err(Misfit::new(
            <Self as Layer<In, T>>::KIND,
            <Self as Layer<In, T>>::ARGS,
            crate::shape::dims::<In>(),
            Problem::Channels { expected: IN_C },
        ))
    } else if OUT_C == 0 {
        Err(Misfit::new(
            <Self as Layer<In, T>>::KIND,
            <Self as Layer<In, T>>::ARGS,
            crate::shape::dims::<In>(),
            Problem::ZeroSize {
                what: "output channel count",
            },
        ))
    } else {
        check_window::<In>(
            <Self as Layer<In, T>>::KIND,
            <Self as Layer<In, T>>::ARGS,
            K,
            S,
            P,
        )
    };

    fn init(&mut self, init: Init, rng: &mut StdRng) {
        fill_normal(&mut self.weight, init.std(K * K * IN_C), rng);
        self.bias.fill(T::ZERO);
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, _mode: Mode) {
        let d = dims::<In, Self::Out>();
        conv::forward_batch::<T, IN_C, OUT_C, K, S, P>(
            d,
            batch,
            input,
            &self.weight,
            &self.bias,
            output,
            &mut self.scratch,
        );
    }

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, scratch: &mut [T]) {
        let d = dims::<In, Self::Out>();
        conv::forward_batch::<T, IN_C, OUT_C, K, S, P>(
            d,
            batch,
            input,
            &self.weight,
            &self.bias,
            output,
            scratch,
        );
    }

    fn infer_scratch(_batch: usize) -> usize {
        conv::forward_scratch_len::<T>(IN_C, OUT_C, K, S, P)
    }

    fn backward(
        &mut self,
        input: &[T],
        _output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        let d = dims::<In, Self::Out>();
        if BIAS {
            let bias_grad = &mut self.bias_grad;
            kernels::run(
                #[inline(always)]
                || conv::bias_grad::<T, OUT_C>(grad_output, bias_grad),
            );
        }
        // One task per block of rows of one kernel position: each owns a disjoint block of the
        // weight gradient and sums over the batch in a fixed order, so the result does not
        // depend on the thread count.
        conv::weight_grad_batch::<T, IN_C, OUT_C, K, S, P>(
            d,
            input,
            grad_output,
            &mut self.weight_grad,
            &mut self.weight_grad_partial,
            &mut self.scratch,
        );
        if let Some(grad_input) = grad_input {
            conv::input_grad_weights::<T, IN_C, OUT_C, K, S, P>(
                &self.weight,
                &mut self.weight_transposed,
            );
            conv::input_grad_batch::<T, IN_C, OUT_C, K, S, P>(
                d,
                batch,
                grad_output,
                &self.weight_transposed,
                grad_input,
                &mut self.scratch,
            );
        }
    }

    fn params<'a>(&'a self, f: &mut dyn FnMut(Param<'a, T>)) {
        if !BIAS {
            return f(Param {
                name: "weight",
                kind: ParamKind::Weight,
                shape: Self::WEIGHT_SHAPE,
                value: &self.weight,
                grad: &self.weight_grad,
            });
        }
        visit_weight_and_bias(
            f,
            [Self::WEIGHT_SHAPE, Self::BIAS_SHAPE],
            [&self.weight, &self.weight_grad, &self.bias, &self.bias_grad],
        );
    }

    fn params_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, T>)) {
        if !BIAS {
            return f(ParamMut {
                name: "weight",
                kind: ParamKind::Weight,
                shape: Self::WEIGHT_SHAPE,
                value: &mut self.weight,
                grad: &mut self.weight_grad,
            });
        }
        visit_weight_and_bias_mut(
            f,
            [Self::WEIGHT_SHAPE, Self::BIAS_SHAPE],
            [
                &mut self.weight,
                &mut self.weight_grad,
                &mut self.bias,
                &mut self.bias_grad,
            ],
        );
    }
}

/// The run-time sizes of a convolution from input shape `In` to output shape `Out`.
fn dims<In: Shape, Out: Shape>() -> ConvDims {
    ConvDims {
        h: In::H,
        w: In::W,
        oh: Out::H,
        ow: Out::W,
    }
}

impl<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    T: Float,
    const BIAS: bool,
    U: Float,
> crate::layer::WithFloat<U> for Conv2d<IN_C, OUT_C, K, S, P, T, BIAS>
{
    type Layer = Conv2d<IN_C, OUT_C, K, S, P, U, BIAS>;
}

/// A 2-D convolution without bias: `Conv2dNoBias<IN_C, OUT_C, K, S, P>`, the usual choice before
/// [`BatchNorm2d`](super::BatchNorm2d), whose shift makes a bias redundant. Its only parameter is
/// `weight` (`[K][K][IN_C][OUT_C]`); the `bias` field stays zero. PyTorch equivalent:
/// `nn.Conv2d(IN_C, OUT_C, K, S, P, bias=False)`.
///
/// ```
/// use constnet::layers::Conv2dNoBias;
/// use constnet::{Image, Layer};
/// let conv = Conv2dNoBias::<16, 32, 1, 2, 0>::default();
/// let mut names = Vec::new();
/// Layer::<Image<8, 8, 16>, f32>::params(&conv, &mut |p| names.push(p.name));
/// assert_eq!(names, ["weight"]);
/// ```
pub type Conv2dNoBias<
    const IN_C: usize,
    const OUT_C: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    T = f32,
> = Conv2d<IN_C, OUT_C, K, S, P, T, false>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Image;
    use crate::grad_check::check_layer;

    /// Gradient checks (f64) over strides 1-3, paddings 0-2, kernels 1-5, several channels,
    /// batch > 1.
    #[test]
    fn gradients_match_numerical_ones() {
        check_layer::<Image<5, 5, 2>, Conv2d<2, 3, 1, 1, 0, f64>>(3, 1);
        check_layer::<Image<6, 5, 3>, Conv2d<3, 4, 2, 2, 1, f64>>(2, 2);
        check_layer::<Image<7, 7, 2>, Conv2d<2, 3, 3, 3, 2, f64>>(2, 3);
        check_layer::<Image<8, 8, 3>, Conv2d<3, 12, 4, 2, 1, f64>>(2, 4);
        check_layer::<Image<6, 7, 2>, Conv2d<2, 2, 5, 1, 2, f64>>(2, 5);
        check_layer::<Image<9, 9, 1>, Conv2d<1, 5, 3, 2, 0, f64>>(3, 6);
    }

    #[test]
    fn fit_reports_channels_and_windows() {
        type C = Conv2d<16, 32, 3, 2, 0>;
        let misfit = <C as Layer<Image<32, 32, 15>, f32>>::FIT.unwrap_err();
        assert_eq!(misfit.problem, Problem::Channels { expected: 16 });
        assert_eq!(misfit.input, [32, 32, 15]);
        assert!(<C as Layer<Image<32, 32, 16>, f32>>::FIT.is_ok());
        let misfit = <Conv2d<1, 1, 5, 1, 0> as Layer<Image<4, 4, 1>, f32>>::FIT.unwrap_err();
        assert_eq!(
            misfit.problem,
            Problem::WindowTooLarge {
                window: 5,
                padding: 0
            }
        );
    }
}
