//! Optimizers: the [`Optimizer`] trait and its six update rules — [`Sgd`], [`Momentum`],
//! [`Nesterov`], [`RmsProp`], [`Adam`], [`AdamW`] — with PyTorch's formulas and defaults.
//! [`OptimizerKind`] names them (the `--optimizer` values of the programs) and builds one.

use crate::{Float, NamePath, Network, ParamKind, ParamMut};
use rayon::prelude::*;
use std::fmt;
use std::str::FromStr;

/// Which update rule an optimizer uses. Parses from and prints as `sgd`, `momentum`,
/// `nesterov`, `rmsprop`, `adam`, `adamw` (the `--optimizer` values of the programs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OptimizerKind {
    /// [`Sgd`].
    Sgd,
    /// [`Momentum`].
    Momentum,
    /// [`Nesterov`].
    Nesterov,
    /// [`RmsProp`].
    RmsProp,
    /// [`Adam`].
    #[default]
    Adam,
    /// [`AdamW`].
    AdamW,
}

/// A name that is not an optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown optimizer '{0}' (expected sgd, momentum, nesterov, rmsprop, adam or adamw)")]
pub struct UnknownOptimizer(pub String);

impl FromStr for OptimizerKind {
    type Err = UnknownOptimizer;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(OptimizerKind::Sgd),
            "momentum" => Ok(OptimizerKind::Momentum),
            "nesterov" => Ok(OptimizerKind::Nesterov),
            "rmsprop" => Ok(OptimizerKind::RmsProp),
            "adam" => Ok(OptimizerKind::Adam),
            "adamw" => Ok(OptimizerKind::AdamW),
            _ => Err(UnknownOptimizer(s.to_string())),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl OptimizerKind {
    /// The name, as parsed (`"adamw"`).
    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::Nesterov => "nesterov",
            OptimizerKind::RmsProp => "rmsprop",
            OptimizerKind::Adam => "adam",
            OptimizerKind::AdamW => "adamw",
        }
    }

    /// A new optimizer of this kind with learning rate `learning_rate` and PyTorch's defaults;
    /// `weight_decay` is used by [`AdamW`] only.
    pub fn build<T: Float>(self, learning_rate: f64, weight_decay: f64) -> Box<dyn Optimizer<T>> {
        match self {
            OptimizerKind::Sgd => Box::new(Sgd::new(learning_rate)),
            OptimizerKind::Momentum => Box::new(Momentum::new(learning_rate)),
            OptimizerKind::Nesterov => Box::new(Nesterov::new(learning_rate)),
            OptimizerKind::RmsProp => Box::new(RmsProp::new(learning_rate)),
            OptimizerKind::Adam => Box::new(Adam::new(learning_rate)),
            OptimizerKind::AdamW => {
                let mut adamw = AdamW::new(learning_rate);
                adamw.weight_decay = weight_decay;
                Box::new(adamw)
            }
        }
    }
}

/// The parameters an optimizer updates: implemented for every [`Network`], so that
/// `optimizer.step(&mut net)` works with any network (the trait keeps [`Optimizer`] usable as
/// `dyn Optimizer<T>`).
pub trait Trainable<T: Float>: Send {
    /// Calls `f(layer_path, param)` on every parameter, mutably, in the network's order.
    fn each_param_mut<'a>(&'a mut self, f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>));
}

impl<T: Float, N: Network<T> + ?Sized> Trainable<T> for N {
    fn each_param_mut<'a>(&'a mut self, f: &mut dyn FnMut(&NamePath, ParamMut<'a, T>)) {
        self.params_mut(f)
    }
}

/// An optimizer's state, to save and restore (exact resume): the step count and named slots
/// (`"velocity"`, `"exp_avg"`, ...) of one vector per trained parameter, in the network's
/// order (buffers skipped). A slot is empty before the first step.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerState<T> {
    /// The optimizer's name ([`OptimizerKind::name`]).
    pub name: String,
    /// Steps taken.
    pub steps: u64,
    /// Slots by name, each one vector per trained parameter.
    pub slots: Vec<(String, Vec<Vec<T>>)>,
}

