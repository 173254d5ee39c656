//! Everything that defines a training run, saved as `config.json` in its artifacts directory.

use mnist_data::Augmentation;
use model::ModelConfig;
use serde::{Deserialize, Serialize};

/// The optimizer and its hyper-parameters.
///
/// Defaults follow PyTorch, not Burn, where they differ: Adam epsilon 1e-8 (Burn: 1e-5),
/// RMSProp momentum 0 (Burn: 0.9) and epsilon 1e-8, SGD dampening 0 (Burn: 0.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba, 2015).
    Adam {
        /// First-moment decay.
        beta1: f32,
        /// Second-moment decay.
        beta2: f32,
        /// Added to the denominator.
        epsilon: f32,
    },
    /// RMSProp (Hinton, 2012).
    Rmsprop {
        /// Decay of the squared-gradient average (PyTorch's `alpha`).
        decay: f32,
        /// Momentum (0 = none).
        momentum: f32,
        /// Added to the denominator.
        epsilon: f32,
    },
    /// Stochastic gradient descent with (optionally Nesterov) momentum.
    Sgd {
        /// Momentum (0 = plain SGD).
        momentum: f64,
        /// Use Nesterov momentum.
        nesterov: bool,
    },
}

impl OptimizerConfig {
    /// Short name: `adam`, `rmsprop` or `sgd`.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::Rmsprop { .. } => "rmsprop",
            OptimizerConfig::Sgd { .. } => "sgd",
        }
    }
}

/// How the learning rate changes over the run (stepped every iteration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "lowercase")]
pub enum ScheduleConfig {
    /// The same learning rate throughout.
    Constant,
    /// Cosine annealing from the learning rate to `min_lr` over all planned epochs.
    Cosine {
        /// Learning rate at the end of the last epoch.
        min_lr: f64,
    },
    /// Multiply the learning rate by `gamma` every epoch (smoothly, per iteration).
    Exponential {
        /// Decay per epoch.
        gamma: f64,
    },
}

impl ScheduleConfig {
    /// Short name: `constant`, `cosine` or `exponential`.
    pub fn name(&self) -> &'static str {
        match self {
            ScheduleConfig::Constant => "constant",
            ScheduleConfig::Cosine { .. } => "cosine",
            ScheduleConfig::Exponential { .. } => "exponential",
        }
    }
}

/// Which validation metric decides "best epoch" for early stopping and the kept model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MonitorMetric {
    /// Lowest validation loss.
    #[default]
    Loss,
    /// Highest validation accuracy.
    Accuracy,
}

impl MonitorMetric {
    /// Short name: `loss` or `accuracy`.
    pub fn name(&self) -> &'static str {
        match self {
            MonitorMetric::Loss => "loss",
            MonitorMetric::Accuracy => "accuracy",
        }
    }
}

/// A complete training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The network to train.
    pub model: ModelConfig,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Base learning rate.
    pub learning_rate: f64,
    /// L2 penalty added to the gradient (0 = off).
    pub weight_decay: f32,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Images per batch.
    pub batch_size: usize,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Seed of initialisation, split, shuffling and augmentation.
    pub seed: u64,
    /// Training augmentations.
    pub augmentation: Augmentation,
    /// Images of the 60,000 held out for validation.
    pub valid_size: usize,
    /// Use only the first N training images (after the split); `None` = all.
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images; `None` = all 10,000.
    pub test_limit: Option<usize>,
    /// Stop after this many epochs without improvement of `monitor`; `None` = never.
    pub patience: Option<usize>,
    /// Validation metric for early stopping and choosing the kept model.
    pub monitor: MonitorMetric,
    /// Random restarts: independent runs from different initialisations, best kept.
    pub restarts: usize,
    /// Maximum offset (pixels per axis) of the translated test set.
    pub test_shift: usize,
    /// Sigmas of the noisy test sets (Gaussian noise on 0-1 pixels); none before this existed.
    #[serde(default)]
    pub test_noise: Vec<f32>,
}
