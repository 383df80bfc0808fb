//! `Residual<F, A>`: `H x W x C` -> `A(F(x) + x)`, where the branch `F` keeps the shape.
//!
//! A skip connection with an identity shortcut (He et al. 2016), followed by the activation `A`
//! ([`Identity`] by default; ReLU in a ResNet basic block). The branch's parameters are named as
//! the residual's own (`layer1.0.conv1.weight`, as torchvision names a basic block's), since a
//! residual connection adds no parameters. If the branch changes the shape, `cargo check` fails:
//! ``layer `layer2.0`: the branch gives 16x16x32 but the shortcut gives 32x32x16``; use
//! [`ResidualProj`](super::ResidualProj) there. PyTorch equivalent: `F(x) + x` in a module's
//! `forward`.

use super::Identity;
use super::sum::{add_assign, add_into, add_relu_into, grad_of_sum, is_relu};
use crate::layer::{Init, Layer, Mode, NamePath, Param, ParamMut};
use crate::network::{GradPool, LayerInfo, container_row, describe_transparent, resize_fresh};
use crate::shape::{IfFits, Misfit, Problem, dims, same_dims, upstream_failed};
use crate::{Float, Shape};
use rand::rngs::StdRng;

/// `A(F(x) + x)`: a residual connection around the branch `F`, then the activation `A`.
///
/// ```
/// use constnet::layers::{BatchNorm2d, Conv2dNoBias, Relu, Residual};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! {
///     /// conv-BN-ReLU-conv-BN, keeping 8 channels.
///     pub struct Branch {
///         conv1: Conv2dNoBias<8, 8, 3, 1, 1>,
///         bn1: BatchNorm2d<8>,
///         relu: Relu,
///         conv2: Conv2dNoBias<8, 8, 3, 1, 1>,
///         bn2: BatchNorm2d<8>,
///     }
/// }
///
/// net! {
///     pub struct Net {
///         input: Image<6, 6, 8>,
///         block: Residual<Branch, Relu>,   // relu(branch(x) + x)
///     }
/// }
///
/// let mut net = Net::<f32>::new(1);
/// let y = net.forward(&Tensor::<Image<6, 6, 8>>::zeros(2), Mode::Eval);
/// assert_eq!(y.len(), 2 * 6 * 6 * 8);
/// assert!(net.param("block.conv1.weight").is_some());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Residual<F, A = Identity, T: Float = f32> {
    /// The branch `F`.
    pub branch: F,
    /// The activation after the addition.
    pub post: A,
    branch_out: Vec<T>,
    sum: Vec<T>,
    /// The buffers of a backward pass outside any container's (see [`GradPool`]).
    pool: GradPool<T>,
}