/// A state that does not fit the optimizer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot restore the {optimizer} optimizer: {message}")]
pub struct OptimizerStateError {
    /// The optimizer's name.
    pub optimizer: String,
    /// What does not fit.
    pub message: String,
}

/// Updates a network's weights and biases from their gradients (buffers such as BatchNorm
/// running statistics are skipped).
///
/// The state (velocities, moment estimates) is one vector per trained parameter, allocated on
/// the first [`step`](Optimizer::step) and reused afterwards, so steps do not allocate. Updates
/// are element-wise and run in parallel chunks (the result does not depend on the thread
/// count). Use one optimizer per network.
///
/// ```
/// use constnet::layers::Linear;
/// use constnet::train::{Optimizer, Sgd};
/// use constnet::{Image, Mode, Network, Tensor, net};
///
/// net! { struct Tiny { input: Image<1, 1, 1>, fc: Linear<1, 1> } }
/// let mut net = Tiny::<f64>::new(0);
/// net.assign("fc.weight", &[1.0]).unwrap();
/// net.assign("fc.bias", &[0.0]).unwrap();
/// let x = Tensor::from_vec(1, vec![1.0]).unwrap();
/// let mut sgd = Sgd::new(0.1);
/// for _ in 0..3 {
///     let y = net.forward(&x, Mode::Train)[0];
///     net.backward(&[y]); // loss y^2 / 2
///     Optimizer::<f64>::step(&mut sgd, &mut net);
/// }
/// // y = w + b and each step multiplies it by 1 - 2 * 0.1.
/// let y = net.forward(&x, Mode::Eval)[0];
/// assert!((y - 0.8f64.powi(3)).abs() < 1e-12);
/// ```
pub trait Optimizer<T: Float>: Send {
    /// The update rule's name ([`OptimizerKind::name`] for the built-in ones).
    fn name(&self) -> &'static str;
    /// Updates every weight and bias of `net` from its gradient (as set by the last
    /// `backward`, plus any regularization gradient).
    fn step(&mut self, net: &mut dyn Trainable<T>);
    /// The learning rate.
    fn learning_rate(&self) -> f64;
    /// Sets the learning rate (the training loop does before every epoch, from its schedule).
    fn set_learning_rate(&mut self, learning_rate: f64);
    /// Steps taken.
    fn steps(&self) -> u64;
    /// A copy of the state, for [`load_state`](Optimizer::load_state).
    fn state(&self) -> OptimizerState<T>;
    /// Restores a [`state`](Optimizer::state) (same optimizer name and slots).
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerStateError>;
}

/// Checks `state` against the optimizer `name` with slots `slots`, and returns the slots in
/// that order.
fn take_slots<T>(
    name: &str,
    slots: &[&str],
    state: OptimizerState<T>,
) -> Result<(u64, Vec<Slot<T>>), OptimizerStateError> {
    let error = |message: String| OptimizerStateError {
        optimizer: name.to_string(),
        message,
    };
    if state.name != name {
        return Err(error(format!(
            "the state is of the {} optimizer",
            state.name
        )));
    }
    let mut given = state.slots;
    let mut out = Vec::new();
    for slot in slots {
        match given.iter().position(|(n, _)| n == slot) {
            Some(at) => out.push(given.swap_remove(at).1),
            None => return Err(error(format!("the state has no '{slot}'"))),
        }
    }
    if let Some((extra, _)) = given.first() {
        return Err(error(format!("unexpected state '{extra}'")));
    }
    Ok((state.steps, out))
}

/// The state of one slot: one vector per trained parameter.
type Slot<T> = Vec<Vec<T>>;

/// Makes sure `slot` has a vector of `len` values for trained parameter `index` (allocated on
/// the first step only, or for a network of another layout), and returns it.
fn slot_at<T: Float>(slot: &mut Slot<T>, index: usize, len: usize) -> &mut [T] {
    if slot.get(index).is_none_or(|s| s.len() != len) {
        if slot.len() <= index {
            slot.resize(index + 1, Vec::new());
        }
        slot[index] = vec![T::ZERO; len];
    }
    &mut slot[index]
}

