//! `ResidualProj<F, P, A>`: `H x W x C` -> `A(F(x) + P(x))`, where the branch `F` and the
//! projection shortcut `P` give the same shape.
//!
//! The residual connection of a block that changes the shape (He et al. 2016, option B): the
//! shortcut is e.g. a 1x1 convolution with the branch's stride, then BatchNorm. The branch's
//! parameters are named as the block's own and the shortcut's under `downsample`, as
//! torchvision's ResNet names them (`layer2.0.conv1.weight`, `layer2.0.downsample.0.weight`).
//! If the two give different shapes, `cargo check` fails:
//! ``layer `layer2.0`: the branch gives 16x16x32 but the shortcut gives 32x32x32``.
//! PyTorch equivalent: `F(x) + downsample(x)` in a module's `forward`.

use super::Identity;
use super::sum::{add_assign, add_into, add_relu_into, grad_of_sum, is_relu};
use crate::layer::{Init, Layer, Mode, NamePath, Param, ParamMut, Segment};
use crate::network::{GradPool, LayerInfo, container_row, describe_transparent, resize_fresh};
use crate::shape::{IfFits, Misfit, Problem, dims, same_dims, upstream_failed};
use crate::{Float, Shape};
use rand::rngs::StdRng;

/// The shortcut's name in parameter paths, as torchvision's.
const SHORTCUT: &str = "downsample";

/// `A(F(x) + P(x))`: a residual connection with the projection shortcut `P`.
///
/// ```
/// use constnet::layers::{BatchNorm2d, Conv2dNoBias, Relu, ResidualProj};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! {
///     pub struct Branch {
///         conv1: Conv2dNoBias<4, 8, 3, 2, 1>,
///         bn1: BatchNorm2d<8>,
///     }
/// }
/// net! {
///     pub struct Projection {
///         0: Conv2dNoBias<4, 8, 1, 2, 0>,
///         1: BatchNorm2d<8>,
///     }
/// }
/// net! {
///     pub struct Net {
///         input: Image<8, 8, 4>,
///         block: ResidualProj<Branch, Projection, Relu>,   // 4x4x8
///     }
/// }
///
/// let mut net = Net::<f32>::new(1);
/// assert_eq!(net.forward(&Tensor::<Image<8, 8, 4>>::zeros(1), Mode::Eval).len(), 4 * 4 * 8);
/// assert!(net.param("block.downsample.0.weight").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct ResidualProj<F, P, A = Identity, T: Float = f32> {
    /// The branch `F`.
    pub branch: F,
    /// The projection shortcut `P`.
    pub shortcut: P,
    /// The activation after the addition.
    pub post: A,
    branch_out: Vec<T>,
    shortcut_out: Vec<T>,
    sum: Vec<T>,
    /// The buffers of a backward pass outside any container's (see [`GradPool`]).
    pool: GradPool<T>,
}

