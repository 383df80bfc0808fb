//! `Repeat<B, N>`: `H x W x C` -> `H x W x C`, the block `B` applied `N` times in a row.
//!
//! The `N` blocks have the same type and separate parameters, named by index as PyTorch's
//! `nn.Sequential` names them (`layer1.0.conv1.weight`, `layer1.1.conv1.weight`, ...). The block
//! must keep its input's shape (else `cargo check` fails naming both shapes). PyTorch
//! equivalent: `nn.Sequential(*[B() for _ in range(N)])`.

use crate::layer::{Init, Layer, Mode, NamePath, Param, ParamMut, Segment};
use crate::network::{GradPool, LayerInfo, NetState, container_row};
use crate::shape::{IfFits, Misfit, Problem, dims, same_dims, upstream_failed};
use crate::{Float, Shape};
use rand::rngs::StdRng;

/// `N` blocks of type `B`, one after the other.
///
/// ```
/// use constnet::layers::{Linear, Relu, Repeat};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! {
///     pub struct Dense { fc: Linear<8, 8>, relu: Relu }
/// }
/// net! {
///     pub struct Mlp {
///         input: Image<1, 1, 8>,
///         body: Repeat<Dense, 3>,
///         head: Linear<8, 2>,
///     }
/// }
///
/// let mut net = Mlp::<f32>::new(0);
/// assert_eq!(net.forward(&Tensor::<Image<1, 1, 8>>::zeros(4), Mode::Eval).len(), 8);
/// assert!(net.param("body.2.fc.weight").is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Repeat<B, const N: usize, T: Float = f32> {
    /// The blocks, in order.
    pub blocks: [B; N],
    state: NetState<T>,
}

impl<B: Default, const N: usize, T: Float> Default for Repeat<B, N, T> {
    fn default() -> Self {
        Repeat {
            blocks: std::array::from_fn(|_| B::default()),
            state: NetState::default(),
        }
    }
}

/// Index names for misfits (a `const` message needs a `'static` name; only the first block can
/// misfit, since all take the same input).
const FIRST: &str = "0";