/// Applies `f(w, g)` to every trained value, in parallel chunks.
fn update0<T: Float>(net: &mut dyn Trainable<T>, f: impl Fn(&mut T, T) + Sync + Send + Copy) {
    crate::kernels::on_pool(move || {
        net.each_param_mut(&mut |_, p| {
            if p.kind == ParamKind::Buffer {
                return;
            }
            let chunk = chunk_len(p.value.len());
            chunks(p.value, p.grad, chunk).for_each(|(w, g)| {
                crate::kernels::run(
                    #[inline(always)]
                    || {
                        for (w, &g) in w.iter_mut().zip(g) {
                            f(w, g);
                        }
                    },
                )
            });
        })
    });
}

/// Applies `f(w, g, s)` to every trained value and its state in `slot`, in parallel chunks.
fn update1<T: Float>(
    net: &mut dyn Trainable<T>,
    slot: &mut Slot<T>,
    f: impl Fn(&mut T, T, &mut T) + Sync + Send + Copy,
) {
    let mut index = 0;
    crate::kernels::on_pool(move || {
        net.each_param_mut(&mut |_, p| {
            if p.kind == ParamKind::Buffer {
                return;
            }
            let state = slot_at(slot, index, p.value.len());
            let chunk = chunk_len(p.value.len());
            chunks(p.value, p.grad, chunk)
                .zip(state.par_chunks_mut(chunk))
                .for_each(|((w, g), s)| {
                    crate::kernels::run(
                        #[inline(always)]
                        || {
                            for ((w, &g), s) in w.iter_mut().zip(g).zip(s) {
                                f(w, g, s);
                            }
                        },
                    )
                });
            index += 1;
        })
    });
}

/// Applies `f(w, g, s1, s2)` to every trained value and its states in two slots.
fn update2<T: Float>(
    net: &mut dyn Trainable<T>,
    (slot1, slot2): (&mut Slot<T>, &mut Slot<T>),
    f: impl Fn(&mut T, T, &mut T, &mut T) + Sync + Send + Copy,
) {
    let mut index = 0;
    crate::kernels::on_pool(move || {
        net.each_param_mut(&mut |_, p| {
            if p.kind == ParamKind::Buffer {
                return;
            }
            let state1 = slot_at(slot1, index, p.value.len());
            let state2 = slot_at(slot2, index, p.value.len());
            let chunk = chunk_len(p.value.len());
            chunks(p.value, p.grad, chunk)
                .zip(state1.par_chunks_mut(chunk))
                .zip(state2.par_chunks_mut(chunk))
                .for_each(|(((w, g), s1), s2)| {
                    crate::kernels::run(
                        #[inline(always)]
                        || {
                            for (((w, &g), s1), s2) in w.iter_mut().zip(g).zip(s1).zip(s2) {
                                f(w, g, s1, s2);
                            }
                        },
                    )
                });
            index += 1;
        })
    });
}

/// Plain SGD: `w -= lr * g`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sgd {
    /// Learning rate.
    pub learning_rate: f64,
    steps: u64,
}

impl Sgd {
    /// SGD with learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        Sgd {
            learning_rate,
            steps: 0,
        }
    }
}

impl<T: Float> Optimizer<T> for Sgd {
    fn name(&self) -> &'static str {
        "sgd"
    }
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let lr = T::from_f64(self.learning_rate);
        update0(
            net,
            #[inline(always)]
            move |w, g| *w -= lr * g,
        );
    }
    fn learning_rate(&self) -> f64 {
        self.learning_rate
    }
    fn set_learning_rate(&mut self, learning_rate: f64) {
        self.learning_rate = learning_rate;
    }
    fn steps(&self) -> u64 {
        self.steps
    }
    fn state(&self) -> OptimizerState<T> {
        OptimizerState {
            name: "sgd".into(),
            steps: self.steps,
            slots: Vec::new(),
        }
    }
    fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerStateError> {
        self.steps = take_slots("sgd", &[], state)?.0;
        Ok(())
    }
}

