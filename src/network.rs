//! The [`Network`] trait that [`net!`](crate::net!) implements: forward, backward, parameters by
//! name, and a summary.

use crate::infer::{Activation, InferError, Prediction, Predictions, Workspace};
use crate::layer::{NamePath, Tap};
use crate::tensor::TensorView;
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
/// Parameters are addressed PyTorch-style by their dotted path, e.g. `"conv1.weight"` or, in
/// nested networks, `"layer2.0.downsample.0.weight"`.
///
/// Training goes through `&mut self` ([`Network::forward`], [`Network::backward`]): the network
/// keeps its activations for the backward pass. Inference goes through `&self`
/// ([`Network::infer_batch`], [`Network::predict`], [`Network::predict_batch`],
/// [`Network::activation`]), with the working memory in a [`Workspace`] that the caller keeps
/// (one per thread), so a trained network can be shared by several threads at once:
///
/// ```
/// use constnet::models::SmallCnn;
/// use constnet::{Image, Mode, Network, Tensor, Workspace};
///
/// let net = SmallCnn::<f32>::new(7);
/// let images = Tensor::<Image<32, 32, 3>>::from_vec(2, (0..2 * 3072).map(|i| (i % 7) as f32 / 7.0).collect())?;
/// let mut ws = Workspace::new();
///
/// // The class scores, typed: 1x1x20 per sample.
/// let scores = net.infer_batch(&images, &mut ws);
/// assert_eq!(scores.dims(), [2, 1, 1, 20]);
///
/// // Class indices and softmax probabilities.
/// let predictions = net.predict_batch(&images, &mut ws);
/// let first = predictions.get(0).unwrap();
/// assert!((first.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
/// assert_eq!(first.top(3)[0].class, first.class);
///
/// // A named layer's output.
/// let maps = net.activation("conv1", &images, &mut ws)?;
/// assert_eq!((maps.batch, maps.shape), (2, [32, 32, 16]));
///
/// // Shared by two threads, each with its own workspace.
/// std::thread::scope(|s| {
///     for _ in 0..2 {
///         s.spawn(|| net.predict(images.sample(1), &mut Workspace::new()).map(|p| p.class));
///     }
/// });
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Network<T: Float>: Send + Sync {
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

    /// The length of the scratch slice that [`Network::infer_into`] needs for `batch` samples
    /// (what a [`Workspace`] holds).
    fn infer_scratch_len(&self, batch: usize) -> usize;

    /// The evaluation of `batch` samples through `&self`, on flat NHWC slices: `input` holds
    /// `batch * Input::LEN` values, `output` receives `batch * Output::LEN`, and `scratch` is
    /// working memory of [`Network::infer_scratch_len`] values. With `tap`, calls
    /// `tap(layer_path, values)` with the output of every layer, inner layers before the layer
    /// holding them (see [`Layer::infer_tapped`](crate::Layer::infer_tapped)). The same
    /// values, bit for bit, as [`Network::forward`] in [`Mode::Eval`].
    ///
    /// The building block of [`Network::infer_batch`], which most callers want instead.
    ///
    /// # Panics
    /// If a slice is shorter than stated.
    fn infer_into(
        &self,
        input: &[T],
        output: &mut [T],
        batch: usize,
        scratch: &mut [T],
        tap: Option<&mut Tap<'_, T>>,
    );

    /// Runs the network on a batch in evaluation mode through `&self` and returns the outputs,
    /// typed ([`TensorView`] of [`Network::Output`]); the same values, bit for bit, as
    /// `forward(input, Mode::Eval)`. The buffers are `ws`'s: after the first call with the
    /// largest batch, it does not allocate. Runs on a pool thread, as `forward`.
    fn infer_batch<'w>(
        &self,
        input: &Tensor<Self::Input, T>,
        ws: &'w mut Workspace<T>,
    ) -> TensorView<'w, Self::Output, T> {
        let output = crate::infer::run(self, input.as_slice(), input.batch(), ws);
        TensorView::new(input.batch(), output)
    }

    /// The class scores of a batch (a row of `Output::LEN` scores per sample), with each
    /// sample's predicted class (the largest score, the first on ties, as
    /// [`train::predictions`](crate::train::predictions)) and softmax probabilities.
    /// Does not allocate after the first call with the largest batch.
    fn predict_batch<'w>(
        &self,
        images: &Tensor<Self::Input, T>,
        ws: &'w mut Workspace<T>,
    ) -> Predictions<'w, T> {
        crate::infer::predict(self, images.as_slice(), images.batch(), ws)
    }

    /// The prediction for one sample (`Input::LEN` values, NHWC); see
    /// [`Network::predict_batch`]. A slice of another length is an [`InferError::Input`].
    fn predict<'w>(
        &self,
        image: &[T],
        ws: &'w mut Workspace<T>,
    ) -> Result<Prediction<'w, T>, InferError> {
        let len = <Self::Input as Shape>::LEN;
        if image.len() != len {
            return Err(InferError::Input(crate::tensor::TensorLengthError {
                batch: 1,
                h: Self::Input::H,
                w: Self::Input::W,
                c: Self::Input::C,
                expected: len,
                got: image.len(),
            }));
        }
        Ok(crate::infer::predict(self, image, 1, ws).row(0))
    }

    /// The output of the layer `name` (its dotted path, as in [`Network::summary`]:
    /// `"conv1"`, `"layer2.0.conv1"`, `"layer2.0"` for a whole block) for a batch, in evaluation
    /// mode. An unknown name is an [`InferError::UnknownLayer`] listing the names. Evaluates the
    /// whole network; the values stay in `ws` until its next use.
    fn activation<'w>(
        &self,
        name: &str,
        input: &Tensor<Self::Input, T>,
        ws: &'w mut Workspace<T>,
    ) -> Result<Activation<'w, T>, InferError> {
        let layers = self.layers();
        let Some(layer) = layers.iter().find(|l| l.name == name) else {
            return Err(InferError::UnknownLayer {
                name: name.to_string(),
                known: layers
                    .iter()
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        crate::infer::activation(
            self,
            name,
            layer.output,
            input.as_slice(),
            input.batch(),
            ws,
        )
    }

    /// Calls `f(layer_path, param)` on every parameter, layer by layer in order; the full name is
    /// `layer_path.param_name(param.name)`.
    fn params<'a>(&'a self, f: &mut dyn FnMut(&NamePath, Param<'a, T>));

    /// Calls `f(layer_path, param)` on every parameter, mutably, in the same order.
    fn params_mut<'a>(&'a mut self, f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>));

    /// One row per layer, nested layers included (after the row of the layer holding them):
    /// name, type, output shape, parameter count.
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
        self.params(&mut |layer, p| names.push(layer.param_name(p.name)));
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

fn is_named(layer: &NamePath, param: &str, full: &str) -> bool {
    full.ends_with(param) && layer.param_name(param) == full
}

/// Makes the random generator that [`net!`](crate::net!)'s constructors use for a seed.
pub fn seeded_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// One layer of a network, for [`Summary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// The layer's dotted path (`"conv1"`, `"layer2.0.conv1"`).
    pub name: String,
    /// The type as written, with hyper-parameters (`"Conv2d<3, 16, 3, 1, 1>"`).
    pub signature: String,
    /// Output shape of one sample, `[H, W, C]`.
    pub output: [usize; 3],
    /// Trained parameters (of the layer and the layers inside it).
    pub params: usize,
    /// Nesting depth: 1 for the network's own layers, 2 for the layers inside those, ...
    pub depth: usize,
    /// Whether the layer holds other layers (whose rows follow it).
    pub container: bool,
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
        self.layers
            .iter()
            .filter(|l| !l.container)
            .map(|l| l.params)
            .sum()
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
            .map(|l| l.name.len() + 2 * l.depth.saturating_sub(1))
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
            let indented = format!("{}{}", "  ".repeat(l.depth.saturating_sub(1)), l.name);
            writeln!(
                f,
                "{:<name_w$}  {:<sig_w$}  {:>10}  {:>10}",
                indented,
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

/// Buffers for the gradients that pass between the layers inside containers during a backward
/// pass ([`Layer::backward_pooled`](crate::Layer::backward_pooled)). A container takes what it
/// needs when its backward pass starts and gives it back when it ends, so the containers of a
/// network, nested or one after another, use the same few buffers in turn instead of holding
/// their own: fewer bytes (at batch 128 of ResNet-20, ~130 MB less) and buffers that were
/// written a moment ago, still in the cache. A buffer keeps its length from use to use (a
/// container uses the part it needs), so that after the first step nothing is allocated or
/// zeroed.
#[derive(Debug, Default, Clone)]
pub struct GradPool<T> {
    free: Vec<Vec<T>>,
}

impl<T: Float> GradPool<T> {
    /// An empty pool.
    pub fn new() -> Self {
        GradPool { free: Vec::new() }
    }

    /// A buffer of at least `len` values (the last one given back, grown if needed).
    pub fn take(&mut self, len: usize) -> Vec<T> {
        let mut buffer = self.free.pop().unwrap_or_default();
        at_least(&mut buffer, len);
        buffer
    }

    /// Gives a buffer back, for the next [`GradPool::take`].
    pub fn give(&mut self, buffer: Vec<T>) {
        self.free.push(buffer);
    }
}

/// Grows `buffer` to at least `len` values (never shrinks it); its first `len`. What it held
/// is lost if it grows (see [`resize_fresh`]).
pub(crate) fn at_least<T: Float>(buffer: &mut Vec<T>, len: usize) -> &mut [T] {
    if buffer.len() < len {
        resize_fresh(buffer, len);
    }
    &mut buffer[..len]
}

/// Resizes `buffer` to `len` values for a layer to overwrite: zeros where it grows within its
/// capacity, and a fresh zeroed allocation (what it held is lost) where it must grow beyond.
///
/// A zeroed allocation (`vec![0; len]`) comes from pages the operating system maps on the
/// first write, so the first forward and backward passes touch their new buffers from the
/// threads of the parallel kernels that write them, instead of this thread zeroing every page
/// first (`Vec::resize`), one page fault at a time. On a 2-core KVM guest, where a first touch
/// runs at ~2.5 GB/s, that was most of the cost of a training run's cold first step.
pub(crate) fn resize_fresh<T: Float>(buffer: &mut Vec<T>, len: usize) {
    if len > buffer.capacity() {
        *buffer = vec![T::ZERO; len];
    } else {
        buffer.resize(len, T::ZERO);
    }
}

/// The activation buffers of a [`net!`](crate::net!) network, reused from batch to batch: the
/// outputs of its layers but the last, the two gradient buffers that its backward pass
/// alternates between (lent by a [`GradPool`] for the pass) and, when it is used as a
/// [`Network`], a copy of the input and the output and the pool. Used by the code that `net!`
/// writes.
#[doc(hidden)]
#[derive(Debug, Default, Clone)]
pub struct NetState<T> {
    /// `acts[i]`: the output of layer `i` (all layers but the last).
    acts: Vec<Vec<T>>,
    /// `grads[i % 2]` (its first `acts[i].len()` values): the gradient of the loss with respect
    /// to `acts[i]`, while the backward pass is at layers `i + 1` and `i`. Layer `i` reads it
    /// and writes the gradient of its input into the other buffer, after which it is no longer
    /// needed; one buffer per layer instead would hold a second copy of all the activations (at
    /// batch 128 of ResNet-20, ~240 MB over its blocks). Empty between backward passes: they
    /// come from the pool ([`NetState::lend_grads`]).
    grads: [Vec<T>; 2],
    /// The pool that this network lends to its backward pass when it is not inside another
    /// container's (see [`GradPool`]).
    pool: GradPool<T>,
    /// The buffers of a top-level network.
    top: TopBuffers<T>,
}

/// A top-level network's input copy, output and gradients.
#[doc(hidden)]
#[derive(Debug, Default, Clone)]
pub struct TopBuffers<T> {
    /// The last forward pass's input.
    pub input: Vec<T>,
    /// The last forward pass's output.
    pub output: Vec<T>,
    /// The gradient with respect to the input, when asked for.
    pub grad_input: Vec<T>,
    /// The last forward pass's batch size.
    pub batch: usize,
}

#[doc(hidden)]
impl<T: Float> NetState<T> {
    /// Makes room for `stages` intermediate outputs (the layers but the last).
    pub fn stages(&mut self, stages: usize) {
        if self.acts.len() != stages {
            self.acts.resize_with(stages, Vec::new);
        }
    }

    /// The first layer's output buffer, sized to `len`.
    pub fn first_output(&mut self, len: usize) -> &mut [T] {
        let out = &mut self.acts[0];
        resize_fresh(out, len);
        out
    }

    /// Layer `i`'s input (`acts[i - 1]`) and its output buffer sized to `len` (`acts[i]`).
    pub fn forward_pair(&mut self, i: usize, len: usize) -> (&[T], &mut [T]) {
        let (before, after) = self.acts.split_at_mut(i);
        let out = &mut after[0];
        resize_fresh(out, len);
        (&before[i - 1], out)
    }

    /// The last layer's input (`acts[stages - 1]`).
    pub fn last_input(&self) -> &[T] {
        self.acts.last().map(Vec::as_slice).unwrap_or(&[])
    }

    /// Takes the two gradient buffers of a backward pass from `pool`, sized for the widest
    /// output (call [`NetState::return_grads`] at its end).
    pub fn lend_grads(&mut self, pool: &mut GradPool<T>) {
        let widest = self.acts.iter().map(Vec::len).max().unwrap_or(0);
        let first = pool.take(widest);
        self.grads = [first, pool.take(widest)];
    }

    /// Gives the gradient buffers back to `pool`, in the order [`NetState::lend_grads`] takes
    /// them next time.
    pub fn return_grads(&mut self, pool: &mut GradPool<T>) {
        let [first, second] = std::mem::take(&mut self.grads);
        pool.give(second);
        pool.give(first);
    }

    /// This network's own pool, taken out (for a backward pass outside any container; put it
    /// back with [`NetState::put_pool`]).
    pub fn take_pool(&mut self) -> GradPool<T> {
        std::mem::take(&mut self.pool)
    }

    /// Puts the pool back.
    pub fn put_pool(&mut self, pool: GradPool<T>) {
        self.pool = pool;
    }

    /// The last layer's input and its input-gradient buffer (sized like the input).
    pub fn last_backward(&mut self) -> (&[T], &mut [T]) {
        let i = self.acts.len() - 1;
        let dx = at_least(&mut self.grads[i % 2], self.acts[i].len());
        (&self.acts[i], dx)
    }

    /// Layer `i`'s (0 < i < last) input, output, output gradient and input-gradient buffer
    /// (the output gradient's buffer and the other one: called for `i` counting down, after
    /// [`NetState::last_backward`]).
    pub fn middle_backward(&mut self, i: usize) -> (&[T], &[T], &[T], &mut [T]) {
        let [even, odd] = &mut self.grads;
        let (dy, dx) = if i.is_multiple_of(2) {
            (even, odd)
        } else {
            (odd, even)
        };
        let dx = at_least(dx, self.acts[i - 1].len());
        (
            &self.acts[i - 1],
            &self.acts[i],
            &dy[..self.acts[i].len()],
            dx,
        )
    }

    /// The first layer's output and output gradient.
    pub fn first_backward(&self) -> (&[T], &[T]) {
        (&self.acts[0], &self.grads[0][..self.acts[0].len()])
    }

    /// The top-level buffers, taken out (to be put back with [`NetState::put_top`]).
    pub fn take_top(&mut self) -> TopBuffers<T> {
        std::mem::take(&mut self.top)
    }

    /// Puts the top-level buffers back.
    pub fn put_top(&mut self, top: TopBuffers<T>) {
        self.top = top;
    }

    /// The top-level buffers.
    pub fn top(&self) -> &TopBuffers<T> {
        &self.top
    }
}

/// Access to the buffers of a [`net!`](crate::net!) network. Implemented by the code that
/// `net!` writes; not needed otherwise.
#[doc(hidden)]
pub trait HasNetState<T> {
    /// The buffers, mutably.
    fn net_state(&mut self) -> &mut NetState<T>;
    /// The buffers.
    fn net_state_ref(&self) -> &NetState<T>;
}

/// [`Network::forward`] of a `net!` network: keeps a copy of the input (for the backward pass),
/// runs the layers on a pool thread, and returns the output.
#[doc(hidden)]
pub fn run_forward<'n, In: Shape, T: Float, N: crate::Layer<In, T> + HasNetState<T>>(
    net: &'n mut N,
    input: &[T],
    batch: usize,
    mode: Mode,
) -> &'n [T] {
    // On a pool thread, so that the layers' parallel loops fork there.
    crate::kernels::on_pool(|| {
        let mut top = net.net_state().take_top();
        top.input.clear();
        top.input.extend_from_slice(input);
        resize_fresh(&mut top.output, batch * <N::Out as Shape>::LEN);
        top.batch = batch;
        net.forward(&top.input, &mut top.output, batch, mode);
        net.net_state().put_top(top);
    });
    &net.net_state_ref().top().output
}

