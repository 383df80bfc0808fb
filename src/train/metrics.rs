//! Predictions, accuracy and the confusion matrix.

use super::{Samples, SamplesError};
use crate::{Float, Network, Shape, Workspace};
use std::fmt::Write as _;
use std::path::Path;

/// Writes the predicted class of each row of `scores` (`classes` values per row) into `out`
/// (replacing its contents): the index of the largest score, the first one on ties.
///
/// ```
/// let mut out = Vec::new();
/// constnet::train::predictions(&[0.1, 0.7, 0.2, 5.0, 5.0, -1.0], 3, &mut out);
/// assert_eq!(out, [1, 0]);
/// ```
pub fn predictions<T: Float>(scores: &[T], classes: usize, out: &mut Vec<usize>) {
    out.clear();
    if classes == 0 {
        return;
    }
    out.extend(scores.chunks_exact(classes).map(|row| {
        let mut best = 0;
        for (i, &s) in row.iter().enumerate().skip(1) {
            if s > row[best] {
                best = i;
            }
        }
        best
    }));
}

/// The fraction of `labels` that `predictions` gets right (0 when there are no labels; a
/// missing prediction counts as wrong).
///
/// ```
/// assert_eq!(constnet::train::accuracy(&[1, 2, 0, 0], &[1, 2, 3, 0]), 0.75);
/// ```
pub fn accuracy(predictions: &[usize], labels: &[usize]) -> f64 {
    if labels.is_empty() {
        return 0.0;
    }
    let correct = predictions
        .iter()
        .zip(labels)
        .filter(|(p, l)| p == l)
        .count();
    correct as f64 / labels.len() as f64
}

/// Runs `net` over `samples` in batches of `batch_size`, in [`Mode::Eval`](crate::Mode::Eval),
/// and returns the predicted class of each sample.
///
/// ```
/// use constnet::layers::Linear;
/// use constnet::train::{Samples, accuracy, evaluate};
/// use constnet::{Image, Network, net};
/// net! { struct Pick { input: Image<1, 1, 2>, fc: Linear<2, 2> } }
/// let mut net = Pick::<f32>::new(0);
/// net.assign("fc.weight", &[1.0, 0.0, 0.0, 1.0]).unwrap(); // the identity
/// let images = [3.0, 1.0, 0.0, 2.0, 5.0, 4.0];
/// let labels = [0, 1, 1];
/// let predicted = evaluate(&mut net, Samples::new(&images, &labels), 2).unwrap();
/// assert_eq!(predicted, [0, 1, 0]);
/// assert_eq!(accuracy(&predicted, &labels), 2.0 / 3.0);
/// ```
pub fn evaluate<'a, T: Float, N: Network<T> + ?Sized>(
    net: &mut N,
    samples: impl Into<Samples<'a, T>>,
    batch_size: usize,
) -> Result<Vec<usize>, SamplesError> {
    let samples = samples.into();
    samples.check::<N::Input>("evaluation")?;
    let mut out = Vec::with_capacity(samples.len());
    let mut ws = Workspace::new();
    let mut scratch = Vec::new();
    predict_into(
        net,
        samples.images,
        batch_size,
        &mut ws,
        &mut scratch,
        &mut out,
    )?;
    Ok(out)
}

/// As [`evaluate`] on raw images (a whole number of samples), with caller-owned buffers so that
/// repeated evaluation does not allocate. Appends to `out`. Runs the inference path
/// ([`Network::infer_batch`]'s, the bits of `forward` in [`Mode::Eval`](crate::Mode::Eval)).
pub(crate) fn predict_into<T: Float, N: Network<T> + ?Sized>(
    net: &N,
    images: &[T],
    batch_size: usize,
    ws: &mut Workspace<T>,
    scratch: &mut Vec<usize>,
    out: &mut Vec<usize>,
) -> Result<(), SamplesError> {
    if batch_size == 0 {
        return Err(SamplesError::ZeroBatchSize);
    }
    let classes = <N::Output as Shape>::LEN;
    let sample = <N::Input as Shape>::LEN;
    for part in images.chunks((batch_size * sample).max(1)) {
        // `part` is a whole number of samples (checked by the callers).
        let scores = crate::infer::run(net, part, part.len() / sample.max(1), ws);
        predictions(scores, classes, scratch);
        out.extend_from_slice(scratch);
    }
    Ok(())
}

/// A label or prediction that is not a class of the confusion matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfusionError {
    /// A class index is out of range.
    #[error("sample {sample}: class {class} is out of range (there are {classes} classes)")]
    ClassOutOfRange {
        /// Index of the sample.
        sample: usize,
        /// The label or prediction.
        class: usize,
        /// Number of classes.
        classes: usize,
    },
    /// Labels and predictions differ in number.
    #[error("{labels} labels but {predictions} predictions")]
    Length {
        /// Number of labels.
        labels: usize,
        /// Number of predictions.
        predictions: usize,
    },
}

/// Counts of (true class, predicted class) pairs.
///
/// ```
/// use constnet::train::ConfusionMatrix;
/// let m = ConfusionMatrix::from_predictions(3, &[0, 0, 1, 2, 2, 2], &[0, 1, 1, 1, 1, 2]).unwrap();
/// assert_eq!(m.count(2, 1), 2);
/// assert_eq!(m.accuracy(), 0.5);
/// let worst = m.most_confused_pairs(1);
/// assert_eq!((worst[0].true_class, worst[0].predicted, worst[0].count), (2, 1, 2));
/// assert!(m.to_csv(&["cat".into(), "dog".into(), "fish".into()]).starts_with("true\\predicted,cat,dog,fish\n"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    /// Number of classes.
    pub classes: usize,
    /// `classes * classes` counts, row-major: `counts[true_class * classes + predicted]`.
    pub counts: Vec<usize>,
}

