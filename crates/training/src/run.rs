//! One training run with Burn's `SupervisedTraining` + `Learner`: data, model, optimizer,
//! metrics, checkpoints, early stopping, resume. Generic over the autodiff backend.

use std::path::{Path, PathBuf};

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use burn::data::dataloader::{DataLoader, DataLoaderBuilder};
use burn::lr_scheduler::LrScheduler;
use burn::prelude::*;
use burn::record::{BurnRecordNoItem, Recorder};
use burn::train::metric::LearningRateMetric;
use burn::train::{Learner, SupervisedTraining};
use mnist_data::{MnistBatch, MnistBatcher, MnistDataset};

use crate::backend::{LoaderWorkers, ScoreReads, TrainingBackendBounds};
use crate::config::TrainConfig;
use crate::epoch_clock::{EpochClock, TimedLoader, TimedOptimizer};
use crate::epoch_loader::EpochLoader;
use crate::epoch_log::{EpochHook, EpochLog, EpochRecord, read_metrics_csv};
use crate::learner_model::LearnerModel;
use crate::optimizer::{AnyOptimizer, AnyOptimizerRecord, scheduler};
use crate::quiet_renderer::QuietRenderer;
use crate::recorder::CheckpointRecorder;
use crate::run_folder::{checkpoint_file, checkpointed_epochs};
use crate::score_metrics::{Accuracy, MeanLoss};
use crate::step_scores::ScoredLoader;
use crate::strategies::{KeepBestAndLatest, PatienceStopping, best_epoch};
use crate::watch::{Snapshots, Watch, WatchEvent, WatchRenderer};
use custom_kernels::KernelBackend;
use model::ModelKind;
use workbench_io::names::{
    CHECKPOINT_DIR, CHECKPOINT_PARTS, METRICS_FILE, MODEL_PART, OPTIMIZER_PART, SCHEDULER_PART,
};
use workbench_io::say;

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
pub struct RunOutcome<B: KernelBackend> {
    /// Every epoch's metrics, resumed epochs included.
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (best validation `monitor`).
    pub best_epoch: usize,
    /// The kept network, on the inference backend.
    pub learner_model: LearnerModel<B>,
}

/// Why the checkpoint of `epoch` cannot be resumed from, if it cannot: a missing part, or a
/// part that is not a complete Burn record.
fn checkpoint_problem<B: Backend>(dir: &Path, epoch: usize) -> Option<String> {
    CHECKPOINT_PARTS.iter().find_map(|part| {
        let mut path = checkpoint_file(dir, part, epoch);
        if !path.is_file() {
            return Some(format!("{} is missing", path.display()));
        }
        Recorder::<B>::load_item::<BurnRecordNoItem>(&CheckpointRecorder::default(), &mut path)
            .err()
            .map(|e| {
                format!(
                    "{}: {}",
                    path.display(),
                    model::persist::recorder_message(&e)
                )
            })
    })
}

/// Refuses a checkpoint whose network is not the kind `config.json` names (an edited
/// `config.json`): Burn would panic loading it into the wrong network.
fn check_checkpoint_kind<B: TrainingBackendBounds>(
    dir: &Path,
    epoch: usize,
    kind: ModelKind,
    device: &B::Device,
) -> Result<()> {
    let path = checkpoint_file(dir, MODEL_PART, epoch);
    let record: <LearnerModel<B> as Module<B>>::Record =
        Recorder::<B>::load(&CheckpointRecorder::default(), path.clone(), device).map_err(|e| {
            anyhow!(
                "{}: {}",
                path.display(),
                model::persist::recorder_message(&e)
            )
        })?;
    let held = model::persist::record_kind::<B>(&record.network);
    if held != kind {
        bail!(
            "{}: the checkpoint holds a {held} network, but {} names a {kind}: cannot resume",
            path.display(),
            workbench_io::names::TRAIN_CONFIG_FILE
        );
    }
    Ok(())
}