/// Implements the learning-rate, step-count and state methods of [`Optimizer`] for a struct
/// with `learning_rate`, `steps` and the given slot fields.
macro_rules! common_methods {
    ($name:literal, $($slot:ident),+) => {
        fn name(&self) -> &'static str {
            $name
        }
        fn learning_rate(&self) -> f64 {
            self.learning_rate
        }
        fn set_learning_rate(&mut self, learning_rate: f64) {
            self.learning_rate = learning_rate;
        }
        fn steps(&self) -> u64 {
            self.steps
        }
        fn state(&self) -> OptimizerState<T> {
            OptimizerState {
                name: $name.into(),
                steps: self.steps,
                slots: vec![$((stringify!($slot).to_string(), self.$slot.clone())),+],
            }
        }
        fn load_state(&mut self, state: OptimizerState<T>) -> Result<(), OptimizerStateError> {
            let (steps, slots) = take_slots($name, &[$(stringify!($slot)),+], state)?;
            self.steps = steps;
            let mut slots = slots.into_iter();
            $(self.$slot = slots.next().unwrap_or_default();)+
            Ok(())
        }
    };
}

/// PyTorch's SGD with momentum: `v = mu * v + g; w -= lr * v` (`mu` 0.9; the velocity starts
/// at 0, so the first step is `v = g`, as PyTorch's).
#[derive(Debug, Clone, PartialEq)]
pub struct Momentum<T> {
    /// Learning rate.
    pub learning_rate: f64,
    /// Momentum factor `mu` (0.9).
    pub momentum: f64,
    steps: u64,
    velocity: Slot<T>,
}

impl<T: Float> Momentum<T> {
    /// SGD with momentum 0.9 and learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        Momentum {
            learning_rate,
            momentum: 0.9,
            steps: 0,
            velocity: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Momentum<T> {
    common_methods!("momentum", velocity);
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let (lr, mu) = (T::from_f64(self.learning_rate), T::from_f64(self.momentum));
        update1(
            net,
            &mut self.velocity,
            #[inline(always)]
            move |w, g, v| {
                *v = mu * *v + g;
                *w -= lr * *v;
            },
        );
    }
}

/// PyTorch's SGD with Nesterov momentum: `v = mu * v + g; w -= lr * (g + mu * v)` (`mu` 0.9).
#[derive(Debug, Clone, PartialEq)]
pub struct Nesterov<T> {
    /// Learning rate.
    pub learning_rate: f64,
    /// Momentum factor `mu` (0.9).
    pub momentum: f64,
    steps: u64,
    velocity: Slot<T>,
}

impl<T: Float> Nesterov<T> {
    /// SGD with Nesterov momentum 0.9 and learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        Nesterov {
            learning_rate,
            momentum: 0.9,
            steps: 0,
            velocity: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Nesterov<T> {
    common_methods!("nesterov", velocity);
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let (lr, mu) = (T::from_f64(self.learning_rate), T::from_f64(self.momentum));
        update1(
            net,
            &mut self.velocity,
            #[inline(always)]
            move |w, g, v| {
                *v = mu * *v + g;
                *w -= lr * (g + mu * *v);
            },
        );
    }
}

/// PyTorch's RMSprop: `s = alpha * s + (1 - alpha) * g^2; w -= lr * g / (sqrt(s) + eps)`
/// (`alpha` 0.99, `eps` 1e-8).
#[derive(Debug, Clone, PartialEq)]
pub struct RmsProp<T> {
    /// Learning rate.
    pub learning_rate: f64,
    /// Smoothing constant `alpha` (0.99).
    pub alpha: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    steps: u64,
    square_avg: Slot<T>,
}

