//! The [`Layer`] trait: what every layer provides, for an input shape and an element type.

use crate::network::{GradPool, LayerInfo};
use crate::{Float, Misfit, Shape};
use rand::rngs::StdRng;
use std::fmt;

/// Training or evaluation: dropout and batch normalisation behave differently in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Training: dropout masks, batch statistics.
    Train,
    /// Evaluation (inference): dropout is the identity, running statistics.
    #[default]
    Eval,
}

/// How to initialise weights. Biases always start at zero (BatchNorm scales at one).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Init {
    /// He (Kaiming) normal: N(0, 2 / fan_in), suited to ReLU-like activations. The default.
    #[default]
    He,
    /// N(0, std^2) for every weight: the notebook's `init_scale` (std 0.02).
    Normal {
        /// Standard deviation.
        std: f64,
    },
}

impl Init {
    /// The notebook's initialisation: N(0, 0.02^2).
    pub const NOTEBOOK: Init = Init::Normal { std: 0.02 };

    /// The standard deviation for a weight with `fan_in` inputs per output.
    pub fn std(self, fan_in: usize) -> f64 {
        match self {
            Init::He => (2.0 / fan_in.max(1) as f64).sqrt(),
            Init::Normal { std } => std,
        }
    }
}

/// Fills `values` with N(0, std^2) samples.
pub fn fill_normal<T: Float>(values: &mut [T], std: f64, rng: &mut StdRng) {
    use rand_distr::{Distribution, StandardNormal};
    for v in values {
        let z: f64 = StandardNormal.sample(rng);
        *v = T::from_f64(z * std);
    }
}

/// What a parameter is for: optimisers update weights and biases; regularisation applies to
/// weights only; buffers (running statistics) are saved in checkpoints but not trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A weight: trained and regularised.
    Weight,
    /// A bias, or a BatchNorm shift or scale: trained, not regularised.
    Bias,
    /// State that is not trained (BatchNorm running statistics); it has no gradient.
    Buffer,
}

/// A read-only view of one parameter of a layer.
#[derive(Debug)]
pub struct Param<'a, T> {
    /// The parameter's name within its layer (`"weight"`, `"bias"`, `"running_mean"`).
    pub name: &'static str,
    /// What it is for.
    pub kind: ParamKind,
    /// Its shape in the layer's layout (e.g. `[K, K, IN_C, OUT_C]`).
    pub shape: &'static [usize],
    /// Its values, row-major.
    pub value: &'a [T],
    /// Its gradient from the last backward pass (empty for buffers).
    pub grad: &'a [T],
}

/// A mutable view of one parameter of a layer; see [`Param`].
#[derive(Debug)]
pub struct ParamMut<'a, T> {
    /// The parameter's name within its layer.
    pub name: &'static str,
    /// What it is for.
    pub kind: ParamKind,
    /// Its shape in the layer's layout.
    pub shape: &'static [usize],
    /// Its values, row-major.
    pub value: &'a mut [T],
    /// Its gradient from the last backward pass (empty for buffers).
    pub grad: &'a mut [T],
}

/// A layer taking samples of shape `In` to samples of shape [`Layer::Out`], in element type `T`.
///
/// Layers work on whole batches held in flat NHWC slices; the network owns those buffers and
/// reuses them, so a layer never allocates in `forward` or `backward` once its scratch space
/// (if any) has grown to the batch size.
///
/// `backward` *overwrites* the parameter gradients (it does not accumulate), so there is no
/// `zero_grad`.
///
/// [`Layer::infer`] evaluates through `&self` (the evaluation-mode [`Layer::forward`], bit for
/// bit), with its working memory in a caller-owned `scratch` slice of
/// [`Layer::infer_scratch`] values, so a trained layer (or network) can serve several threads at
/// once; hence `Sync`.
pub trait Layer<In: Shape, T: Float>: Default + Send + Sync {
    /// The output shape for input `In`.
    type Out: Shape;

    /// The layer's type name, as written (`"Conv2d"`).
    const KIND: &'static str;
    /// The layer's const-generic arguments, as written (`[3, 16, 3, 1, 1]`).
    const ARGS: &'static [usize];
    /// Whether the layer fits input `In`; the [`net!`](crate::net!) macro turns an `Err` into a
    /// compile error. See [`crate::shape`].
    const FIT: Result<(), Misfit>;

    /// Draws the parameters (if any) with `init`.
    fn init(&mut self, _init: Init, _rng: &mut StdRng) {}

    /// Computes `output` (`batch * Out::LEN` values) from `input` (`batch * In::LEN`).
    fn forward(&mut self, input: &[T], output: &mut [T], batch: usize, mode: Mode);