/// [`Network::backward`] of a `net!` network, from the gradient of the last forward's output.
#[doc(hidden)]
pub fn run_backward<In: Shape, T: Float, N: crate::Layer<In, T> + HasNetState<T>>(
    net: &mut N,
    grad_output: &[T],
    want_input_grad: bool,
) {
    let mut top = net.net_state().take_top();
    let expected = top.output.len();
    if grad_output.len() != expected {
        net.net_state().put_top(top);
        panic!(
            "backward: the gradient has {} values, but the last forward output had {expected}",
            grad_output.len()
        );
    }
    crate::kernels::on_pool(|| {
        let batch = top.batch;
        let grad_input = if want_input_grad {
            resize_fresh(&mut top.grad_input, top.input.len());
            Some(&mut top.grad_input[..])
        } else {
            None
        };
        net.backward(&top.input, &top.output, grad_output, grad_input, batch);
    });
    net.net_state().put_top(top);
}

/// The summary row of a layer that holds other layers (none for the network itself).
#[doc(hidden)]
pub fn container_row<In: Shape, T: Float, L: crate::Layer<In, T>>(
    layer: &L,
    path: &NamePath,
    rows: &mut Vec<LayerInfo>,
) {
    if path.is_empty() {
        return;
    }
    let mut params = 0;
    let mut inner = *path;
    layer.visit_params(&mut inner, &mut |_, p| {
        if p.kind != ParamKind::Buffer {
            params += p.value.len();
        }
    });
    rows.push(LayerInfo {
        name: path.to_string(),
        signature: layer.signature(),
        output: crate::shape::dims::<L::Out>(),
        params,
        depth: path.len(),
        container: true,
    });
}

