//! Inference through `&self`: the [`Workspace`] that holds its buffers, class [`Prediction`]s
//! with softmax probabilities, a named layer's [`Activation`], and [`InferError`].
//!
//! The methods are [`Network`]'s: [`Network::infer_batch`] (typed outputs),
//! [`Network::predict`] and [`Network::predict_batch`] (classes and probabilities),
//! [`Network::activation`] (a layer's output by name). A trained network is `Sync`: threads
//! share it, each with its own workspace.
//!
//! ```
//! use constnet::models::LeNet5;
//! use constnet::{Image, Network, Tensor, Workspace};
//!
//! let net = LeNet5::<f32>::new(3);
//! let image = vec![0.5_f32; 28 * 28];
//! let mut ws = Workspace::new();
//! let prediction = net.predict(&image, &mut ws)?;
//! assert!(prediction.class < 10);
//! for ranked in prediction.top(3) {
//!     println!("class {}: {:.1} %", ranked.class, 100.0 * ranked.probability);
//! }
//! // The wrong number of values is an error, not a panic.
//! assert!(net.predict(&image[1..], &mut ws).is_err());
//! # Ok::<(), constnet::InferError>(())
//! ```

use crate::layer::NamePath;
use crate::network::at_least;
use crate::tensor::TensorLengthError;
use crate::{Float, Network, Shape};

/// The reusable buffers of inference through `&self`: the network's intermediate outputs, its
/// output, the probabilities and a captured activation. Sized on first use and grown when a
/// larger batch comes; after the first call with the largest batch, inference does not
/// allocate. One workspace serves any network of element type `T`; each thread needs its own.
///
/// A large batch is evaluated in passes of as many samples as fit in 8 MB of intermediate
/// outputs (at least 16), so that each layer reads its input from the cache and the workspace
/// holds one pass's intermediate outputs, not the whole batch's; the outputs are the same bits
/// as one pass.
#[derive(Debug, Clone, Default)]
pub struct Workspace<T: Float = f32> {
    scratch: Vec<T>,
    output: Vec<T>,
    probabilities: Vec<T>,
    activation: Vec<T>,
}

impl<T: Float> Workspace<T> {
    /// An empty workspace (it allocates on first use).
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of values held in all buffers (their lengths, for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.scratch.len() + self.output.len() + self.probabilities.len() + self.activation.len()
    }

    /// Whether nothing has been allocated yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The intermediate outputs one pass of [`run`] may hold, in bytes: a larger batch is
/// evaluated in passes of as many samples as fit, so that each layer's output is still in the
/// cache when the next layer reads it. (ResNet-20 on a 2-core AMD Zen 5, 1,280 images in
/// batches of 256: 2,430 images/s in one pass per batch, 2,940 in passes of 32 or 64.)
const PASS_BYTES: usize = 8 << 20;

/// The fewest samples in a pass, so that the threads still share the work of each layer.
const MIN_PASS: usize = 16;

/// Samples per pass of [`run`] for `batch` samples (at least 1).
fn pass_len<T: Float, N: Network<T> + ?Sized>(net: &N, batch: usize) -> usize {
    // What one more sample adds: the working memory that does not grow with the batch (such as
    // a convolution's transformed weights) is not the intermediate outputs this bounds.
    let per_sample = net
        .infer_scratch_len(2)
        .saturating_sub(net.infer_scratch_len(1))
        .max(1)
        * size_of::<T>();
    (PASS_BYTES / per_sample).max(MIN_PASS).min(batch).max(1)
}

/// Evaluates `batch` samples on a pool thread into `ws.output` and returns the outputs, in
/// passes of [`pass_len`] samples (every layer in evaluation mode treats each sample on its
/// own, so the passes give the bits of one call).
pub(crate) fn run<'w, T: Float, N: Network<T> + ?Sized>(
    net: &N,
    input: &[T],
    batch: usize,
    ws: &'w mut Workspace<T>,
) -> &'w [T] {
    let (in_len, out_len) = (<N::Input as Shape>::LEN, <N::Output as Shape>::LEN);
    let len = batch * out_len;
    let pass = pass_len(net, batch);
    let output = at_least(&mut ws.output, len);
    let scratch = at_least(&mut ws.scratch, net.infer_scratch_len(pass));
    crate::kernels::on_pool(|| {
        for (x, y) in input[..batch * in_len]
            .chunks(pass * in_len)
            .zip(output.chunks_mut(pass * out_len))
        {
            net.infer_into(x, y, y.len() / out_len, scratch, None);
        }
    });
    &ws.output[..len]
}

/// Evaluates `batch` samples and the softmax of each row of scores.
pub(crate) fn predict<'w, T: Float, N: Network<T> + ?Sized>(
    net: &N,
    input: &[T],
    batch: usize,
    ws: &'w mut Workspace<T>,
) -> Predictions<'w, T> {
    let classes = <N::Output as Shape>::LEN;
    run(net, input, batch, ws);
    let scores = &ws.output[..batch * classes];
    let probabilities = at_least(&mut ws.probabilities, batch * classes);
    for (p, s) in probabilities
        .chunks_exact_mut(classes)
        .zip(scores.chunks_exact(classes))
    {
        softmax(s, p);
    }
    Predictions {
        classes,
        scores,
        probabilities: &ws.probabilities[..batch * classes],
    }
}