impl<T: Float> RmsProp<T> {
    /// RMSprop with PyTorch's defaults and learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        RmsProp {
            learning_rate,
            alpha: 0.99,
            eps: 1e-8,
            steps: 0,
            square_avg: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for RmsProp<T> {
    common_methods!("rmsprop", square_avg);
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let lr = T::from_f64(self.learning_rate);
        let (alpha, one_minus_alpha, eps) = (
            T::from_f64(self.alpha),
            T::from_f64(1.0 - self.alpha),
            T::from_f64(self.eps),
        );
        update1(
            net,
            &mut self.square_avg,
            #[inline(always)]
            move |w, g, s| {
                *s = alpha * *s + one_minus_alpha * g * g;
                *w -= lr * g / (s.sqrt() + eps);
            },
        );
    }
}

/// Adam's constants for step `t`, rounded once to `T`:
/// (`b1`, `1 - b1`, `b2`, `1 - b2`, `lr / (1 - b1^t)`, `sqrt(1 - b2^t)`, `eps`).
fn adam_constants<T: Float>(lr: f64, beta1: f64, beta2: f64, eps: f64, t: u64) -> [T; 7] {
    // Bias corrections in f64 (`powi` of a Float is not available), then rounded once.
    let exponent = i32::try_from(t).unwrap_or(i32::MAX);
    let correction1 = 1.0 - beta1.powi(exponent);
    let correction2 = 1.0 - beta2.powi(exponent);
    [
        T::from_f64(beta1),
        T::from_f64(1.0 - beta1),
        T::from_f64(beta2),
        T::from_f64(1.0 - beta2),
        T::from_f64(lr / correction1),
        T::from_f64(correction2.sqrt()),
        T::from_f64(eps),
    ]
}

/// Adam with bias correction: `m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)` (betas 0.9 and 0.999, eps 1e-8),
/// computed in PyTorch's order: `w -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Adam<T> {
    /// Learning rate.
    pub learning_rate: f64,
    /// First-moment decay `beta1` (0.9).
    pub beta1: f64,
    /// Second-moment decay `beta2` (0.999).
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    steps: u64,
    exp_avg: Slot<T>,
    exp_avg_sq: Slot<T>,
}

impl<T: Float> Adam<T> {
    /// Adam with PyTorch's defaults and learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        Adam {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            steps: 0,
            exp_avg: Vec::new(),
            exp_avg_sq: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for Adam<T> {
    common_methods!("adam", exp_avg, exp_avg_sq);
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let [
            b1,
            one_minus_b1,
            b2,
            one_minus_b2,
            step_size,
            sqrt_correction2,
            eps,
        ] = adam_constants::<T>(
            self.learning_rate,
            self.beta1,
            self.beta2,
            self.eps,
            self.steps,
        );
        update2(
            net,
            (&mut self.exp_avg, &mut self.exp_avg_sq),
            #[inline(always)]
            move |w, g, m, v| {
                *m = b1 * *m + one_minus_b1 * g;
                *v = b2 * *v + one_minus_b2 * g * g;
                // m_hat / (sqrt(v_hat) + eps), in PyTorch's order.
                *w -= step_size * *m / (v.sqrt() / sqrt_correction2 + eps);
            },
        );
    }
}

/// PyTorch's AdamW: Adam with decoupled weight decay, `w *= 1 - lr * weight_decay` before
/// [`Adam`]'s update (weight decay 0.01; applied to every trained parameter, biases included,
/// as PyTorch does for a single parameter group).
#[derive(Debug, Clone, PartialEq)]
pub struct AdamW<T> {
    /// Learning rate.
    pub learning_rate: f64,
    /// First-moment decay `beta1` (0.9).
    pub beta1: f64,
    /// Second-moment decay `beta2` (0.999).
    pub beta2: f64,
    /// Added to the denominator (1e-8).
    pub eps: f64,
    /// Decoupled weight decay (0.01).
    pub weight_decay: f64,
    steps: u64,
    exp_avg: Slot<T>,
    exp_avg_sq: Slot<T>,
}

impl<T: Float> AdamW<T> {
    /// AdamW with PyTorch's defaults and learning rate `learning_rate`.
    pub fn new(learning_rate: f64) -> Self {
        AdamW {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            steps: 0,
            exp_avg: Vec::new(),
            exp_avg_sq: Vec::new(),
        }
    }
}