impl<In, T, B, const N: usize> Layer<In, T> for Repeat<B, N, T>
where
    In: Shape,
    T: Float,
    B: Layer<In, T> + 'static,
{
    type Out = IfFits<In, Self, In, T>;
    const KIND: &'static str = "Repeat";
    const ARGS: &'static [usize] = &[N];
    const FIT: Result<(), Misfit> = if upstream_failed::<In>() {
        Ok(())
    } else if N == 0 {
        Err(Misfit::new(
            "Repeat",
            &[N],
            dims::<In>(),
            Problem::ZeroSize {
                what: "repeat count",
            },
        ))
    } else if let Err(misfit) = B::FIT {
        Err(misfit.within(FIRST))
    } else if !same_dims::<B::Out, In>() {
        Err(Misfit::new(
            "Repeat",
            &[N],
            dims::<In>(),
            Problem::RepeatChangesShape {
                gives: dims::<B::Out>(),
            },
        ))
    } else {
        Ok(())
    };

    fn init(&mut self, init: Init, rng: &mut StdRng) {
        for block in &mut self.blocks {
            block.init(init, rng);
        }
    }

    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: Mode) {
        let Some((last, rest)) = self.blocks.split_last_mut() else {
            return;
        };
        if rest.is_empty() {
            last.forward(input, output, batch, mode);
            return;
        }
        let state = &mut self.state;
        state.stages(N - 1);
        rest[0].forward(input, state.first_output(input.len()), batch, mode);
        for (i, block) in rest.iter_mut().enumerate().skip(1) {
            let (x, y) = state.forward_pair(i, input.len());
            block.forward(x, y, batch, mode);
        }
        last.forward(state.last_input(), output, batch, mode);
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

    /// Two buffers of the input's size, used in turn by the blocks, then a block's scratch.
    fn infer_scratch(batch: usize) -> usize {
        let between = if N > 1 { 2 * batch * In::LEN } else { 0 };
        between + B::infer_scratch(batch)
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
        let len = if N > 1 { batch * In::LEN } else { 0 };
        let (a, rest) = scratch.split_at_mut(len);
        let (b, inner) = rest.split_at_mut(len);
        for (i, block) in self.blocks.iter().enumerate() {
            // Block i reads what block i - 1 wrote: the input, then `a` and `b` in turn, and
            // the last block writes `output`.
            let (x, y): (&[T], &mut [T]) = match (i, i + 1 == N, i % 2) {
                (0, true, _) => (input, &mut *output),
                (0, false, _) => (input, &mut *a),
                (_, true, 1) => (&*a, &mut *output),
                (_, true, _) => (&*b, &mut *output),
                (_, false, 1) => (&*a, &mut *b),
                (_, false, _) => (&*b, &mut *a),
            };
            path.push(Segment::Index(i));
            block.infer_tapped(x, y, batch, inner, path, tap);
            path.pop();
        }
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
        let mut pool = self.state.take_pool();
        self.backward_pooled(input, output, grad_output, grad_input, batch, &mut pool);
        self.state.put_pool(pool);
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
        let Some((last, rest)) = self.blocks.split_last_mut() else {
            return;
        };
        if rest.is_empty() {
            last.backward_pooled(input, output, grad_output, grad_input, batch, pool);
            return;
        }
        let state = &mut self.state;
        state.lend_grads(pool);
        let (x, dx) = state.last_backward();
        last.backward_pooled(x, output, grad_output, Some(dx), batch, pool);
        for i in (1..N - 1).rev() {
            let (x, y, dy, dx) = state.middle_backward(i);
            rest[i].backward_pooled(x, y, dy, Some(dx), batch, pool);
        }
        let (y, dy) = state.first_backward();
        rest[0].backward_pooled(input, y, dy, grad_input, batch, pool);
        state.return_grads(pool);
    }

    fn visit_params<'a>(&'a self, path: &mut NamePath, f: &mut dyn FnMut(&NamePath, Param<'a, T>)) {
        for (i, block) in self.blocks.iter().enumerate() {
            path.push(Segment::Index(i));
            block.visit_params(path, f);
            path.pop();
        }
    }

    fn visit_params_mut<'a>(
        &'a mut self,
        path: &mut NamePath,
        f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>),
    ) {
        for (i, block) in self.blocks.iter_mut().enumerate() {
            path.push(Segment::Index(i));
            block.visit_params_mut(path, f);
            path.pop();
        }
    }

    fn signature(&self) -> String {
        match self.blocks.first() {
            Some(block) => format!("Repeat<{}, {N}>", block.signature()),
            None => format!("Repeat<_, {N}>"),
        }
    }

    fn describe(&self, path: &mut NamePath, rows: &mut Vec<LayerInfo>) {
        container_row::<In, T, Self>(self, path, rows);
        for (i, block) in self.blocks.iter().enumerate() {
            path.push(Segment::Index(i));
            block.describe(path, rows);
            path.pop();
        }
    }
}

impl<B: crate::layer::WithFloat<U>, const N: usize, T: Float, U: Float> crate::layer::WithFloat<U>
    for Repeat<B, N, T>
{
    type Layer = Repeat<B::Layer, N, U>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::{check_composed, layer_gradient_errors};
    use crate::layers::{Conv2d, Linear, Tanh};
    use crate::{Image, net};

    net! {
        struct Block {
            conv: Conv2d<2, 2, 3, 1, 1>,
            act: Tanh,
        }
    }

    #[test]
    fn gradients_match_numerical_ones() {
        check_composed::<Image<4, 4, 2>, Repeat<Block<f64>, 3, f64>>(2, 1, 1e-6);
        check_composed::<Image<4, 4, 2>, Repeat<Block<f64>, 1, f64>>(2, 2, 1e-6);
        let names: Vec<String> =
            layer_gradient_errors::<Image<4, 4, 2>, Repeat<Block<f64>, 2, f64>>(1, 3)
                .into_iter()
                .map(|(name, _)| name)
                .collect();
        assert_eq!(
            names,
            [
                "input",
                "0.conv.weight",
                "0.conv.bias",
                "1.conv.weight",
                "1.conv.bias"
            ]
        );
    }

    #[test]
    fn a_block_that_changes_the_shape_cannot_repeat() {
        let misfit = <Repeat<Linear<4, 3>, 2> as Layer<Image<1, 1, 4>, f32>>::FIT.unwrap_err();
        assert_eq!(
            misfit.within("body").report().to_str(),
            "layer `body`: a repeated block must keep its input's shape, but it turns 1x1x4 into 1x1x3"
        );
        let misfit = <Repeat<Linear<5, 5>, 2> as Layer<Image<1, 1, 4>, f32>>::FIT.unwrap_err();
        assert_eq!(
            misfit.within("body").report().to_str(),
            "layer `body.0`: Linear<5, 5> expects 5 input features, but its input is 1x1x4 = 4"
        );
    }
}
