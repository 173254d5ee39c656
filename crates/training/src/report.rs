//! The final JSON report of a training session and the per-run summaries it is built from.

use serde::{Deserialize, Serialize};

use crate::epoch_log::EpochRecord;
use crate::evaluate::Evaluation;

/// What one run (one random initialisation) achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// 1-based restart number.
    pub restart: usize,
    /// Seed of this run's initialisation and shuffling.
    pub seed: u64,
    /// Epochs trained.
    pub epochs_run: usize,
    /// True when early stopping ended the run before the planned epochs.
    pub stopped_early: bool,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Validation metrics of the kept epoch.
    pub best: EpochRecord,
    /// Mean wall time of an epoch, seconds.
    pub mean_epoch_seconds: f64,
    /// Of `mean_epoch_seconds`, the mean time in training steps (forward, backward, optimizer
    /// update); `None` when an epoch was recorded without the split (a run resumed from an
    /// earlier version's folder).
    #[serde(default)]
    pub mean_step_seconds: Option<f64>,
    /// Of `mean_epoch_seconds`, the mean time in the validation pass (`None` as above).
    #[serde(default)]
    pub mean_valid_seconds: Option<f64>,
}

/// The test set with Gaussian pixel noise of `sigma`, scored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NoisyEvaluation {
    /// Standard deviation of the noise, on pixels scaled to 0-1.
    pub sigma: f32,
    /// Accuracy and loss.
    pub evaluation: Evaluation,
}

/// `report.json`: the outcome of `cargo run -p training`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingReport {
    /// Architecture trained.
    pub model: String,
    /// Trainable parameters.
    pub parameters: usize,
    /// Burn backend used.
    pub backend: String,
    /// Every run, in order.
    pub runs: Vec<RunSummary>,
    /// 1-based number of the run whose model was kept (best validation score).
    pub chosen_run: usize,
    /// Accuracy and loss on the MNIST test set.
    pub test: Evaluation,
    /// Accuracy and loss on the translated test set.
    pub translated_test: Evaluation,
    /// Maximum shift (pixels per axis) of the translated test set.
    pub test_shift: usize,
    /// The test set with pixel noise, one per `--test-noise` sigma.
    #[serde(default)]
    pub noisy_tests: Vec<NoisyEvaluation>,
    /// With random restarts, every run's kept model on the test set, in run order (the chosen
    /// one's is `test`): what choosing by validation bought over any one run. Empty for one run.
    #[serde(default)]
    pub restart_tests: Vec<Evaluation>,
    /// With `--ensemble`, the committee of every run's model (their averaged probabilities).
    #[serde(default)]
    pub committee: Option<CommitteeEvaluation>,
    /// Wall time of the whole session, seconds.
    pub total_seconds: f64,
}

/// A committee of every run's model (`--ensemble`), scored by their averaged probabilities on
/// the same test sets as the kept model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommitteeEvaluation {
    /// Its networks: one per run.
    pub members: usize,
    /// On the MNIST test set (each member's alone: `restart_tests`).
    pub test: Evaluation,
    /// On the translated test set.
    pub translated_test: Evaluation,
    /// On the noisy test sets, one per `--test-noise` sigma.
    pub noisy_tests: Vec<NoisyEvaluation>,
}