impl<T: Float> Optimizer<T> for AdamW<T> {
    common_methods!("adamw", exp_avg, exp_avg_sq);
    fn step(&mut self, net: &mut dyn Trainable<T>) {
        self.steps += 1;
        let [
            b1,
            one_minus_b1,
            b2,
            one_minus_b2,
            step_size,
            sqrt_correction2,
            eps,
        ] = adam_constants::<T>(
            self.learning_rate,
            self.beta1,
            self.beta2,
            self.eps,
            self.steps,
        );
        let decay = T::from_f64(1.0 - self.learning_rate * self.weight_decay);
        update2(
            net,
            (&mut self.exp_avg, &mut self.exp_avg_sq),
            #[inline(always)]
            move |w, g, m, v| {
                *w *= decay;
                *m = b1 * *m + one_minus_b1 * g;
                *v = b2 * *v + one_minus_b2 * g * g;
                *w -= step_size * *m / (v.sqrt() / sqrt_correction2 + eps);
            },
        );
    }
}

/// Parameters smaller than this are updated by one thread (splitting costs more than it saves).
const PARALLEL_MIN: usize = 32 * 1024;

/// Values per parallel chunk of a parameter of `len` values: one run per thread.
fn chunk_len(len: usize) -> usize {
    if len < PARALLEL_MIN {
        len.max(1)
    } else {
        len.div_ceil(rayon::current_num_threads())
    }
}

