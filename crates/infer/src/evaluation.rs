//! Accuracy, per-class precision and recall, the confusion matrix and the worst mistakes of a
//! classifier (one network or a committee) on a labelled image set, built from
//! [`model::score_set`] (the pass the training tool's test scores come from too).

use std::fmt;

use custom_kernels::KernelBackend;
use mnist_data::{CLASSES, LabelledImages};
use serde::Serialize;

use crate::classifier::Classifier;
use crate::render::Mistake;

/// How many of the most confident mistakes a report keeps.
pub const WORST_MISTAKES: usize = 32;

/// The outcome of classifying a labelled set.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvaluationReport {
    /// Images evaluated.
    pub images: usize,
    /// Correctly classified images.
    pub correct: usize,
    /// `100 * correct / images`.
    pub accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: [[usize; CLASSES]; CLASSES],
    /// Per digit: of the images predicted as it, the share that were it (%).
    pub precision: [f64; CLASSES],
    /// Per digit: of the images that were it, the share predicted as it (%).
    pub recall: [f64; CLASSES],
    /// Up to [`WORST_MISTAKES`] misclassified images, the most confident first.
    pub worst_mistakes: Vec<Mistake>,
    /// A committee's members' accuracies (%), in order; empty for one network.
    pub member_accuracies: Vec<f64>,
}

impl EvaluationReport {
    /// Builds the report from true and predicted labels (no mistakes listed).
    pub fn from_predictions(truth: &[u8], predicted: &[u8]) -> Self {
        let mut confusion = [[0usize; CLASSES]; CLASSES];
        for (&t, &p) in truth.iter().zip(predicted) {
            confusion[t as usize][p as usize] += 1;
        }
        let correct = (0..CLASSES).map(|d| confusion[d][d]).sum::<usize>();
        let percent = |num: usize, den: usize| {
            if den == 0 {
                0.0
            } else {
                100.0 * num as f64 / den as f64
            }
        };
        let precision = std::array::from_fn(|d| {
            percent(confusion[d][d], (0..CLASSES).map(|t| confusion[t][d]).sum())
        });
        let recall = std::array::from_fn(|d| percent(confusion[d][d], confusion[d].iter().sum()));
        Self {
            images: truth.len(),
            correct,
            accuracy: percent(correct, truth.len()),
            confusion,
            precision,
            recall,
            worst_mistakes: Vec::new(),
            member_accuracies: Vec::new(),
        }
    }
}

/// Classifies every image of `set` and compares with its labels.
pub fn evaluate<B: KernelBackend>(
    classifier: &Classifier<B>,
    set: &LabelledImages,
) -> EvaluationReport {
    let model::CommitteeScores {
        members,
        committee: scores,
    } = classifier.score_committee(set);
    let member_accuracies = if members.len() > 1 {
        members.iter().map(model::SetScores::accuracy).collect()
    } else {
        Vec::new()
    };
    let predicted: Vec<u8> = scores.predicted().collect();
    let mut mistakes: Vec<Mistake> = predicted
        .iter()
        .zip(&scores.labels)
        .enumerate()
        .filter(|(_, (p, t))| p != t)
        .map(|(index, (&predicted, &truth))| Mistake {
            index,
            truth,
            predicted,
            confidence: scores.probabilities[index][predicted as usize],
        })
        .collect();
    mistakes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    mistakes.truncate(WORST_MISTAKES);
    EvaluationReport {
        worst_mistakes: mistakes,
        member_accuracies,
        ..EvaluationReport::from_predictions(&scores.labels, &predicted)
    }
}

impl fmt::Display for EvaluationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "accuracy {:.2}% ({} / {})",
            self.accuracy, self.correct, self.images
        )?;
        if !self.member_accuracies.is_empty() {
            let members: Vec<String> = self
                .member_accuracies
                .iter()
                .map(|a| format!("{a:.2}%"))
                .collect();
            writeln!(
                f,
                "a committee of {} (averaged probabilities); each member alone: {}",
                members.len(),
                members.join(", ")
            )?;
        }
        writeln!(f, "\ndigit  precision  recall")?;
        for d in 0..CLASSES {
            writeln!(
                f,
                "{d:>5}  {:>8.2}%  {:>6.2}%",
                self.precision[d], self.recall[d]
            )?;
        }
        writeln!(
            f,
            "\nconfusion matrix (rows: true digit, columns: predicted)"
        )?;
        write!(f, "     ")?;
        for d in 0..CLASSES {
            write!(f, "{d:>6}")?;
        }
        for (t, row) in self.confusion.iter().enumerate() {
            write!(f, "\n{t:>5}")?;
            for count in row {
                write!(f, "{count:>6}")?;
            }
        }
        Ok(())
    }
}