/// The epoch to resume after: the newest checkpoint whose parts are all there and complete.
/// Prints what it resumes from, and why any newer epoch cannot be used; with no usable
/// checkpoint at all, says so and starts the run again from its first epoch (every epoch draws
/// its randomness from the seed and its number, so nothing but time is lost).
fn resume_point<B: Backend>(
    dir: &Path,
    history: &[EpochRecord],
    label: &str,
) -> Result<Option<usize>> {
    let recorded = history.last().map_or(0, |r| r.epoch);
    let mut candidates = checkpointed_epochs(dir);
    // Epochs with some parts on disk but not all are candidates too, to be reported.
    candidates.extend((1..=recorded).filter(|&e| {
        CHECKPOINT_PARTS
            .iter()
            .any(|part| checkpoint_file(dir, part, e).is_file())
    }));
    candidates.sort_unstable();
    candidates.dedup();
    let mut skipped = Vec::new();
    for &epoch in candidates.iter().rev() {
        let problem = if (1..=recorded).contains(&epoch) {
            checkpoint_problem::<B>(dir, epoch)
        } else {
            Some(format!(
                "{}: epoch {epoch} is not one of the {recorded} epochs in {METRICS_FILE}",
                checkpoint_file(dir, MODEL_PART, epoch).display()
            ))
        };
        match problem {
            None => {
                for problem in &skipped {
                    say!("{label}cannot resume from a newer checkpoint: {problem}")?;
                }
                say!(
                    "{label}resuming after epoch {epoch} of {recorded} recorded, from {}",
                    dir.display()
                )?;
                return Ok(Some(epoch));
            }
            Some(problem) => skipped.push(problem),
        }
    }
    if recorded > 0 || !skipped.is_empty() {
        say!(
            "{label}no usable checkpoint in {}{}: training again from epoch 1",
            dir.join(CHECKPOINT_DIR).display(),
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" ({})", skipped.join("; "))
            }
        )?;
    } else {
        say!(
            "{label}nothing to resume in {}: training from the start",
            dir.display()
        )?;
    }
    Ok(None)
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
    /// Who watches and may stop the run ([`crate::watch`]), if anyone.
    pub watch: Option<Watch>,
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
    workbench_io::create_folder(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut history = read_metrics_csv(&dir.join(METRICS_FILE))?;
    let resume_from = if spec.resume {
        resume_point::<B>(dir, &history, &spec.label)?
    } else {
        None
    };
    if let Some(epoch) = resume_from {
        check_checkpoint_kind::<B>(dir, epoch, config.model.kind, device)?;
    }
    history.retain(|r| Some(r.epoch) <= resume_from);
    if resume_from.is_some_and(|epoch| history.len() != epoch) {
        bail!(
            "{}: metrics.csv does not match the checkpoints (cannot resume safely)",
            dir.display()
        );
    }

    B::seed(device, spec.seed);
    let clock = EpochClock::default();
    let learner_model = LearnerModel::new(
        config.model.init::<B>(device),
        clock.clone(),
        <B::InnerBackend as ScoreReads>::READ_EVERY,
    )
    .with_snapshots(spec.watch.clone().map(Snapshots::new));
    let log = EpochLog::new(
        dir.join(METRICS_FILE),
        history,
        clock.clone(),
        spec.plain_output,
        spec.label.clone(),
    )
    .with_epoch_hook(spec.watch.clone().map(|watch| {
        Arc::new(move |record: &EpochRecord| watch.send(WatchEvent::Epoch(record.clone())))
            as EpochHook
    }));

    let optimizer = AnyOptimizer::new(config, config.model.kernels);
    let final_model = fit::<B>(
        config,
        data,
        spec,
        resume_from,
        &log,
        learner_model,
        optimizer,
    )?;

    let history = log.history();
    let best = best_epoch(&history, config.monitor)
        .map(|r| r.epoch)
        .context("training produced no finite validation metric")?;
    let learner_model = if history.last().map(|r| r.epoch) == Some(best) {
        final_model
    } else {
        load_checkpoint::<B::InnerBackend>(dir, best, final_model, device)?
    };
    Ok(RunOutcome {
        history,
        best_epoch: best,
        learner_model,
    })
}

/// Loads the model checkpoint of `epoch` from `dir` into `learner_model`.
fn load_checkpoint<B: KernelBackend>(
    dir: &Path,
    epoch: usize,
    learner_model: LearnerModel<B>,
    device: &B::Device,
) -> Result<LearnerModel<B>> {
    let path = checkpoint_file(dir, MODEL_PART, epoch);
    let record = CheckpointRecorder::default()
        .load(path.clone(), device)
        .with_context(|| format!("cannot load the best checkpoint {}", path.display()))?;
    Ok(learner_model.load_record(record))
}