    /// Computes `output` (`batch * Out::LEN` values) from `input` (`batch * In::LEN`) in
    /// evaluation mode, without changing the layer: the same values, bit for bit, as
    /// [`Layer::forward`] with [`Mode::Eval`]. `scratch` holds at least
    /// [`Layer::infer_scratch`]`(batch)` values of working memory (their contents on entry do
    /// not matter).
    fn infer(&self, input: &[T], output: &mut [T], batch: usize, scratch: &mut [T]);

    /// The length of the `scratch` slice that [`Layer::infer`] needs for `batch` samples,
    /// the needs of the layers inside it included: the intermediate outputs of a container.
    /// 0 for a layer that needs none (the default).
    fn infer_scratch(batch: usize) -> usize {
        let _ = batch;
        0
    }

    /// As [`Layer::infer`], and calls `tap(path, values)` with the output of each layer inside
    /// this one (at its dotted path below `path`), then with this layer's own output at `path`:
    /// how [`Network::activation`](crate::Network::activation) reads a named layer's output.
    /// Layers without inner layers keep the default (`infer`, then `tap` at `path`);
    /// containers push each inner layer's name onto `path` around its call, as in
    /// [`Layer::visit_params`].
    fn infer_tapped(
        &self,
        input: &[T],
        output: &mut [T],
        batch: usize,
        scratch: &mut [T],
        path: &mut NamePath,
        tap: &mut Tap<'_, T>,
    ) {
        self.infer(input, output, batch, scratch);
        tap(path, output);
    }

    /// From the gradient of the loss with respect to `output`, computes the gradients of the
    /// parameters and, if `grad_input` is given, of the input. `input` and `output` are those of
    /// the last `forward`.
    fn backward(
        &mut self,
        input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
    );

    /// As [`Layer::backward`], inside a container's backward pass: a layer that holds other
    /// layers takes the buffers for the gradients between them from `pool` and gives them
    /// back before it returns, and passes `pool` on to the layers inside it, so that all the
    /// containers of a network share a few buffers (see [`GradPool`]). Layers without inner
    /// layers keep the default, which is [`Layer::backward`]; a container's `backward` is this
    /// with a pool of its own.
    fn backward_pooled(
        &mut self,
        input: &[T],
        output: &[T],
        grad_output: &[T],
        grad_input: Option<&mut [T]>,
        batch: usize,
        pool: &mut GradPool<T>,
    ) {
        let _ = pool;
        self.backward(input, output, grad_output, grad_input, batch);
    }

    /// Calls `f` on each parameter, in a fixed order.
    fn params<'a>(&'a self, _f: &mut dyn FnMut(Param<'a, T>)) {}

    /// Calls `f` on each parameter, mutably, in the same order as [`Layer::params`].
    fn params_mut<'a>(&'a mut self, _f: &mut dyn FnMut(ParamMut<'a, T>)) {}

    /// Calls `f(path, param)` on every parameter of this layer and of the layers inside it, in a
    /// fixed order; `path` names the layer holding the parameter (`layer2.0.conv1`). Layers
    /// without inner layers keep the default (their own [`Layer::params`] at `path`);
    /// containers push each inner layer's name onto `path` around its call.
    fn visit_params<'a>(&'a self, path: &mut NamePath, f: &mut dyn FnMut(&NamePath, Param<'a, T>)) {
        self.params(&mut |p| f(path, p));
    }

    /// As [`Layer::visit_params`], mutably.
    fn visit_params_mut<'a>(
        &'a mut self,
        path: &mut NamePath,
        f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>),
    ) {
        self.params_mut(&mut |p| f(path, p));
    }

    /// The layer as written, with its hyper-parameters: `Conv2d<3, 16, 3, 1, 1>`,
    /// `Dropout(p = 0.5)`.
    fn signature(&self) -> String {
        signature(Self::KIND, Self::ARGS)
    }

    /// Appends the summary rows of this layer at `path` (containers: their own row, then their
    /// inner layers').
    fn describe(&self, path: &mut NamePath, rows: &mut Vec<LayerInfo>) {
        let mut params = 0;
        self.params(&mut |p| {
            if p.kind != ParamKind::Buffer {
                params += p.value.len()
            }
        });
        rows.push(LayerInfo {
            name: path.to_string(),
            signature: self.signature(),
            output: crate::shape::dims::<Self::Out>(),
            params,
            depth: path.len(),
            container: false,
        });
    }
}

/// The callback of [`Layer::infer_tapped`]: called with a layer's path and its output.
pub type Tap<'a, T> = dyn FnMut(&NamePath, &[T]) + 'a;

/// The same layer with another element type: `Conv2d<3, 16, 3, 1, 1>` (f32 by default) becomes
/// `Conv2d<3, 16, 3, 1, 1, f64>` as `<Conv2d<3, 16, 3, 1, 1> as WithFloat<f64>>::Layer`. This
/// lets [`net!`](crate::net!) declarations name layers as written while the network is generic
/// over its element type. Every layer implements it.
pub trait WithFloat<U: Float> {
    /// The layer with element type `U`.
    type Layer;
}

