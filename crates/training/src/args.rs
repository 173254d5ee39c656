//! The command line of `cargo run -p training`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use mnist_data::{Augmentation, Elastic};
use model::{InitScheme, KernelChoice, ModelConfig, ModelKind, PoolKind};

use crate::backend::{BackendChoice, default_backend};
use crate::config::{MonitorMetric, OptimizerConfig, ScheduleConfig, TrainConfig};

/// Optimizer choice on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    /// Adam.
    Adam,
    /// RMSProp.
    Rmsprop,
    /// SGD with momentum.
    Sgd,
}

/// Learning-rate schedule choice on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    /// Constant learning rate.
    Constant,
    /// Cosine annealing to `--min-lr` over all epochs.
    Cosine,
    /// Multiply by `--gamma` every epoch.
    Exponential,
}

/// The options of a plain run, whatever the defaults (which aim at a full run's accuracy):
/// constant learning rate, no augmentation, the kept epoch chosen by validation loss. What
/// the PyTorch peer of `cargo xtask bench` does, and the recipe of the tests' short runs.
pub const PLAIN_RECIPE: [&str; 6] = [
    "--schedule",
    "constant",
    "--augment-shift",
    "0",
    "--monitor",
    "loss",
];

/// Train a network on MNIST with Burn's Learner.
#[derive(Debug, Parser)]
#[command(name = "training", version, about, long_about = None)]
pub struct TrainArgs {
    /// Network.
    #[arg(long, ignore_case = true, default_value = "lenet5")]
    pub model: ModelKind,
    /// Optimizer.
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: OptimizerArg,
    /// Base learning rate (0 < lr <= 1).
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub lr: f64,
    /// Adam's beta1.
    #[arg(long, default_value_t = 0.9, allow_negative_numbers = true)]
    pub beta1: f32,
    /// Adam's beta2.
    #[arg(long, default_value_t = 0.999, allow_negative_numbers = true)]
    pub beta2: f32,
    /// Epsilon of Adam and RMSProp (PyTorch's default; Burn's is 1e-5).
    #[arg(long, default_value_t = 1e-8, allow_negative_numbers = true)]
    pub epsilon: f32,
    /// RMSProp's decay of the squared-gradient average (PyTorch's alpha).
    #[arg(long, default_value_t = 0.99, allow_negative_numbers = true)]
    pub decay: f32,
    /// Momentum of SGD (default 0.9) or RMSProp (default 0).
    #[arg(long, allow_negative_numbers = true)]
    pub momentum: Option<f64>,
    /// Use Nesterov momentum with SGD.
    #[arg(long)]
    pub nesterov: bool,
    /// L2 weight decay.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub weight_decay: f32,
    /// Learning-rate schedule.
    #[arg(long, value_enum, default_value = "cosine")]
    pub schedule: ScheduleArg,
    /// Final learning rate of the cosine schedule.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub min_lr: f64,
    /// Per-epoch factor of the exponential schedule.
    #[arg(long, default_value_t = 0.7, allow_negative_numbers = true)]
    pub gamma: f64,
    /// Images per batch.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Maximum number of epochs [default: 15 for LeNet-5 and the MLP, 5 for the ConvNet, whose
    /// epochs take about 20 times longer].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Seed of initialisation, split, shuffling and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Weight initialisation.
    #[arg(long, ignore_case = true, default_value = "he")]
    pub init: InitScheme,
    /// Layer and Adam implementation: custom (hand-written kernels) or builtin (Burn's conv,
    /// ReLU, pool, linear and Adam); the loss is the project's either way.
    #[arg(long, ignore_case = true, default_value = "custom")]
    pub kernels: KernelChoice,
    /// Pooling after each conv of LeNet-5 and the ConvNet.
    #[arg(long, ignore_case = true, default_value = "max")]
    pub pool: PoolKind,
    /// Burn backend: ndarray (CPU) or wgpu (GPU; the default in a `--features wgpu` build).
    #[arg(long, ignore_case = true, default_value_t = default_backend())]
    pub backend: BackendChoice,
    /// Drop probability of the ConvNet's dropout (0.25 = keep 0.75).
    #[arg(long, default_value_t = 0.25, allow_negative_numbers = true)]
    pub dropout: f64,
    /// Training augmentation: random shift of up to N pixels per axis (0 = off).
    #[arg(long, default_value_t = 3)]
    pub augment_shift: usize,
    /// Training augmentation: Gaussian noise of this sigma on the normalised input (units of
    /// the pixels' standard deviation, 0.3081 of full scale: 0.1 is about 8 grey levels).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub jitter: f32,
    /// Training augmentation: random rotation of up to ±DEGREES.
    #[arg(
        long,
        default_value_t = 0.0,
        allow_negative_numbers = true,
        value_name = "DEGREES"
    )]
    pub augment_rotate: f32,
    /// Training augmentation: random scaling by a factor in 1 ± FRACTION (0.1 = ±10%).
    #[arg(
        long,
        default_value_t = 0.0,
        allow_negative_numbers = true,
        value_name = "FRACTION"
    )]
    pub augment_scale: f32,
    /// Training augmentation: elastic distortion (Simard et al. 2003) of strength ALPHA pixels
    /// (Simard's MNIST setting: 34, with --elastic-sigma 4).
    #[arg(long, allow_negative_numbers = true, value_name = "ALPHA")]
    pub augment_elastic: Option<f32>,
    /// Smoothness of the elastic distortion's field: the Gaussian's sigma, pixels.
    #[arg(long, default_value_t = 4.0, allow_negative_numbers = true)]
    pub elastic_sigma: f32,
    /// Early stopping: stop after N epochs without improvement of the monitored metric.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Validation metric for early stopping and for choosing the kept model.
    #[arg(long, value_enum, default_value = "accuracy")]
    pub monitor: MonitorArg,
    /// Random restarts: train K times from different initialisations, keep the best.
    #[arg(long, default_value_t = 1)]
    pub restarts: usize,
    /// With --restarts K: keep all K models as a committee that classifies by their averaged
    /// probabilities (the run folder's model for `infer`), and report its test scores beside
    /// each run's.
    #[arg(long)]
    pub ensemble: bool,
    /// Images of the training set held out for validation.
    #[arg(long, default_value_t = 5_000)]
    pub valid_size: usize,
    /// Train on only the first N training images (quick experiments).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Evaluate on only the first N test images.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Maximum shift (pixels per axis) of the translated test set.
    #[arg(long, default_value_t = 3)]
    pub test_shift: usize,
    /// Also score the test set with Gaussian pixel noise of this sigma (pixels on a 0-1
    /// scale, clipped, rounded to grey levels); repeat or separate by commas for several.
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        value_name = "SIGMA"
    )]
    pub test_noise: Vec<f32>,
    /// Run directory for checkpoints, metrics, curves, model and report [default: runs/<model>].
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Continue the interrupted run in --artifacts from its last checkpoint (its config.json
    /// decides all training options).
    #[arg(long, requires = "artifacts")]
    pub resume: bool,
    /// Folder with the MNIST IDX files [default: $MNIST_DIR, else data/mnist].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// One line per epoch instead of the terminal dashboard (automatic when not on a terminal).
    #[arg(long)]
    pub plain: bool,
    /// The options typed on the command line (clap ids), for [`TrainArgs::warnings`].
    #[arg(skip)]
    pub given: Vec<String>,
}

