//! [`TrainState`]: where a training run stands after an epoch, to resume it exactly.

use super::{History, OptimizerState};
use crate::data::Augment;

/// Everything besides the network's parameters that a run needs to go on from the end of an
/// epoch as if it had never stopped: saved with the parameters by
/// [`save_train_state`](super::save_train_state) (the programs write `OUT/last.safetensors`
/// after every epoch), read back by [`load_train_state`](super::load_train_state), and given to
/// [`TrainSession::resume`](super::TrainSession::resume).
///
/// The random state is the seed and the epoch: the mini-batch shuffles are one stream from
/// [`TrainConfig::seed`](super::TrainConfig::seed), and a resumed run replays the shuffles of
/// the epochs done (cheap next to training) to continue it; the training-accuracy subset is
/// drawn from the seed alone. The learning rate follows from the schedule and the epoch. A
/// [`Dropout`](crate::layers::Dropout) layer's random stream is not saved: a network with
/// dropout resumes with a fresh stream (not bit-identical to an uninterrupted run).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainState<T> {
    /// Epochs done (from 1).
    pub epoch: usize,
    /// The run's seed (a resumed run must use the same).
    pub seed: u64,
    /// The run's batch size (a resumed run must use the same).
    pub batch_size: usize,
    /// Training samples of the run (a resumed run must train on the same data).
    pub train_len: usize,
    /// The run's augmentation (a resumed run must use the same). Its draws are a function of
    /// the seed, the epoch and the sample's place in the epoch, so there is no random state
    /// to save for it.
    pub augment: Augment,
    /// The history so far.
    pub history: History,
    /// The optimizer's state.
    pub optimizer: OptimizerState<T>,
    /// The kept (best validation) parameters so far, buffers included, in the network's
    /// order; empty when the run keeps the last epoch's.
    pub best: Vec<Vec<T>>,
}