/// A parameter's values and gradient, chunk by chunk, in parallel.
fn chunks<'a, T: Float>(
    value: &'a mut [T],
    grad: &'a [T],
    chunk: usize,
) -> impl IndexedParallelIterator<Item = (&'a mut [T], &'a [T])> {
    value.par_chunks_mut(chunk).zip(grad.par_chunks(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{BatchNorm2d, Linear};
    use crate::{Image, net};

    net! {
        /// Two trained values (weight and bias) and a BatchNorm whose buffers must not move.
        struct Pair {
            input: Image<1, 1, 1>,
            fc: Linear<1, 1>,
            bn: BatchNorm2d<1>,
        }
    }

    /// Runs three steps from w = 1, b = -1 with constant gradients g_w = 2, g_b = -0.5 (and
    /// gradients on the BatchNorm scale/shift of 0); returns (w, b) after each step.
    fn three_steps(mut opt: impl Optimizer<f64>) -> Vec<(f64, f64)> {
        let mut net = Pair::<f64>::new(0);
        net.assign("fc.weight", &[1.0]).unwrap();
        net.assign("fc.bias", &[-1.0]).unwrap();
        let mut out = Vec::new();
        for _ in 0..3 {
            net.params_mut(&mut |layer, p| {
                if layer.to_string() == "fc" {
                    p.grad[0] = if p.name == "weight" { 2.0 } else { -0.5 };
                } else {
                    p.grad.fill(0.0);
                }
            });
            opt.step(&mut net);
            out.push((
                net.param("fc.weight").unwrap()[0],
                net.param("fc.bias").unwrap()[0],
            ));
        }
        assert_eq!(net.param("bn.running_mean").unwrap(), &[0.0]);
        assert_eq!(net.param("bn.running_var").unwrap(), &[1.0]);
        out
    }

    fn assert_close(got: &[(f64, f64)], expected: &[(f64, f64)]) {
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert!(
                (g.0 - e.0).abs() < 1e-12 && (g.1 - e.1).abs() < 1e-12,
                "step {}: got {g:?}, expected {e:?}",
                i + 1
            );
        }
    }

    #[test]
    fn sgd_by_hand() {
        // w: 1 - 0.1 * 2 per step; b: -1 + 0.1 * 0.5 per step.
        let got = three_steps(Sgd::new(0.1));
        assert_close(&got, &[(0.8, -0.95), (0.6, -0.9), (0.4, -0.85)]);
    }

    #[test]
    fn momentum_by_hand() {
        // v = 0.9 v + g: 1 g, 1.9 g, 2.71 g; w moves by lr * v: cumulative 1, 2.9, 5.61 (x lr g).
        // w: 1 - 0.1*2*{1, 2.9, 5.61} = 0.8, 0.42, -0.122; b: -1 + 0.05*{...} = -0.95, -0.855, -0.7195.
        let got = three_steps(Momentum::new(0.1));
        assert_close(&got, &[(0.8, -0.95), (0.42, -0.855), (-0.122, -0.7195)]);
    }

    #[test]
    fn rmsprop_by_hand() {
        // s_t = (1 - 0.99^t) g^2: 0.01 g^2, 0.0199 g^2, 0.029701 g^2, so each step moves by
        // lr * sign(g) / sqrt(1 - 0.99^t):
        // 1/sqrt(0.01) = 10, 1/sqrt(0.0199) = 7.088812050083359, 1/sqrt(0.029701) = 5.80249084764774
        let mut opt = RmsProp::new(0.01);
        opt.eps = 1e-300; // not 0: the BatchNorm scale's zero gradient would give 0 / 0
        let got = three_steps(opt);
        let d = [10.0, 7.088812050083359, 5.80249084764774];
        let w = [
            1.0 - 0.01 * d[0],
            1.0 - 0.01 * (d[0] + d[1]),
            1.0 - 0.01 * (d[0] + d[1] + d[2]),
        ];
        let b = [
            -1.0 + 0.01 * d[0],
            -1.0 + 0.01 * (d[0] + d[1]),
            -1.0 + 0.01 * (d[0] + d[1] + d[2]),
        ];
        assert_close(&got, &[(w[0], b[0]), (w[1], b[1]), (w[2], b[2])]);
        // The same numbers, written out: 0.9, 0.82911187949916641, 0.771086971022689
        assert!((got[2].0 - 0.771086971022689).abs() < 1e-12);
    }

    #[test]
    fn adam_by_hand() {
        // With a constant gradient, m_hat = g and v_hat = g^2 at every step: each step moves by
        // lr * g / (|g| + eps), i.e. 0.01 * 2 / (2 + 1e-8) for w and 0.01 * 0.5 / (0.5 + 1e-8)
        // for b: lr * sign(g) up to eps.
        let got = three_steps(Adam::new(0.01));
        let (dw, db) = (0.02 / (2.0 + 1e-8), 0.005 / (0.5 + 1e-8));
        let expected: Vec<(f64, f64)> = (1..=3)
            .map(|t| (1.0 - t as f64 * dw, -1.0 + t as f64 * db))
            .collect();
        assert_close(&got, &expected);
        assert!((got[2].0 - 0.97).abs() < 1e-9 && (got[2].1 + 0.97).abs() < 1e-9);
    }

    #[test]
    fn adam_with_a_changing_gradient_by_hand() {
        // Gradient 1, then 3 (scalar, lr 0.1, eps 0):
        // t=1: m = 0.1, v = 0.001; m_hat = 1, v_hat = 1 -> step 0.1.
        // t=2: m = 0.09 + 0.3 = 0.39, v = 0.000999 + 0.009 = 0.009999;
        //      m_hat = 0.39 / 0.19 = 2.0526315789473686, v_hat = 0.009999 / 0.001999 = 5.002001000500250;
        //      step = 0.1 * 2.0526315789473686 / 2.236515370 = 0.0917781; w = -0.1917781.
        net! { struct One { input: Image<1, 1, 1>, fc: Linear<1, 1> } }
        let mut net = One::<f64>::new(0);
        net.assign("fc.weight", &[0.0]).unwrap();
        let mut opt = Adam::new(0.1);
        opt.eps = 1e-300;
        for g in [1.0, 3.0] {
            net.params_mut(&mut |_, p| p.grad[0] = if p.name == "weight" { g } else { 0.0 });
            opt.step(&mut net);
        }
        let expected = -0.1 - 0.1 * (0.39 / 0.19) / (0.009999f64 / 0.001999).sqrt();
        assert!((net.param("fc.weight").unwrap()[0] - expected).abs() < 1e-12);
        assert!((expected - (-0.1917781)).abs() < 1e-6);
        assert_eq!(Optimizer::<f64>::steps(&opt), 2);
    }

    #[test]
    fn nesterov_by_hand() {
        // v = 0.9 v + g: 1 g, 1.9 g, 2.71 g; w moves by lr * (g + 0.9 v): 1.9, 2.71, 3.439 (x lr g),
        // cumulative 1.9, 4.61, 8.049.
        let got = three_steps(Nesterov::new(0.1));
        let w = |c: f64| 1.0 - 0.2 * c;
        let b = |c: f64| -1.0 + 0.05 * c;
        assert_close(
            &got,
            &[(w(1.9), b(1.9)), (w(4.61), b(4.61)), (w(8.049), b(8.049))],
        );
        assert!((got[0].0 - 0.62).abs() < 1e-12);
    }

    #[test]
    fn adamw_by_hand() {
        // PyTorch's AdamW: w *= 1 - lr * wd, then Adam's step, here lr * sign(g) up to eps.
        let mut opt = AdamW::new(0.01);
        opt.weight_decay = 0.5;
        let got = three_steps(opt);
        let (dw, db) = (0.02 / (2.0 + 1e-8), 0.005 / (0.5 + 1e-8));
        let (mut w, mut b) = (1.0, -1.0);
        let mut expected = Vec::new();
        for _ in 0..3 {
            w = w * (1.0 - 0.005) - dw;
            b = b * (1.0 - 0.005) + db;
            expected.push((w, b));
        }
        assert_close(&got, &expected);
        // First step written out: 1 * 0.995 - 0.01 = 0.985.
        assert!((got[0].0 - 0.985).abs() < 1e-9);
    }

    #[test]
    fn adamw_without_decay_is_adam() {
        let mut adamw = AdamW::new(0.01);
        adamw.weight_decay = 0.0;
        assert_eq!(three_steps(adamw), three_steps(Adam::new(0.01)));
    }

    #[test]
    fn state_round_trips_and_resumes_exactly() {
        // Three steps in one go equal one step, a save, a restore into a new optimizer, and two.
        for kind in [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::Nesterov,
            OptimizerKind::RmsProp,
            OptimizerKind::Adam,
            OptimizerKind::AdamW,
        ] {
            let grads = [0.5, -1.5, 2.0];
            let run = |split: bool| {
                let mut net = Pair::<f64>::new(3);
                let mut opt = kind.build::<f64>(0.01, 0.1);
                for (i, &g) in grads.iter().enumerate() {
                    if split && i == 1 {
                        let state = opt.state();
                        opt = kind.build::<f64>(0.01, 0.1);
                        opt.load_state(state).unwrap();
                    }
                    net.params_mut(&mut |_, p| p.grad.fill(g));
                    opt.step(&mut net);
                }
                (net.param("fc.weight").unwrap()[0], opt.steps())
            };
            assert_eq!(run(false), run(true), "{kind}");
        }
        let mut adam = Adam::<f64>::new(0.1);
        let err = adam.load_state(Sgd::new(0.1).state()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot restore the adam optimizer: the state is of the sgd optimizer"
        );
    }

    #[test]
    fn names_round_trip() {
        for k in [
            OptimizerKind::Sgd,
            OptimizerKind::Momentum,
            OptimizerKind::Nesterov,
            OptimizerKind::RmsProp,
            OptimizerKind::Adam,
            OptimizerKind::AdamW,
        ] {
            assert_eq!(k.to_string().parse::<OptimizerKind>(), Ok(k));
        }
        assert_eq!(
            "RMSprop".parse::<OptimizerKind>(),
            Ok(OptimizerKind::RmsProp)
        );
        assert_eq!("AdamW".parse::<OptimizerKind>(), Ok(OptimizerKind::AdamW));
        assert!("adagrad".parse::<OptimizerKind>().is_err());
    }
}
