//! Everything that defines a training run, saved as `config.json` in its artifacts directory.

use anyhow::{Result, bail};
use mnist_data::{Augmentation, IMAGE_SIDE};
use model::{ModelConfig, ModelKind};
use serde::{Deserialize, Serialize};

/// Most epochs of one run.
pub const MAX_EPOCHS: usize = 100_000;
/// Most random restarts of one session.
pub const MAX_RESTARTS: usize = 1_000;
/// Images in MNIST's training file, which the validation set is taken from.
pub const TRAIN_FILE_IMAGES: usize = 60_000;
/// Most images per batch: the whole training file.
pub const MAX_BATCH_SIZE: usize = TRAIN_FILE_IMAGES;
/// The largest elastic strength accepted, pixels (Simard's MNIST setting is 34; beyond a few
/// hundred every image is torn apart).
pub const MAX_ELASTIC_ALPHA: f32 = 1000.0;
/// The elastic smoothness accepted, pixels: below half a pixel the field is noise, above the
/// image's side it is a near-uniform shift (and its Gaussian kernel larger than the image).
pub const ELASTIC_SIGMAS: std::ops::RangeInclusive<f32> = 0.5..=28.0;

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
    /// Keep every restart's model as a committee (`committee.json`), scored by the averaged
    /// probabilities; false before this existed.
    #[serde(default)]
    pub ensemble: bool,
    /// Maximum offset (pixels per axis) of the translated test set.
    pub test_shift: usize,
    /// Sigmas of the noisy test sets (Gaussian noise on 0-1 pixels); none before this existed.
    #[serde(default)]
    pub test_noise: Vec<f32>,
}

impl TrainConfig {
    /// Checks every field: the one validation of a run's settings, whether they come from the
    /// command line or from a `config.json` read by `--resume`. Messages name the option that
    /// sets the field.
    pub fn validate(&self) -> Result<()> {
        let in_unit = |name: &str, value: f64| -> Result<()> {
            if !(0.0..1.0).contains(&value) {
                bail!("{name} must be in [0, 1), got {value}");
            }
            Ok(())
        };
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            bail!("--lr must be in (0, 1], got {}", self.learning_rate);
        }
        if !(1..=MAX_BATCH_SIZE).contains(&self.batch_size) {
            bail!(
                "--batch-size must be between 1 and {MAX_BATCH_SIZE}, got {}",
                self.batch_size
            );
        }
        if !(1..=MAX_EPOCHS).contains(&self.epochs) {
            bail!(
                "--epochs must be between 1 and {MAX_EPOCHS}, got {}",
                self.epochs
            );
        }
        if !(1..=MAX_RESTARTS).contains(&self.restarts) {
            bail!(
                "--restarts must be between 1 and {MAX_RESTARTS}, got {}",
                self.restarts
            );
        }
        if self.ensemble && self.restarts < 2 {
            bail!(
                "--ensemble averages the models of several runs: give --restarts 2 or more, got {}",
                self.restarts
            );
        }
        if self.patience == Some(0) {
            bail!("--patience must be at least 1");
        }
        if !(0.0..1.0).contains(&self.model.dropout) {
            bail!(
                "--dropout is a drop probability in [0, 1), got {}",
                self.model.dropout
            );
        }
        if self.model.kind == ModelKind::Mlp && self.model.pool.is_some() {
            bail!("the MLP has no pooling, but its config sets pool");
        }
        match self.optimizer {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
            } => {
                in_unit("--beta1", beta1.into())?;
                in_unit("--beta2", beta2.into())?;
                positive_epsilon(epsilon)?;
            }
            OptimizerConfig::Rmsprop {
                decay,
                momentum,
                epsilon,
            } => {
                in_unit("--decay", decay.into())?;
                in_unit("--momentum", momentum.into())?;
                positive_epsilon(epsilon)?;
            }
            OptimizerConfig::Sgd { momentum, .. } => in_unit("--momentum", momentum)?,
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            bail!(
                "--weight-decay must be finite and >= 0, got {}",
                self.weight_decay
            );
        }
        match self.schedule {
            ScheduleConfig::Constant => {}
            ScheduleConfig::Cosine { min_lr } => {
                if !(0.0..=self.learning_rate).contains(&min_lr) {
                    bail!("--min-lr must be in [0, --lr], got {min_lr}");
                }
            }
            ScheduleConfig::Exponential { gamma } => {
                if !(gamma > 0.0 && gamma <= 1.0) {
                    bail!("--gamma must be in (0, 1], got {gamma}");
                }
            }
        }
        let a = &self.augmentation;
        if a.shift >= IMAGE_SIDE || self.test_shift >= IMAGE_SIDE {
            bail!("shifts must be below {IMAGE_SIDE} pixels");
        }
        if !(a.jitter >= 0.0 && a.jitter.is_finite()) {
            bail!("--jitter must be a finite sigma >= 0, got {}", a.jitter);
        }
        if !(0.0..=180.0).contains(&a.rotate) {
            bail!(
                "--augment-rotate must be in [0, 180] degrees, got {}",
                a.rotate
            );
        }
        if !(0.0..1.0).contains(&a.scale) {
            bail!("--augment-scale is a fraction in [0, 1), got {}", a.scale);
        }
        if let Some(elastic) = a.elastic {
            if !(0.0..=MAX_ELASTIC_ALPHA).contains(&elastic.alpha) {
                bail!(
                    "--augment-elastic must be a strength in [0, {MAX_ELASTIC_ALPHA}] pixels, got {}",
                    elastic.alpha
                );
            }
            if !ELASTIC_SIGMAS.contains(&elastic.sigma) {
                bail!(
                    "--elastic-sigma must be in [{}, {}] pixels, got {}",
                    ELASTIC_SIGMAS.start(),
                    ELASTIC_SIGMAS.end(),
                    elastic.sigma
                );
            }
        }
        if let Some(sigma) = self
            .test_noise
            .iter()
            .find(|s| !(**s >= 0.0 && s.is_finite()))
        {
            bail!("--test-noise must be a finite sigma >= 0, got {sigma}");
        }
        if self.valid_size == 0 || self.valid_size >= TRAIN_FILE_IMAGES {
            bail!(
                "--valid-size must be between 1 and {}, got {}",
                TRAIN_FILE_IMAGES - 1,
                self.valid_size
            );
        }
        if self.train_limit == Some(0) || self.test_limit == Some(0) {
            bail!("--train-limit and --test-limit must be at least 1");
        }
        Ok(())
    }
}

fn positive_epsilon(epsilon: f32) -> Result<()> {
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        bail!("--epsilon must be positive and finite, got {epsilon}");
    }
    Ok(())
}
