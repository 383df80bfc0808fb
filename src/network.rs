//! The [`Network`] trait that [`net!`](crate::net!) implements: forward, backward, parameters by
//! name, and a summary.

use crate::{Float, Init, Mode, Param, ParamKind, ParamMut, Shape, Tensor};
use rand::SeedableRng;
pub use rand::rngs::StdRng;
use std::fmt;

/// An error about a parameter addressed by name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// No parameter has this name.
    #[error("no parameter named '{name}' (the network has: {known})")]
    Unknown {
        /// The name asked for.
        name: String,
        /// The names the network has, comma-separated.
        known: String,
    },
    /// The values given do not have the parameter's length; nothing was changed.
    #[error("parameter '{name}' has {expected} values, but {got} were given")]
    Length {
        /// The parameter's name.
        name: String,
        /// Its length.
        expected: usize,
        /// The length given.
        got: usize,
    },
}

/// A network: layers applied in order to samples of shape [`Network::Input`], giving samples of
/// shape [`Network::Output`]. Written with the [`net!`](crate::net!) macro, which checks at
/// compile time that each layer fits the previous one.
///
/// Parameters are addressed PyTorch-style by `"<layer>.<param>"`, e.g. `"conv1.weight"`.
pub trait Network<T: Float>: Send {
    /// The shape of one input sample.
    type Input: Shape;
    /// The shape of one output sample.
    type Output: Shape;

    /// Draws all parameters again with `init`, layer by layer in order, from `rng`.
    fn init(&mut self, init: Init, rng: &mut StdRng);

    /// Runs the network on a batch and returns the outputs (`batch * Output::LEN` values, NHWC).
    ///
    /// In [`Mode::Train`] it keeps what [`Network::backward`] needs; the buffers are reused, so
    /// after the first call with the largest batch, it does not allocate.
    fn forward(&mut self, input: &Tensor<Self::Input, T>, mode: Mode) -> &[T];

    /// Back-propagates the gradient of the loss with respect to the last `forward`'s outputs,
    /// setting (not accumulating) every parameter's gradient. Skips the gradient of the input.
    ///
    /// # Panics
    /// If `grad_output` does not have the length of the last forward's output.
    fn backward(&mut self, grad_output: &[T]);

    /// As [`Network::backward`], and also returns the gradient with respect to the input.
    fn backward_with_input_grad(&mut self, grad_output: &[T]) -> &[T];

    /// Calls `f(layer_name, param)` on every parameter, layer by layer in order.
    fn params<'a>(&'a self, f: &mut dyn FnMut(&'static str, Param<'a, T>));

    /// Calls `f(layer_name, param)` on every parameter, mutably, in the same order.
    fn params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&'static str, ParamMut<'a, T>));

    /// One row per layer: name, type, output shape, parameter count.
    fn layers(&self) -> Vec<LayerInfo>;

    /// The values of the parameter `name` (e.g. `"conv1.weight"`).
    fn param(&self, name: &str) -> Option<&[T]> {
        let mut found = None;
        self.params(&mut |layer, p| {
            if found.is_none() && is_named(layer, p.name, name) {
                found = Some(p.value);
            }
        });
        found
    }

    /// The gradient of the parameter `name` from the last backward pass.
    fn grad(&self, name: &str) -> Option<&[T]> {
        let mut found = None;
        self.params(&mut |layer, p| {
            if found.is_none() && is_named(layer, p.name, name) {
                found = Some(p.grad);
            }
        });
        found
    }

    /// Sets the parameter `name` to `values` (row-major in the layer's layout). A wrong length
    /// or an unknown name is an error and changes nothing.
    fn assign(&mut self, name: &str, values: &[T]) -> Result<(), ParamError> {
        let mut result = None;
        self.params_mut(&mut |layer, p| {
            if result.is_none() && is_named(layer, p.name, name) {
                result = Some(if p.value.len() == values.len() {
                    p.value.copy_from_slice(values);
                    Ok(())
                } else {
                    Err(ParamError::Length {
                        name: name.to_string(),
                        expected: p.value.len(),
                        got: values.len(),
                    })
                });
            }
        });
        result.unwrap_or_else(|| {
            Err(ParamError::Unknown {
                name: name.to_string(),
                known: self.param_names().join(", "),
            })
        })
    }

    /// Every parameter's full name, in order (buffers such as running statistics included).
    fn param_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.params(&mut |layer, p| names.push(format!("{layer}.{}", p.name)));
        names
    }

    /// The number of trained values (weights and biases; buffers not counted).
    fn num_params(&self) -> usize {
        let mut n = 0;
        self.params(&mut |_, p| {
            if p.kind != ParamKind::Buffer {
                n += p.value.len();
            }
        });
        n
    }

    /// A table of layers with output shapes and parameter counts; `Display` prints it.
    fn summary(&self) -> Summary {
        Summary {
            input: [Self::Input::H, Self::Input::W, Self::Input::C],
            layers: self.layers(),
        }
    }
}