/// `probabilities = softmax(scores)`, with the largest score subtracted first (so that large
/// scores do not overflow).
fn softmax<T: Float>(scores: &[T], probabilities: &mut [T]) {
    let Some(&first) = scores.first() else { return };
    let max = scores.iter().fold(first, |m, &s| m.max(s));
    let mut sum = T::ZERO;
    for (p, &s) in probabilities.iter_mut().zip(scores) {
        *p = (s - max).exp();
        sum += *p;
    }
    for p in probabilities.iter_mut() {
        *p /= sum;
    }
}

/// Evaluates `batch` samples, keeping the output of the layer at `name` in `ws.activation`.
pub(crate) fn activation<'w, T: Float, N: Network<T> + ?Sized>(
    net: &N,
    name: &str,
    shape: [usize; 3],
    input: &[T],
    batch: usize,
    ws: &'w mut Workspace<T>,
) -> Result<Activation<'w, T>, InferError> {
    let len = batch * <N::Output as Shape>::LEN;
    let scratch_len = net.infer_scratch_len(batch);
    let Workspace {
        scratch,
        output,
        activation,
        ..
    } = ws;
    let output = at_least(output, len);
    let scratch = at_least(scratch, scratch_len);
    let want = batch * shape.iter().product::<usize>();
    let mut found = false;
    crate::kernels::on_pool(|| {
        // A container's own output comes after its inner layers' (a residual's branch shares
        // its name): the last one at `name` is the layer's.
        let mut tap = |path: &NamePath, values: &[T]| {
            if path.matches(name) && values.len() == want {
                activation.clear();
                activation.extend_from_slice(values);
                found = true;
            }
        };
        net.infer_into(input, output, batch, scratch, Some(&mut tap));
    });
    if !found {
        return Err(InferError::UnknownLayer {
            name: name.to_string(),
            known: net
                .layers()
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(Activation {
        batch,
        shape,
        values: &ws.activation[..want],
    })
}

/// An inference that cannot be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InferError {
    /// No layer has this name.
    #[error("no layer named '{name}' (the network has: {known})")]
    UnknownLayer {
        /// The name asked for.
        name: String,
        /// The names of the network's layers, comma-separated, in order.
        known: String,
    },
    /// The input does not have the network's input size.
    #[error("the input does not fit the network: {0}")]
    Input(#[from] TensorLengthError),
}

/// The predictions for a batch: a view of a [`Workspace`]'s scores and probabilities.
#[derive(Debug, Clone, Copy)]
pub struct Predictions<'w, T: Float = f32> {
    classes: usize,
    scores: &'w [T],
    probabilities: &'w [T],
}

impl<'w, T: Float> Predictions<'w, T> {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.scores.len() / self.classes.max(1)
    }

    /// Whether the batch was empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of classes (scores per sample).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Sample `i`'s prediction (`None` past the end).
    pub fn get(&self, i: usize) -> Option<Prediction<'w, T>> {
        (i < self.len()).then(|| self.row(i))
    }

    /// Sample `i`'s prediction; `i` must be in range.
    pub(crate) fn row(&self, i: usize) -> Prediction<'w, T> {
        let range = i * self.classes..(i + 1) * self.classes;
        let scores = &self.scores[range.clone()];
        let mut class = 0;
        for (k, &s) in scores.iter().enumerate().skip(1) {
            if s > scores[class] {
                class = k;
            }
        }
        Prediction {
            class,
            scores,
            probabilities: &self.probabilities[range],
        }
    }

    /// The predictions in order.
    pub fn iter(&self) -> impl Iterator<Item = Prediction<'w, T>> + '_ {
        (0..self.len()).map(|i| self.row(i))
    }
}

/// The prediction for one sample: the class with the largest score (the first on ties), the
/// scores, and their softmax.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction<'w, T: Float = f32> {
    /// The predicted class: the index of the largest score (the first one on ties), as
    /// [`train::predictions`](crate::train::predictions).
    pub class: usize,
    /// The network's scores (logits), one per class.
    pub scores: &'w [T],
    /// The softmax of the scores: one probability per class, summing to 1.
    pub probabilities: &'w [T],
}

impl<T: Float> Prediction<'_, T> {
    /// The `k` most probable classes (fewer if there are fewer classes), most probable first;
    /// classes of equal score in class order. The first is [`Prediction::class`].
    pub fn top(&self, k: usize) -> Vec<Ranked<T>> {
        let mut order: Vec<usize> = (0..self.scores.len()).collect();
        // Stable: equal scores keep class order.
        order.sort_by(|&a, &b| {
            self.scores[b]
                .partial_cmp(&self.scores[a])
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        order
            .into_iter()
            .take(k)
            .map(|class| Ranked {
                class,
                probability: self.probabilities[class],
            })
            .collect()
    }
}

/// A class and its probability, from [`Prediction::top`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked<T: Float = f32> {
    /// The class index.
    pub class: usize,
    /// Its probability.
    pub probability: T,
}

/// A layer's output for a batch, from [`Network::activation`]: a view of a [`Workspace`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation<'w, T: Float = f32> {
    /// The number of samples.
    pub batch: usize,
    /// The shape of one sample's output, `[H, W, C]`.
    pub shape: [usize; 3],
    /// The values, NHWC (`batch * H * W * C`).
    pub values: &'w [T],
}

impl<'w, T: Float> Activation<'w, T> {
    /// Sample `i`'s values (`H * W * C`, HWC); panics if `i >= batch`.
    pub fn sample(&self, i: usize) -> &'w [T] {
        let len = self.shape.iter().product::<usize>();
        &self.values[i * len..(i + 1) * len]
    }
}