impl<In, T, F, A> Layer<In, T> for Residual<F, A, T>
where
    In: Shape,
    T: Float,
    F: Layer<In, T> + 'static,
    A: Layer<F::Out, T> + 'static,
{
    type Out = IfFits<A::Out, Self, In, T>;
    const KIND: &'static str = "Residual";
    const ARGS: &'static [usize] = &[];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else if let Err(misfit) = F::FIT {
        Err(misfit)
    } else if !same_dims::<F::Out, In>() {
        Err(Misfit::new(
            "Residual",
            &[],
            dims::<In>(),
            Problem::BranchMismatch {
                branch: dims::<F::Out>(),
                shortcut: dims::<In>(),
            },
        ))
    } else {
        A::FIT
    };

    fn init(&mut self, init: Init, rng: &mut StdRng) {
        self.branch.init(init, rng);
        self.post.init(init, rng);
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: Mode) {
        resize_fresh(&mut self.branch_out, batch * F::Out::LEN);
        self.branch
            .forward(input, &mut self.branch_out, batch, mode);
        if is_relu::<A, T>() {
            // One pass, and no sum kept: ReLU's backward reads its output.
            add_relu_into(&self.branch_out, input, output);
        } else {
            resize_fresh(&mut self.sum, input.len());
            add_into(&self.branch_out, input, &mut self.sum);
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

    /// The branch's output (which then becomes the sum), then the children's scratch.
    fn infer_scratch(batch: usize) -> usize {
        batch * F::Out::LEN + F::infer_scratch(batch).max(A::infer_scratch(batch))
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
        let (sum, inner) = scratch.split_at_mut(batch * F::Out::LEN);
        self.branch
            .infer_tapped(input, sum, batch, inner, path, tap);
        // `branch + input`, in the order of `forward`'s `add_into`.
        add_assign(sum, input);
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
        let buffer = grad_of_sum::<A, F::Out, T>(
            &mut self.post,
            &self.sum,
            output,
            grad_output,
            batch,
            pool,
        );
        let grad_sum = &buffer[..output.len()];
        match grad_input {
            Some(grad_input) => {
                let grad = Some(&mut *grad_input);
                self.branch
                    .backward_pooled(input, &self.branch_out, grad_sum, grad, batch, pool);
                // The shortcut passes the gradient on unchanged.
                add_assign(grad_input, grad_sum);
            }
            None => {
                self.branch
                    .backward_pooled(input, &self.branch_out, grad_sum, None, batch, pool);
            }
        }
        pool.give(buffer);
    }

    fn visit_params<'a>(&'a self, path: &mut NamePath, f: &mut dyn FnMut(&NamePath, Param<'a, T>)) {
        self.branch.visit_params(path, f);
        self.post.visit_params(path, f);
    }

    fn visit_params_mut<'a>(
        &'a mut self,
        path: &mut NamePath,
        f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>),
    ) {
        self.branch.visit_params_mut(path, f);
        self.post.visit_params_mut(path, f);
    }

    fn signature(&self) -> String {
        let post = self.post.signature();
        if post == "Identity" {
            format!("Residual<{}>", self.branch.signature())
        } else {
            format!("Residual<{}, {post}>", self.branch.signature())
        }
    }

    fn describe(&self, path: &mut NamePath, rows: &mut Vec<LayerInfo>) {
        container_row::<In, T, Self>(self, path, rows);
        describe_transparent(&self.branch, path, rows);
    }
}

impl<F: crate::layer::WithFloat<U>, A: crate::layer::WithFloat<U>, T: Float, U: Float>
    crate::layer::WithFloat<U> for Residual<F, A, T>
{
    type Layer = Residual<F::Layer, A::Layer, U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::{check_composed, check_layer, layer_gradient_errors};
    use crate::layers::{BatchNorm2d, Conv2d, Conv2dNoBias, Relu, Tanh};
    use crate::{Image, net};

    net! {
        struct Branch {
            conv1: Conv2dNoBias<3, 3, 3, 1, 1>,
            bn1: BatchNorm2d<3>,
            act: Tanh,
            conv2: Conv2d<3, 3, 3, 1, 1>,
        }
    }

    #[test]
    fn gradients_match_numerical_ones() {
        type Plain = Residual<Conv2d<2, 2, 3, 1, 1, f64>, Identity<f64>, f64>;
        check_layer::<Image<4, 5, 2>, Plain>(2, 1);
        type WithTanh = Residual<Branch<f64>, Tanh<f64>, f64>;
        check_composed::<Image<5, 4, 3>, WithTanh>(3, 2, 1e-6);
        let names: Vec<String> = layer_gradient_errors::<Image<5, 4, 3>, WithTanh>(2, 3)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        // The branch's parameters are the residual's own: no `branch.` in their names.
        assert_eq!(
            names,
            [
                "input",
                "conv1.weight",
                "bn1.weight",
                "bn1.bias",
                "conv2.weight",
                "conv2.bias"
            ]
        );
    }

    #[test]
    fn forward_adds_the_input_then_applies_the_activation() {
        let mut layer = Residual::<Conv2d<1, 1, 1, 1, 0, f64>, Relu<f64>, f64>::default();
        layer.branch.weight = vec![2.0];
        layer.branch.bias = vec![-1.0];
        let x = [1.0, -1.0, 0.25, 3.0];
        let mut y = [0.0; 4];
        <_ as Layer<Image<2, 2, 1>, f64>>::forward(&mut layer, &x, &mut y, 1, Mode::Eval);
        // relu(2x - 1 + x)
        assert_eq!(y, [2.0, 0.0, 0.0, 8.0]);
    }

    #[test]
    fn a_branch_that_changes_the_shape_does_not_fit() {
        type Strided = Residual<Conv2d<2, 4, 3, 2, 1>>;
        let misfit = <Strided as Layer<Image<8, 8, 2>, f32>>::FIT.unwrap_err();
        assert_eq!(
            misfit.within("block").report().to_str(),
            "layer `block`: the branch gives 4x4x4 but the shortcut gives 8x8x2"
        );
    }
}