fn fit<B: TrainingBackendBounds>(
    config: &TrainConfig,
    data: &RunData,
    spec: &RunSpec,
    resume_from: Option<usize>,
    log: &EpochLog,
    learner_model: LearnerModel<B>,
    optimizer: AnyOptimizer<LearnerModel<B>, B>,
) -> Result<LearnerModel<B::InnerBackend>> {
    let clock = learner_model.clock.clone();
    let stop = spec.watch.as_ref().map(|watch| watch.stop.clone());
    let workers = <B::InnerBackend as LoaderWorkers>::LOADER_WORKERS;
    let train_loader: Arc<dyn DataLoader<B, MnistBatch<B>>> = Arc::new(
        ScoredLoader::new(
            Arc::new(EpochLoader::new(
                data.train.clone(),
                config,
                spec.seed,
                resume_from.unwrap_or(0),
                workers,
                Default::default(),
                clock.clone(),
            )),
            learner_model.train_scores.clone(),
        )
        .stopped_by(stop.clone()),
    );
    let valid_loader = Arc::new(ScoredLoader::new(
        Arc::new(TimedLoader::new(
            DataLoaderBuilder::new(MnistBatcher::default())
                .batch_size(valid_batch_size(config.batch_size))
                .num_workers(workers)
                .build(data.valid.clone()),
            clock.clone(),
        )),
        learner_model.valid_scores.clone(),
    ));
    let iterations_per_epoch = data.train.len().div_ceil(config.batch_size);
    let scheduler = scheduler(config, iterations_per_epoch)?;

    let dir = spec.dir.as_path();
    if let Some(epoch) = resume_from {
        check_checkpoint_types::<B, _>(dir, epoch, &optimizer, &scheduler)?;
    }
    let recorder = CheckpointRecorder::default();
    let mut training = SupervisedTraining::new(dir, train_loader, valid_loader)
        .metrics((Accuracy::default(), MeanLoss::default()))
        .metric_train_numeric(LearningRateMetric::new())
        .with_metric_logger(log.clone())
        .with_file_checkpointer(recorder.clone())
        .num_epochs(config.epochs);
    // Newer checkpoints than the one resumed from are stale: they are written again.
    let existing: Vec<usize> = checkpointed_epochs(dir)
        .into_iter()
        .filter(|&epoch| Some(epoch) <= resume_from)
        .collect();
    training = training.with_checkpointing_strategy(KeepBestAndLatest::new(
        log.clone(),
        config.monitor,
        existing,
    ));
    // Also without --patience: it ends the run as soon as the epoch log fails.
    training = training.early_stopping(PatienceStopping::new(
        log.clone(),
        config.monitor,
        config.patience,
        stop,
    ));
    if let Some(watch) = &spec.watch {
        training = training.renderer(WatchRenderer::new(watch.clone()));
    } else if spec.plain_output {
        training = training.renderer(QuietRenderer);
    }
    if let Some(epoch) = resume_from {
        training = training.checkpoint(epoch);
    }
    let optimizer = TimedOptimizer::new(optimizer, clock);
    let learner = Learner::new(learner_model, optimizer, scheduler);
    // Burn's checkpointer thread panics when a save fails, and the training loop then panics
    // too: end the run with the cause instead.
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| training.launch(learner)));
    let failure = recorder.failure().or_else(|| log.failure());
    match (outcome, failure) {
        (Ok(result), None) => Ok(result.model),
        (_, Some(failure)) => Err(anyhow!(failure)).with_context(|| {
            format!(
                "training stopped; the run in {} keeps its last complete checkpoint (fix the cause, then --resume)",
                dir.display()
            )
        }),
        (Err(panic), None) => std::panic::resume_unwind(panic),
    }
}

/// Loads the checkpoint of `epoch` as the records of this run's model, optimizer and schedule
/// (what Burn does on resume, where a failure panics): a clear error if one does not fit.
fn check_checkpoint_types<B, S>(
    dir: &Path,
    epoch: usize,
    optimizer: &AnyOptimizer<LearnerModel<B>, B>,
    _scheduler: &S,
) -> Result<()>
where
    B: TrainingBackendBounds,
    S: LrScheduler,
{
    let device = Default::default();
    let recorder = CheckpointRecorder::default();
    let load_error = |part: &str, e: burn::record::RecorderError| {
        anyhow!(
            "{}: not a {part} checkpoint of this run: {}",
            checkpoint_file(dir, part, epoch).display(),
            model::persist::recorder_message(&e)
        )
    };
    Recorder::<B>::load::<<LearnerModel<B> as Module<B>>::Record>(
        &recorder,
        checkpoint_file(dir, MODEL_PART, epoch),
        &device,
    )
    .map_err(|e| load_error("model", e))?;
    let state = Recorder::<B>::load::<AnyOptimizerRecord<B>>(
        &recorder,
        checkpoint_file(dir, OPTIMIZER_PART, epoch),
        &device,
    )
    .map_err(|e| load_error("optimizer", e))?;
    if state.optimizer() != Some(optimizer.name()) {
        bail!(
            "{}: holds the state of {}, not of this run's {}",
            checkpoint_file(dir, OPTIMIZER_PART, epoch).display(),
            state.optimizer().unwrap_or("no single optimizer"),
            optimizer.name()
        );
    }
    Recorder::<B>::load::<S::Record<B>>(
        &recorder,
        checkpoint_file(dir, SCHEDULER_PART, epoch),
        &device,
    )
    .map_err(|e| load_error("scheduler", e))?;
    Ok(())
}