/// One step of a parameter's path: a field name (`conv1`) or an index in a repetition (`0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// A named layer.
    Name(&'static str),
    /// The `i`-th block of a [`Repeat`](crate::layers::Repeat).
    Index(usize),
}

/// Where a layer sits in a network: the dotted path of PyTorch's `state_dict` names without the
/// parameter's own name (`layer2.0.downsample.0`). Fixed capacity, so that visiting parameters
/// never allocates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamePath {
    segments: [Segment; NamePath::CAPACITY],
    len: usize,
}

impl NamePath {
    /// The deepest nesting a path can name.
    pub const CAPACITY: usize = 32;

    /// The empty path: the network itself.
    pub const fn root() -> Self {
        NamePath {
            segments: [Segment::Index(0); NamePath::CAPACITY],
            len: 0,
        }
    }

    /// Descends into `segment`.
    ///
    /// # Panics
    /// If the path already has [`NamePath::CAPACITY`] segments.
    pub fn push(&mut self, segment: Segment) {
        assert!(
            self.len < Self::CAPACITY,
            "networks nested more than {} levels deep",
            Self::CAPACITY
        );
        self.segments[self.len] = segment;
        self.len += 1;
    }

    /// Goes back up one level.
    pub fn pop(&mut self) {
        self.len = self.len.saturating_sub(1);
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.len]
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether this is the root path.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether this path, written with dots, is `dotted` (`"layer2.0.conv1"`), without
    /// allocating.
    ///
    /// ```
    /// use constnet::layer::{NamePath, Segment};
    /// let mut path = NamePath::root();
    /// path.push(Segment::Name("layer2"));
    /// path.push(Segment::Index(0));
    /// assert!(path.matches("layer2.0"));
    /// assert!(!path.matches("layer2") && !path.matches("layer2.1"));
    /// ```
    pub fn matches(&self, dotted: &str) -> bool {
        let mut parts = dotted.split('.');
        for segment in self.segments() {
            let Some(part) = parts.next() else {
                return false;
            };
            let same = match segment {
                Segment::Name(name) => *name == part,
                Segment::Index(index) => {
                    part.parse::<usize>().ok() == Some(*index)
                        && !part.starts_with('+')
                        && (part == "0" || !part.starts_with('0'))
                }
            };
            if !same {
                return false;
            }
        }
        parts.next().is_none() && !self.is_empty()
    }

    /// The full name of the parameter `param` of the layer at this path:
    /// `layer2.0.conv1.weight`.
    pub fn param_name(&self, param: &str) -> String {
        if self.is_empty() {
            param.to_string()
        } else {
            format!("{self}.{param}")
        }
    }
}

impl Default for NamePath {
    fn default() -> Self {
        Self::root()
    }
}

impl fmt::Display for NamePath {
    /// The segments joined by dots: `layer2.0.conv1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments().iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            match segment {
                Segment::Name(name) => f.write_str(name)?,
                Segment::Index(index) => write!(f, "{index}")?,
            }
        }
        Ok(())
    }
}

/// Calls `f` on a layer's `weight` then `bias`: the parameters of [`Conv2d`](crate::layers::Conv2d)
/// and [`Linear`](crate::layers::Linear).
pub(crate) fn visit_weight_and_bias<'a, T>(
    f: &mut dyn FnMut(Param<'a, T>),
    shapes: [&'static [usize]; 2],
    [weight, weight_grad, bias, bias_grad]: [&'a [T]; 4],
) {
    f(Param {
        name: "weight",
        kind: ParamKind::Weight,
        shape: shapes[0],
        value: weight,
        grad: weight_grad,
    });
    f(Param {
        name: "bias",
        kind: ParamKind::Bias,
        shape: shapes[1],
        value: bias,
        grad: bias_grad,
    });
}

/// As [`visit_weight_and_bias`], mutably.
pub(crate) fn visit_weight_and_bias_mut<'a, T>(
    f: &mut dyn FnMut(ParamMut<'a, T>),
    shapes: [&'static [usize]; 2],
    [weight, weight_grad, bias, bias_grad]: [&'a mut [T]; 4],
) {
    f(ParamMut {
        name: "weight",
        kind: ParamKind::Weight,
        shape: shapes[0],
        value: weight,
        grad: weight_grad,
    });
    f(ParamMut {
        name: "bias",
        kind: ParamKind::Bias,
        shape: shapes[1],
        value: bias,
        grad: bias_grad,
    });
}

/// The layer's signature as written, e.g. `Conv2d<3, 16, 3, 1, 1>` or `Flatten`.
pub fn signature(kind: &str, args: &[usize]) -> String {
    if args.is_empty() {
        kind.to_string()
    } else {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        format!("{kind}<{}>", args.join(", "))
    }
}