/// One off-diagonal cell of a [`ConfusionMatrix`]: how often `true_class` was predicted as
/// `predicted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfusedPair {
    /// The true class.
    pub true_class: usize,
    /// The class predicted instead.
    pub predicted: usize,
    /// How many samples.
    pub count: usize,
}

impl ConfusionMatrix {
    /// An all-zero matrix.
    pub fn new(classes: usize) -> Self {
        ConfusionMatrix {
            classes,
            counts: vec![0; classes * classes],
        }
    }

    /// Counts each `(labels[i], predictions[i])` pair.
    pub fn from_predictions(
        classes: usize,
        labels: &[usize],
        predictions: &[usize],
    ) -> Result<Self, ConfusionError> {
        if labels.len() != predictions.len() {
            return Err(ConfusionError::Length {
                labels: labels.len(),
                predictions: predictions.len(),
            });
        }
        let mut m = ConfusionMatrix::new(classes);
        for (sample, (&t, &p)) in labels.iter().zip(predictions).enumerate() {
            if let Some(&class) = [t, p].iter().find(|&&c| c >= classes) {
                return Err(ConfusionError::ClassOutOfRange {
                    sample,
                    class,
                    classes,
                });
            }
            m.counts[t * classes + p] += 1;
        }
        Ok(m)
    }

    /// How many samples of class `true_class` were predicted as `predicted` (0 out of range).
    pub fn count(&self, true_class: usize, predicted: usize) -> usize {
        if true_class < self.classes && predicted < self.classes {
            self.counts[true_class * self.classes + predicted]
        } else {
            0
        }
    }

    /// Number of samples counted.
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }

    /// The fraction on the diagonal (0 for an empty matrix).
    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            return 0.0;
        }
        let correct: usize = (0..self.classes).map(|c| self.count(c, c)).sum();
        correct as f64 / total as f64
    }

    /// The `k` most frequent mistakes: off-diagonal cells with a non-zero count, largest count
    /// first; ties in order of true class, then predicted class.
    pub fn most_confused_pairs(&self, k: usize) -> Vec<ConfusedPair> {
        let mut pairs: Vec<ConfusedPair> = (0..self.classes)
            .flat_map(|t| (0..self.classes).map(move |p| (t, p)))
            .filter(|&(t, p)| t != p)
            .map(|(t, p)| ConfusedPair {
                true_class: t,
                predicted: p,
                count: self.count(t, p),
            })
            .filter(|pair| pair.count > 0)
            .collect();
        pairs.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then(a.true_class.cmp(&b.true_class))
                .then(a.predicted.cmp(&b.predicted))
        });
        pairs.truncate(k);
        pairs
    }

    /// The matrix as CSV: a header `true\predicted,<name>,...`, then one row per true class
    /// starting with its name. `names[i]` names class `i`; classes without a name are written as
    /// their index. Names with commas or quotes are quoted.
    pub fn to_csv(&self, names: &[String]) -> String {
        let name = |i: usize| -> String {
            match names.get(i) {
                Some(n) if n.contains([',', '"', '\n']) => {
                    format!("\"{}\"", n.replace('"', "\"\""))
                }
                Some(n) => n.clone(),
                None => i.to_string(),
            }
        };
        let mut csv = String::from("true\\predicted");
        for p in 0..self.classes {
            let _ = write!(csv, ",{}", name(p));
        }
        csv.push('\n');
        for t in 0..self.classes {
            csv.push_str(&name(t));
            for p in 0..self.classes {
                let _ = write!(csv, ",{}", self.count(t, p));
            }
            csv.push('\n');
        }
        csv
    }

    /// Writes [`ConfusionMatrix::to_csv`] to `path`.
    pub fn write_csv(&self, path: &Path, names: &[String]) -> std::io::Result<()> {
        std::fs::write(path, self.to_csv(names))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_maximum() {
        let mut out = vec![9; 5];
        predictions(&[1.0, 3.0, 3.0, -2.0, -1.0, -1.0], 3, &mut out);
        assert_eq!(out, [1, 1]);
    }

    #[test]
    fn confusion_matrix_counts_and_ranks() {
        let labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
        let predicted = [0, 2, 2, 0, 1, 0, 1, 2, 2];
        let m = ConfusionMatrix::from_predictions(3, &labels, &predicted).unwrap();
        assert_eq!(m.counts, [1, 0, 2, 1, 1, 0, 1, 1, 2]);
        assert_eq!(m.total(), 9);
        assert_eq!(m.accuracy(), 4.0 / 9.0);
        let pairs: Vec<_> = m
            .most_confused_pairs(3)
            .iter()
            .map(|p| (p.true_class, p.predicted, p.count))
            .collect();
        // (0, 2) twice; then the ties of one, in (true, predicted) order.
        assert_eq!(pairs, [(0, 2, 2), (1, 0, 1), (2, 0, 1)]);
        assert_eq!(m.most_confused_pairs(10).len(), 4);
        assert_eq!(
            m.to_csv(&["a".into(), "b,c".into()]),
            "true\\predicted,a,\"b,c\",2\na,1,0,2\n\"b,c\",1,1,0\n2,1,1,2\n"
        );
    }

    #[test]
    fn out_of_range_classes_are_errors() {
        assert_eq!(
            ConfusionMatrix::from_predictions(2, &[0, 1], &[0, 2]),
            Err(ConfusionError::ClassOutOfRange {
                sample: 1,
                class: 2,
                classes: 2
            })
        );
        assert!(matches!(
            ConfusionMatrix::from_predictions(2, &[0], &[]),
            Err(ConfusionError::Length { .. })
        ));
    }
}
