//! Softmax cross-entropy, mean over the batch: the notebook's `cross_entropy`.

use crate::Float;

/// A loss that cannot be computed from its inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LossError {
    /// A label is not a class index.
    #[error(
        "label {label} of sample {sample} is not a class (there are {classes} classes, 0..{classes})"
    )]
    LabelOutOfRange {
        /// Sample index in the batch.
        sample: usize,
        /// The label.
        label: usize,
        /// Number of classes.
        classes: usize,
    },
    /// The scores are not `labels.len()` rows of `classes` values.
    #[error("{scores} scores do not make {labels} rows of {classes} classes")]
    Shape {
        /// Number of scores.
        scores: usize,
        /// Number of labels.
        labels: usize,
        /// Number of classes.
        classes: usize,
    },
}

/// Softmax cross-entropy of `scores` (`labels.len()` rows of `classes` values) against `labels`,
/// averaged over the batch; writes its gradient `(softmax - onehot) / N` into `grad` (same length
/// as `scores`).
///
/// Computed with log-sum-exp, so scores of ±1e4 give a finite loss and gradient.
///
/// ```
/// use constnet::train::softmax_cross_entropy;
/// let mut grad = [0.0; 4];
/// let loss = softmax_cross_entropy(&[0.0, 0.0, 1e4, -1e4], &[1, 0], 2, &mut grad).unwrap();
/// assert!((loss - 2f64.ln() / 2.0).abs() < 1e-12);
/// assert_eq!(grad, [0.25, -0.25, 0.0, 0.0]);
/// ```
pub fn softmax_cross_entropy<T: Float>(
    scores: &[T],
    labels: &[usize],
    classes: usize,
    grad: &mut [T],
) -> Result<T, LossError> {
    check(scores, labels, classes, grad)?;
    let n = T::from_f64(labels.len() as f64);
    let mut total = T::ZERO;
    for ((row, g), &label) in scores
        .chunks_exact(classes)
        .zip(grad.chunks_exact_mut(classes))
        .zip(labels)
    {
        let max = row.iter().fold(row[0], |m, &s| m.max(s));
        let mut sum = T::ZERO;
        for (g, &s) in g.iter_mut().zip(row) {
            *g = (s - max).exp();
            sum += *g;
        }
        total += sum.ln() + max - row[label];
        for g in g.iter_mut() {
            *g = *g / sum / n;
        }
        g[label] -= T::ONE / n;
    }
    Ok(total / n)
}

/// The training loss, as [`TrainConfig::loss`](super::TrainConfig::loss): softmax
/// cross-entropy, mean over the batch, with optional label smoothing (PyTorch's
/// `CrossEntropyLoss(label_smoothing=eps)`): the target of a sample of class `y` is
/// `(1 - eps) * onehot(y) + eps / K` over the `K` classes, so its loss is
/// `(1 - eps) * (-log p_y) + (eps / K) * sum_k (-log p_k)` and the gradient of its scores is
/// `(p - target) / N`. With `eps` 0 it is [`softmax_cross_entropy`], bit for bit.
///
/// ```
/// use constnet::train::SoftmaxCrossEntropy;
/// let loss = SoftmaxCrossEntropy { label_smoothing: 0.1 };
/// let mut grad = [0.0; 2];
/// // Scores (0, 0): p = (0.5, 0.5); target (0.95, 0.05); loss ln 2.
/// let l = loss.compute(&[0.0f64, 0.0], &[0], 2, &mut grad).unwrap();
/// assert!((l - 2f64.ln()).abs() < 1e-15);
/// assert!((grad[0] + 0.45).abs() < 1e-15 && (grad[1] - 0.45).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SoftmaxCrossEntropy {
    /// `eps` in [0, 1] (0: none).
    pub label_smoothing: f64,
}

impl SoftmaxCrossEntropy {
    /// The loss of `scores` (`labels.len()` rows of `classes` values) against `labels`, mean
    /// over the batch; writes its gradient into `grad` (same length as `scores`).
    pub fn compute<T: Float>(
        &self,
        scores: &[T],
        labels: &[usize],
        classes: usize,
        grad: &mut [T],
    ) -> Result<T, LossError> {
        if self.label_smoothing == 0.0 {
            return softmax_cross_entropy(scores, labels, classes, grad);
        }
        check(scores, labels, classes, grad)?;
        let n = T::from_f64(labels.len() as f64);
        let eps = self.label_smoothing;
        let keep = T::from_f64(1.0 - eps);
        let spread = T::from_f64(eps / classes as f64);
        let mut total = T::ZERO;
        for ((row, g), &label) in scores
            .chunks_exact(classes)
            .zip(grad.chunks_exact_mut(classes))
            .zip(labels)
        {
            let max = row.iter().fold(row[0], |m, &s| m.max(s));
            let mut sum = T::ZERO;
            let mut row_sum = T::ZERO;
            for (g, &s) in g.iter_mut().zip(row) {
                *g = (s - max).exp();
                sum += *g;
                row_sum += s;
            }
            // -sum_k q_k log p_k = lse - sum_k q_k s_k, with lse = ln(sum) + max.
            let lse = sum.ln() + max;
            total += lse - keep * row[label] - spread * row_sum;
            for g in g.iter_mut() {
                *g = (*g / sum - spread) / n;
            }
            g[label] -= keep / n;
        }
        Ok(total / n)
    }
}