/// The default number of epochs: what reaches each network's accuracy in docs/results.md
/// in about a minute (LeNet-5, the MLP) or a few (the ConvNet) on two CPU cores.
pub fn default_epochs(model: ModelKind) -> usize {
    match model {
        ModelKind::Lenet5 | ModelKind::Mlp => 15,
        ModelKind::Convnet => 5,
    }
}

/// The first of `parent/stem`, `parent/stem-2`, `parent/stem-3`... that is not `taken`: where
/// a new run goes.
pub fn first_free_dir(parent: &Path, stem: &str, taken: impl Fn(&Path) -> bool) -> PathBuf {
    (1..)
        .map(|n| match n {
            1 => parent.join(stem),
            n => parent.join(format!("{stem}-{n}")),
        })
        .find(|dir| !taken(dir))
        .expect("some run directory name is free")
}

/// Monitored validation metric on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MonitorArg {
    /// Validation loss (lower is better).
    Loss,
    /// Validation accuracy (higher is better).
    Accuracy,
}

/// Options that say where and how a run is shown, not how it trains: `--resume` keeps them.
const RESUME_KEEPS: [&str; 4] = ["artifacts", "resume", "data_dir", "plain"];

impl TrainArgs {
    /// Parses `words` (the program name first), remembering which options were typed.
    pub fn try_parse_words<I, T>(words: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = Self::command();
        let options: Vec<String> = command
            .get_arguments()
            .map(|arg| arg.get_id().to_string())
            .collect();
        let matches = command.try_get_matches_from(words)?;
        let mut args = Self::from_arg_matches(&matches)?;
        args.given = options
            .into_iter()
            .filter(|id| matches.value_source(id) == Some(ValueSource::CommandLine))
            .collect();
        Ok(args)
    }

