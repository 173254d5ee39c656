//! One training run with Burn's `SupervisedTraining` + `Learner`: data, model, optimizer,
//! metrics, checkpoints, early stopping, resume. Generic over the autodiff backend.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use burn::data::dataloader::DataLoaderBuilder;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::record::Recorder;
use burn::train::metric::{AccuracyMetric, LearningRateMetric, LossMetric};
use burn::train::{Learner, SupervisedTraining};
use mnist_data::{MnistBatcher, MnistDataset};

use crate::backend::TrainingBackendBounds;
use crate::classifier::Classifier;
use crate::config::{OptimizerConfig, TrainConfig};
use crate::epoch_log::{EpochLog, EpochRecord, read_metrics_csv};
use crate::optimizer::{adam, fused_adam, rmsprop, scheduler, sgd, weight_decay};
use crate::quiet_renderer::QuietRenderer;
use crate::recorder::CheckpointRecorder;
use crate::strategies::{KeepBestAndLatest, PatienceStopping, best_epoch};
use custom_kernels::{ConvKernels, Kernels};

/// File of per-epoch metrics inside a run directory.
pub const METRICS_FILE: &str = "metrics.csv";
/// Folder of Burn's checkpoints inside a run directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";

/// Smallest validation batch: validation needs no gradients, so larger batches are cheaper.
const MIN_VALID_BATCH: usize = 256;

/// The validation batch size for training batches of `train_batch` images.
pub fn valid_batch_size(train_batch: usize) -> usize {
    train_batch.max(MIN_VALID_BATCH)
}

/// The training and validation data of a run.
#[derive(Clone)]
pub struct RunData {
    /// Training images (after the split and any limit).
    pub train: MnistDataset,
    /// Validation images.
    pub valid: MnistDataset,
}

/// What one run (one initialisation) produced.
pub struct RunOutcome<B: ConvKernels> {
    /// Every epoch's metrics, resumed epochs included.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (best validation `monitor`).
    pub best_epoch: usize,
    /// The kept network, on the inference backend.
    pub classifier: Classifier<B>,
}

/// The epochs that have a complete checkpoint (model, optimizer and scheduler) in `dir`.
pub fn checkpointed_epochs(dir: &Path) -> Vec<usize> {
    let checkpoints = dir.join(CHECKPOINT_DIR);
    let mut epochs: Vec<usize> = std::fs::read_dir(&checkpoints)
        .into_iter()
        .flatten()
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_prefix("model-")?
                .strip_suffix(".mpk")?
                .parse()
                .ok()
        })
        .filter(|epoch| {
            ["optim", "scheduler"]
                .iter()
                .all(|part| checkpoints.join(format!("{part}-{epoch}.mpk")).is_file())
        })
        .collect();
    epochs.sort_unstable();
    epochs
}

/// Where and how one run trains.
#[derive(Clone, Debug)]
pub struct RunSpec {
    /// The run's own artifacts folder.
    pub dir: PathBuf,
    /// Seed of initialisation, shuffling and augmentation.
    pub seed: u64,
    /// Continue from the last complete checkpoint in `dir`.
    pub resume: bool,
    /// Print one line per epoch (no dashboard).
    pub plain_output: bool,
    /// Prefix of the printed lines (e.g. `[run 2] `).
    pub label: String,
}