#[doc(hidden)]
/// The summary rows of a part whose names are its container's own (a residual's branch): its
/// rows without its own container row, which would repeat the container's name.
pub fn describe_transparent<In: Shape, T: Float, L: crate::Layer<In, T>>(
    layer: &L,
    path: &mut NamePath,
    rows: &mut Vec<LayerInfo>,
) {
    let start = rows.len();
    layer.describe(path, rows);
    if rows
        .get(start)
        .is_some_and(|r| r.container && r.depth == path.len())
    {
        rows.remove(start);
    }
}

#[cfg(test)]
mod tests {
    use super::{GradPool, resize_fresh};

    /// Past its capacity a buffer is replaced by zeros; within it, it keeps its allocation
    /// and its values, zeros where it grows.
    #[test]
    fn resize_fresh_allocates_zeros_only_past_the_capacity() {
        let mut v = vec![1.0f32; 4];
        resize_fresh(&mut v, 1000);
        assert_eq!(v.len(), 1000);
        assert!(v.iter().all(|&x| x == 0.0));
        let at = v.as_ptr();
        v[0] = 5.0;
        resize_fresh(&mut v, 10);
        v[9] = 7.0;
        resize_fresh(&mut v, 1000);
        assert_eq!(v.as_ptr(), at);
        assert_eq!((v[0], v[9], v.len()), (5.0, 7.0, 1000));
        assert!(v[10..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn a_pool_hands_back_the_last_buffer_given_grown_but_never_shrunk() {
        let mut pool = GradPool::<f32>::new();
        let mut a = pool.take(4);
        assert_eq!(a, [0.0; 4]);
        a[3] = 7.0;
        let b = pool.take(2);
        let a_ptr = a.as_ptr();
        pool.give(b);
        pool.give(a);
        // Last in, first out: `a` again, with its length and values (the users slice it).
        let a = pool.take(1);
        assert_eq!((a.as_ptr(), a.len(), a[3]), (a_ptr, 4, 7.0));
        // `b` grown past its capacity to 6 values: a fresh zeroed allocation.
        let b = pool.take(6);
        assert_eq!(b, [0.0; 6]);
        assert_ne!(b.as_ptr(), a_ptr);
        let b_ptr = b.as_ptr();
        pool.give(b);
        // Taken again at a length it already has: the same allocation.
        let b_again = pool.take(6);
        assert_eq!((b_again.as_ptr(), b_again.len()), (b_ptr, 6));
        // An empty pool makes a new buffer.
        assert_eq!(pool.take(3), [0.0; 3]);
    }
}