    /// Options that were typed but do not apply (another optimizer's or schedule's setting;
    /// training options given with `--resume`), one message each.
    pub fn warnings(&self) -> Vec<String> {
        let given = |id: &str| self.given.iter().any(|g| g == id);
        let flag = |id: &str| format!("--{}", id.replace('_', "-"));
        if self.resume {
            let ignored: Vec<String> = self
                .given
                .iter()
                .filter(|id| !RESUME_KEEPS.contains(&id.as_str()))
                .map(|id| flag(id))
                .collect();
            if ignored.is_empty() {
                return Vec::new();
            }
            return vec![format!(
                "--resume continues with the run's saved config.json: ignoring {}",
                ignored.join(", ")
            )];
        }
        let optimizer = format!("{:?}", self.optimizer).to_lowercase();
        let mut warnings = Vec::new();
        let mut not_for = |id: &str, applies: bool, to: &str, chosen: &str| {
            if given(id) && !applies {
                warnings.push(format!(
                    "{} applies to {to} only: ignored with {chosen}",
                    flag(id)
                ));
            }
        };
        let o = self.optimizer;
        not_for("beta1", o == OptimizerArg::Adam, "Adam", &optimizer);
        not_for("beta2", o == OptimizerArg::Adam, "Adam", &optimizer);
        not_for("decay", o == OptimizerArg::Rmsprop, "RMSProp", &optimizer);
        not_for(
            "epsilon",
            o != OptimizerArg::Sgd,
            "Adam and RMSProp",
            &optimizer,
        );
        not_for(
            "momentum",
            o != OptimizerArg::Adam,
            "SGD and RMSProp",
            &optimizer,
        );
        not_for("nesterov", o == OptimizerArg::Sgd, "SGD", &optimizer);
        let model = self.model.to_string();
        not_for(
            "elastic_sigma",
            self.augment_elastic.is_some(),
            "--augment-elastic",
            "no elastic distortion",
        );
        not_for(
            "pool",
            self.model != ModelKind::Mlp,
            "LeNet-5 and the ConvNet",
            &model,
        );
        not_for(
            "dropout",
            self.model == ModelKind::Convnet,
            "the ConvNet",
            &model,
        );
        let schedule = format!("the {:?} schedule", self.schedule).to_lowercase();
        let s = self.schedule;
        not_for(
            "gamma",
            s == ScheduleArg::Exponential,
            "the exponential schedule",
            &schedule,
        );
        not_for(
            "min_lr",
            s == ScheduleArg::Cosine,
            "the cosine schedule",
            &schedule,
        );
        warnings
    }

    /// Turns the options into a [`TrainConfig`], checked by [`TrainConfig::validate`].
    pub fn to_config(&self) -> Result<TrainConfig> {
        let optimizer = match self.optimizer {
            OptimizerArg::Adam => OptimizerConfig::Adam {
                beta1: self.beta1,
                beta2: self.beta2,
                epsilon: self.epsilon,
            },
            OptimizerArg::Rmsprop => OptimizerConfig::Rmsprop {
                decay: self.decay,
                momentum: self.momentum.unwrap_or(0.0) as f32,
                epsilon: self.epsilon,
            },
            OptimizerArg::Sgd => OptimizerConfig::Sgd {
                momentum: self.momentum.unwrap_or(0.9),
                nesterov: self.nesterov,
            },
        };
        let schedule = match self.schedule {
            ScheduleArg::Constant => ScheduleConfig::Constant,
            ScheduleArg::Cosine => ScheduleConfig::Cosine {
                min_lr: self.min_lr,
            },
            ScheduleArg::Exponential => ScheduleConfig::Exponential { gamma: self.gamma },
        };
        let config = TrainConfig {
            model: ModelConfig::new()
                .with_kind(self.model)
                .with_init(self.init)
                .with_dropout(self.dropout)
                .with_kernels(self.kernels)
                .with_pool((self.model != ModelKind::Mlp).then_some(self.pool)),
            optimizer,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            schedule,
            batch_size: self.batch_size,
            epochs: self.epochs.unwrap_or(default_epochs(self.model)),
            seed: self.seed,
            augmentation: Augmentation {
                shift: self.augment_shift,
                jitter: self.jitter,
                rotate: self.augment_rotate,
                scale: self.augment_scale,
                elastic: self.augment_elastic.map(|alpha| Elastic {
                    alpha,
                    sigma: self.elastic_sigma,
                }),
            },
            valid_size: self.valid_size,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            patience: self.patience,
            monitor: match self.monitor {
                MonitorArg::Loss => MonitorMetric::Loss,
                MonitorArg::Accuracy => MonitorMetric::Accuracy,
            },
            restarts: self.restarts,
            ensemble: self.ensemble,
            test_shift: self.test_shift,
            test_noise: self.test_noise.clone(),
        };
        config.validate()?;
        Ok(config)
    }

    /// The run directory: `--artifacts`, or the first free `runs/<model>[-N]`.
    pub fn artifacts_dir(&self) -> PathBuf {
        if let Some(dir) = &self.artifacts {
            return dir.clone();
        }
        first_free_dir(Path::new("runs"), &self.model.to_string(), |dir| {
            dir.exists()
        })
    }

    /// True when progress should be plain lines (flag given, or stdout is not a terminal).
    pub fn plain_output(&self) -> bool {
        self.plain || !std::io::stdout().is_terminal()
    }
}