impl<In, T, F, P, A> Layer<In, T> for ResidualProj<F, P, A, T>
where
    In: Shape,
    T: Float,
    F: Layer<In, T> + 'static,
    P: Layer<In, T> + 'static,
    A: Layer<F::Out, T> + 'static,
{
    type Out = IfFits<A::Out, Self, In, T>;
    const KIND: &'static str = "ResidualProj";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else if let Err(misfit) = F::FIT {
        Err(misfit)
    } else if let Err(misfit) = P::FIT {
        Err(misfit.within(SHORTCUT))
    } else if !same_dims::<F::Out, P::Out>() {
        Err(Misfit::new(
            "ResidualProj",
            &[],
            dims::<In>(),
            Problem::BranchMismatch {
                branch: dims::<F::Out>(),
                shortcut: dims::<P::Out>(),
            },
        ))
    } else {
        A::FIT
    };

    fn init(&mut self, init: Init, rng: &mut StdRng) {
        self.branch.init(init, rng);
        self.shortcut.init(init, rng);
        self.post.init(init, rng);
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: Mode) {
        let len = batch * F::Out::LEN;
        resize_fresh(&mut self.branch_out, len);
        self.branch
            .forward(input, &mut self.branch_out, batch, mode);
        resize_fresh(&mut self.shortcut_out, len);
        self.shortcut
            .forward(input, &mut self.shortcut_out, batch, mode);
        if is_relu::<A, T>() {
            // One pass, and no sum kept: ReLU's backward reads its output.
            add_relu_into(&self.branch_out, &self.shortcut_out, output);
        } else {
            resize_fresh(&mut self.sum, len);
            add_into(&self.branch_out, &self.shortcut_out, &mut self.sum);
            self.post.forward(&self.sum, output, batch, mode);
        }
    }

    fn infer(&self, input: &[T], output: &mut [T], batch: usize, scratch: &mut [T]) {
        self.infer_tapped(
            input,
            output,
            batch,
            scratch,
            &mut NamePath::root(),
            &mut |_, _| {},
        );
    }

    /// The branch's output (which then becomes the sum) and the shortcut's, then the
    /// children's scratch.
    fn infer_scratch(batch: usize) -> usize {
        2 * batch * F::Out::LEN
            + F::infer_scratch(batch)
                .max(P::infer_scratch(batch))
                .max(A::infer_scratch(batch))
    }

    fn infer_tapped(
        &self,
        input: &[T],
        output: &mut [T],
        batch: usize,
        scratch: &mut [T],
        path: &mut NamePath,
        tap: &mut crate::layer::Tap<'_, T>,
    ) {
        let len = batch * F::Out::LEN;
        let (sum, rest) = scratch.split_at_mut(len);
        let (shortcut, inner) = rest.split_at_mut(len);
        self.branch
            .infer_tapped(input, sum, batch, inner, path, tap);
        path.push(Segment::Name(SHORTCUT));
        self.shortcut
            .infer_tapped(input, shortcut, batch, inner, path, tap);
        path.pop();
        // `branch + shortcut`, in the order of `forward`'s `add_into`.
        add_assign(sum, shortcut);
        self.post.infer_tapped(sum, output, batch, inner, path, tap);
        tap(path, output);
    }

    fn backward(
        &mut self,
        input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    ) {
        let mut pool = std::mem::take(&mut self.pool);
        self.backward_pooled(input, output, grad_output, grad_input, batch, &mut pool);
        self.pool = pool;
    }

    fn backward_pooled(
        &mut self,
        input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
        pool: &mut GradPool<T>,
    ) {
        let sum_buffer = grad_of_sum::<A, F::Out, T>(
            &mut self.post,
            &self.sum,
            output,
            grad_output,
            batch,
            pool,
        );
        let grad_sum = &sum_buffer[..output.len()];
        match grad_input {
            Some(grad_input) => {
                self.branch.backward_pooled(
                    input,
                    &self.branch_out,
                    grad_sum,
                    Some(&mut *grad_input),
                    batch,
                    pool,
                );
                let mut shortcut_buffer = pool.take(input.len());
                let grad_shortcut = &mut shortcut_buffer[..input.len()];
                self.shortcut.backward_pooled(
                    input,
                    &self.shortcut_out,
                    grad_sum,
                    Some(&mut *grad_shortcut),
                    batch,
                    pool,
                );
                add_assign(grad_input, grad_shortcut);
                pool.give(shortcut_buffer);
            }
            None => {
                self.branch
                    .backward_pooled(input, &self.branch_out, grad_sum, None, batch, pool);
                self.shortcut.backward_pooled(
                    input,
                    &self.shortcut_out,
                    grad_sum,
                    None,
                    batch,
                    pool,
                );
            }
        }
        pool.give(sum_buffer);
    }

    fn visit_params<'a>(&'a self, path: &mut NamePath, f: &mut dyn FnMut(&NamePath, Param<'a, T>)) {
        self.branch.visit_params(path, f);
        path.push(Segment::Name(SHORTCUT));
        self.shortcut.visit_params(path, f);
        path.pop();
        self.post.visit_params(path, f);
    }

    fn visit_params_mut<'a>(
        &'a mut self,
        path: &mut NamePath,
        f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>),
    ) {
        self.branch.visit_params_mut(path, f);
        path.push(Segment::Name(SHORTCUT));
        self.shortcut.visit_params_mut(path, f);
        path.pop();
        self.post.visit_params_mut(path, f);
    }

    fn signature(&self) -> String {
        let (branch, shortcut, post) = (
            self.branch.signature(),
            self.shortcut.signature(),
            self.post.signature(),
        );
        if post == "Identity" {
            format!("ResidualProj<{branch}, {shortcut}>")
        } else {
            format!("ResidualProj<{branch}, {shortcut}, {post}>")
        }
    }

    fn describe(&self, path: &mut NamePath, rows: &mut Vec<LayerInfo>) {
        container_row::<In, T, Self>(self, path, rows);
        describe_transparent(&self.branch, path, rows);
        path.push(Segment::Name(SHORTCUT));
        self.shortcut.describe(path, rows);
        path.pop();
    }
}

impl<F, P, A, T, U> crate::layer::WithFloat<U> for ResidualProj<F, P, A, T>
where
    F: crate::layer::WithFloat<U>,
    P: crate::layer::WithFloat<U>,
    A: crate::layer::WithFloat<U>,
    T: Float,
    U: Float,
{
    type Layer = ResidualProj<F::Layer, P::Layer, A::Layer, U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::{check_composed, layer_gradient_errors};
    use crate::layers::{BatchNorm2d, Conv2dNoBias, Relu, Tanh};
    use crate::{Image, net};

    net! {
        struct Branch {
            conv1: Conv2dNoBias<2, 4, 3, 2, 1>,
            bn1: BatchNorm2d<4>,
            act: Tanh,
        }
    }
    net! {
        struct Projection {
            0: Conv2dNoBias<2, 4, 1, 2, 0>,
            1: BatchNorm2d<4>,
        }
    }

    #[test]
    fn gradients_match_numerical_ones() {
        type Block = ResidualProj<Branch<f64>, Projection<f64>, Tanh<f64>, f64>;
        check_composed::<Image<6, 5, 2>, Block>(3, 1, 1e-6);
        let names: Vec<String> = layer_gradient_errors::<Image<6, 5, 2>, Block>(2, 2)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "input",
                "conv1.weight",
                "bn1.weight",
                "bn1.bias",
                "downsample.0.weight",
                "downsample.1.weight",
                "downsample.1.bias"
            ]
        );
    }

    #[test]
    fn branch_and_shortcut_must_agree() {
        type Unstrided = ResidualProj<Branch, Conv2dNoBias<2, 4, 1, 1, 0>, Relu>;
        let misfit = <Unstrided as Layer<Image<8, 8, 2>, f32>>::FIT.unwrap_err();
        assert_eq!(
            misfit.within("layer2").within("0").report().to_str(),
            "layer `0.layer2`: the branch gives 4x4x4 but the shortcut gives 8x8x4"
        );
    }
}