fn is_named(layer: &str, param: &str, full: &str) -> bool {
    full.len() == layer.len() + 1 + param.len()
        && full.starts_with(layer)
        && full.as_bytes()[layer.len()] == b'.'
        && full.ends_with(param)
}

/// Makes the random generator that [`net!`](crate::net!)'s constructors use for a seed.
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// One layer of a network, for [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The field name (`"conv1"`).
    pub name: &'static str,
    /// The type as written (`"Conv2d<3, 16, 3, 1, 1>"`).
    pub signature: String,
    /// Output shape of one sample, `[H, W, C]`.
    pub output: [usize; 3],
    /// Trained parameters.
    pub params: usize,
}

/// A network's layers as a table; see [`Network::summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Input shape `[H, W, C]`.
    pub input: [usize; 3],
    /// The layers in order.
    pub layers: Vec<LayerInfo>,
}

impl Summary {
    /// Total trained parameters.
    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }
}

fn shape_text([h, w, c]: [usize; 3]) -> String {
    format!("{h}x{w}x{c}")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name_w = self
            .layers
            .iter()
            .map(|l| l.name.len())
            .max()
            .unwrap_or(0)
            .max(5);
        let sig_w = self
            .layers
            .iter()
            .map(|l| l.signature.len())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            f,
            "{:<name_w$}  {:<sig_w$}  {:>10}  {:>10}",
            "layer", "type", "output", "params"
        )?;
        writeln!(
            f,
            "{:<name_w$}  {:<sig_w$}  {:>10}  {:>10}",
            "input",
            "",
            shape_text(self.input),
            ""
        )?;
        for l in &self.layers {
            writeln!(
                f,
                "{:<name_w$}  {:<sig_w$}  {:>10}  {:>10}",
                l.name,
                l.signature,
                shape_text(l.output),
                l.params
            )?;
        }
        write!(
            f,
            "{:<name_w$}  {:<sig_w$}  {:>10}  {:>10}",
            "total",
            "",
            "",
            self.total_params()
        )
    }
}

/// The activation and gradient buffers of a network, reused from batch to batch.
/// Used by the code that [`net!`](crate::net!) writes; not needed otherwise.
#[doc(hidden)]
#[derive(Debug, Default, Clone)]
pub struct Buffers<T> {
    /// `acts[0]` is the input, `acts[i + 1]` the output of layer `i`.
    acts: Vec<Vec<T>>,
    /// `grads[i]`: gradient of the loss with respect to `acts[i]`.
    grads: Vec<Vec<T>>,
    batch: usize,
}

#[doc(hidden)]
impl<T: Float> Buffers<T> {
    /// Starts a forward pass of `layers` layers on `input`.
    pub fn start(&mut self, layers: usize, input: &[T], batch: usize) {
        if self.acts.len() != layers + 1 {
            self.acts = vec![Vec::new(); layers + 1];
            self.grads = vec![Vec::new(); layers + 1];
        }
        self.batch = batch;
        self.acts[0].clear();
        self.acts[0].extend_from_slice(input);
    }

    /// Batch size of the last forward pass.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Layer `stage`'s input and its output buffer, sized to `out_len`.
    pub fn forward_pair(&mut self, stage: usize, out_len: usize) -> (&[T], &mut [T]) {
        let (before, after) = self.acts.split_at_mut(stage + 1);
        let output = &mut after[0];
        output.resize(out_len, T::ZERO);
        (&before[stage], output)
    }

    /// The output of the last layer.
    pub fn output(&self) -> &[T] {
        self.acts.last().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Starts a backward pass from `grad_output`.
    pub fn start_backward(&mut self, grad_output: &[T]) {
        let expected = self.output().len();
        assert!(
            !self.acts.is_empty() && grad_output.len() == expected,
            "backward: the gradient has {} values, but the last forward output had {expected}",
            grad_output.len()
        );
        let last = self.grads.len() - 1;
        self.grads[last].clear();
        self.grads[last].extend_from_slice(grad_output);
    }

    /// Layer `stage`'s input, output, output gradient, and input-gradient buffer (sized like
    /// the input).
    pub fn backward_views(&mut self, stage: usize) -> (&[T], &[T], &[T], &mut [T]) {
        let (before, after) = self.grads.split_at_mut(stage + 1);
        let grad_input = &mut before[stage];
        grad_input.resize(self.acts[stage].len(), T::ZERO);
        (
            &self.acts[stage],
            &self.acts[stage + 1],
            &after[0],
            grad_input,
        )
    }

    /// The gradient with respect to the network's input, after a backward pass that asked for it.
    pub fn input_grad(&self) -> &[T] {
        self.grads.first().map(Vec::as_slice).unwrap_or(&[])
    }
}