fn check<T>(scores: &[T], labels: &[usize], classes: usize, grad: &[T]) -> Result<(), LossError> {
    if classes == 0 || scores.len() != labels.len() * classes || grad.len() != scores.len() {
        return Err(LossError::Shape {
            scores: scores.len(),
            labels: labels.len(),
            classes,
        });
    }
    if let Some((sample, &label)) = labels.iter().enumerate().find(|&(_, &l)| l >= classes) {
        return Err(LossError::LabelOutOfRange {
            sample,
            label,
            classes,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grad_check::{numerical_gradient, rel_error};

    #[test]
    fn gradient_matches_numerical_one() {
        let mut scores = vec![0.3, -1.2, 2.0, 0.5, 0.1, -0.4, 1.5, 1.5, -2.0];
        let labels = [2, 0, 1];
        let mut grad = vec![0.0; 9];
        softmax_cross_entropy(&scores, &labels, 3, &mut grad).unwrap();
        let mut scratch = vec![0.0; 9];
        let numeric = numerical_gradient(
            &mut scores,
            |s| softmax_cross_entropy(s, &labels, 3, &mut scratch).unwrap(),
            1e-5,
        );
        assert!(rel_error(&grad, &numeric) < 1e-7);
    }

    #[test]
    fn label_smoothing_by_hand() {
        // Scores (1, 2, 3), label 0, eps 0.3, K 3: target (0.8, 0.1, 0.1).
        // lse = 3 + ln(e^-2 + e^-1 + 1) = 3.40760596444438; loss = lse - (0.8 + 0.2 + 0.3) = 2.10760596444438
        // (PyTorch: F.cross_entropy(tensor([[1., 2., 3.]]), tensor([0]), label_smoothing=0.3)).
        let loss = SoftmaxCrossEntropy {
            label_smoothing: 0.3,
        };
        let mut grad = [0.0f64; 6];
        let l = loss
            .compute(&[1.0, 2.0, 3.0, 1.0, 2.0, 3.0], &[0, 0], 3, &mut grad)
            .unwrap();
        assert!((l - 2.10760596444438).abs() < 1e-13, "{l}");
        // p = softmax(1, 2, 3) = (0.09003057, 0.24472847, 0.66524096); grad = (p - target) / 2.
        let p = [0.09003057317038046, 0.24472847105479764, 0.6652409557748219];
        let target = [0.8, 0.1, 0.1];
        for k in 0..6 {
            assert!((grad[k] - (p[k % 3] - target[k % 3]) / 2.0).abs() < 1e-15);
        }
    }

    #[test]
    fn smoothed_gradient_matches_numerical_one() {
        let loss = SoftmaxCrossEntropy {
            label_smoothing: 0.15,
        };
        let mut scores = vec![0.3, -1.2, 2.0, 0.5, 0.1, -0.4, 1.5, 1.5, -2.0];
        let labels = [2, 0, 1];
        let mut grad = vec![0.0; 9];
        loss.compute(&scores, &labels, 3, &mut grad).unwrap();
        let mut scratch = vec![0.0; 9];
        let numeric = numerical_gradient(
            &mut scores,
            |s| loss.compute(s, &labels, 3, &mut scratch).unwrap(),
            1e-5,
        );
        assert!(rel_error(&grad, &numeric) < 1e-7);
    }

    #[test]
    fn no_smoothing_is_the_plain_loss() {
        let scores = [0.3f32, -1.2, 2.0, 0.5, 0.1, -0.4];
        let (mut a, mut b) = ([0.0f32; 6], [0.0f32; 6]);
        let la = softmax_cross_entropy(&scores, &[2, 1], 3, &mut a).unwrap();
        let lb = SoftmaxCrossEntropy::default()
            .compute(&scores, &[2, 1], 3, &mut b)
            .unwrap();
        assert_eq!((la.to_bits(), a), (lb.to_bits(), b));
    }

    #[test]
    fn extreme_scores_stay_finite() {
        let mut grad = [0.0_f32; 4];
        let loss =
            softmax_cross_entropy(&[1e4_f32, -1e4, -1e4, 1e4], &[1, 0], 2, &mut grad).unwrap();
        assert_eq!(loss, 2e4);
        assert!(grad.iter().all(|g| g.is_finite()));
    }

    #[test]
    fn bad_labels_and_shapes_are_errors() {
        let mut grad = [0.0; 4];
        assert_eq!(
            softmax_cross_entropy(&[0.0; 4], &[0, 2], 2, &mut grad),
            Err(LossError::LabelOutOfRange {
                sample: 1,
                label: 2,
                classes: 2
            })
        );
        assert!(matches!(
            softmax_cross_entropy(&[0.0; 4], &[0], 2, &mut grad),
            Err(LossError::Shape { .. })
        ));
    }
}
