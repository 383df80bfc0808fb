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