/// Trains one network as `spec` says.
///
/// With `spec.resume`, continues from the last complete checkpoint in `spec.dir`: the epochs
/// recorded up to it are kept and training goes on with the next one.
pub fn train_once<B: TrainingBackendBounds>(
    device: &B::Device,
    config: &TrainConfig,
    data: &RunData,
    spec: &RunSpec,
) -> Result<RunOutcome<B::InnerBackend>> {
    let dir = spec.dir.as_path();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let resume_from = if spec.resume {
        checkpointed_epochs(dir).last().copied()
    } else {
        None
    };
    let mut history = read_metrics_csv(&dir.join(METRICS_FILE))?;
    history.retain(|r| Some(r.epoch) <= resume_from);
    if resume_from.is_some_and(|epoch| history.len() != epoch) {
        bail!(
            "{}: metrics.csv does not match the checkpoints (cannot resume safely)",
            dir.display()
        );
    }

    B::seed(device, spec.seed);
    let classifier = Classifier {
        network: config.model.init::<B>(device),
    };
    let log = EpochLog::new(
        dir.join(METRICS_FILE),
        history,
        spec.plain_output,
        spec.label.clone(),
    );

    let weight_decay = weight_decay(config);
    let final_model = match config.optimizer {
        OptimizerConfig::Adam { .. } if config.model.kernels == Kernels::Custom => fit::<B, _>(
            config,
            data,
            spec,
            resume_from,
            &log,
            classifier,
            fused_adam(config).init::<B, Classifier<B>>(),
        ),
        OptimizerConfig::Adam { .. } => fit::<B, _>(
            config,
            data,
            spec,
            resume_from,
            &log,
            classifier,
            adam(config, weight_decay).init::<B, Classifier<B>>(),
        ),
        OptimizerConfig::Rmsprop { .. } => fit::<B, _>(
            config,
            data,
            spec,
            resume_from,
            &log,
            classifier,
            rmsprop(config, weight_decay).init::<B, Classifier<B>>(),
        ),
        OptimizerConfig::Sgd { .. } => fit::<B, _>(
            config,
            data,
            spec,
            resume_from,
            &log,
            classifier,
            sgd(config, weight_decay).init::<B, Classifier<B>>(),
        ),
    }?;

    let history = log.history();
    let best = best_epoch(&history, config.monitor)
        .map(|r| r.epoch)
        .context("training produced no finite validation metric")?;
    let classifier = if history.last().map(|r| r.epoch) == Some(best) {
        final_model
    } else {
        load_checkpoint::<B::InnerBackend>(dir, best, final_model, device)?
    };
    Ok(RunOutcome {
        history,
        best_epoch: best,
        classifier,
    })
}

/// Loads the model checkpoint of `epoch` from `dir` into `classifier`.
fn load_checkpoint<B: ConvKernels>(
    dir: &Path,
    epoch: usize,
    classifier: Classifier<B>,
    device: &B::Device,
) -> Result<Classifier<B>> {
    let path: PathBuf = dir.join(CHECKPOINT_DIR).join(format!("model-{epoch}.mpk"));
    let record = CheckpointRecorder::default()
        .load(path.clone(), device)
        .with_context(|| format!("cannot load the best checkpoint {}", path.display()))?;
    Ok(classifier.load_record(record))
}

fn fit<B, O>(
    config: &TrainConfig,
    data: &RunData,
    spec: &RunSpec,
    resume_from: Option<usize>,
    log: &EpochLog,
    classifier: Classifier<B>,
    optimizer: O,
) -> Result<Classifier<B::InnerBackend>>
where
    B: TrainingBackendBounds,
    O: Optimizer<Classifier<B>, B> + 'static,
{
    let train_loader = DataLoaderBuilder::new(MnistBatcher::new(config.augmentation, spec.seed))
        .batch_size(config.batch_size)
        .shuffle(spec.seed)
        .num_workers(1)
        .build(data.train.clone());
    let valid_loader = DataLoaderBuilder::new(MnistBatcher::default())
        .batch_size(valid_batch_size(config.batch_size))
        .num_workers(1)
        .build(data.valid.clone());
    let iterations_per_epoch = data.train.len().div_ceil(config.batch_size);
    let scheduler = scheduler(config, iterations_per_epoch)?;

    let dir = spec.dir.as_path();
    let mut training = SupervisedTraining::new(dir, train_loader, valid_loader)
        .metrics((AccuracyMetric::new(), LossMetric::new()))
        .metric_train_numeric(LearningRateMetric::new())
        .with_metric_logger(log.clone())
        .with_file_checkpointer(CheckpointRecorder::default())
        .num_epochs(config.epochs);
    let existing = resume_from
        .map(|_| checkpointed_epochs(dir))
        .unwrap_or_default();
    training = training.with_checkpointing_strategy(KeepBestAndLatest::new(
        log.clone(),
        config.monitor,
        existing,
    ));
    if let Some(patience) = config.patience {
        training =
            training.early_stopping(PatienceStopping::new(log.clone(), config.monitor, patience));
    }
    if spec.plain_output {
        training = training.renderer(QuietRenderer);
    }
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    let result = training.launch(Learner::new(classifier, optimizer, scheduler));
    Ok(result.model)
}
