//! "Train here": one training at a time, started from the page, run by the project's training
//! library (Burn's `Learner`, the custom kernels) exactly as `cargo run -p training` runs it,
//! into a normal run folder under `--runs DIR`, watched live and stoppable
//! ([`training::watch`]); when it finishes, its model joins the served ones.
//!
//! The page's settings are the training tool's own options, parsed and validated by its own
//! parser ([`super::train_settings`]).
//!
//! Training must not starve the page: it runs on a thread of its own with a rayon pool of its
//! own ([`training_threads`]: all cores but [`INFERENCE_CORES`]), so every parallel section of
//! the training (the kernels, gemm) stays on those threads, and the requests' inference keeps
//! rayon's global pool.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use infer::render::FeatureMaps;
use infer::{Classifier, DefaultBackend};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;
use training::args::first_free_dir;
use training::backend::BackendChoice;
use training::epoch_log::EpochRecord;
use training::watch::{StepProgress, Watch, WatchEvent};
use training::{SessionOptions, TrainConfig};

use super::ServeOptions;
use super::models::{ModelList, ServedModel};
use super::train_settings::parse_settings;

/// Cores left to the page's requests while a training runs (the training gets the rest, at
/// least one).
pub const INFERENCE_CORES: usize = 1;

/// The shortest time between two snapshots of the weights the page shows.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(250);

/// Progress points a run keeps for pages that open while it runs; past it, every second one
/// is dropped (the curve keeps its whole length at half the detail).
const MAX_PROGRESS_POINTS: usize = 4096;

/// Events kept for a page that falls behind; one that falls further gets the whole state again.
const EVENT_BACKLOG: usize = 1024;

/// The threads of the training's own rayon pool.
pub fn training_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_sub(INFERENCE_CORES).max(1)
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Training.
    Running,
    /// A stop was asked for: the epoch under way ends at its next batch and is validated.
    Stopping,
    /// Trained all its epochs (or stopped early by `patience`); its model is served.
    Finished,
    /// Stopped from the page; its model (the best of the epochs it finished) is served.
    Stopped,
    /// Failed: `error` says why.
    Failed,
}

/// The page's training: the running one, or the last.
#[derive(Clone, Debug, Serialize)]
pub struct RunState {
    /// The run's name: its folder's in `--runs`, and the served model's.
    pub name: String,
    /// Its folder.
    pub folder: PathBuf,
    pub status: Status,
    /// The settings as the page sent them.
    pub settings: serde_json::Map<String, Value>,
    /// What the training tool warned about them (settings that do not apply).
    pub warnings: Vec<String>,
    /// The configuration they make.
    pub config: TrainConfig,
    /// Threads of the training's own pool.
    pub threads: usize,
    /// The training scores, every few batches.
    pub progress: Vec<StepProgress>,
    /// Every finished epoch.
    pub history: Vec<EpochRecord>,
    /// Snapshots of the weights taken so far.
    pub snapshots: usize,
    /// The first conv layer's kernels in the latest snapshot (none for the MLP).
    pub kernels: Option<FeatureMaps>,
    /// Seconds since it started (until it ended, once it has).
    pub seconds: f64,
    /// Test accuracy of the kept model, %, once finished.
    pub test_accuracy: Option<f64>,
    /// Why it failed.
    pub error: Option<String>,
    #[serde(skip)]
    started: Instant,
}

impl RunState {
    fn is_active(&self) -> bool {
        matches!(self.status, Status::Running | Status::Stopping)
    }
}

/// One event of the stream: its name and JSON data.
#[derive(Clone, Debug)]
pub struct Update {
    pub event: &'static str,
    pub data: String,
}

struct Job {
    run: Option<RunState>,
    /// The running training's watch (its stop) and latest snapshot, served under its name.
    watch: Option<Watch>,
    live: Option<Arc<ServedModel>>,
}

/// Training from the page.
pub struct Trainer {
    /// The served models, which a finished run joins.
    models: Arc<ModelList>,
    runs: Option<PathBuf>,
    data_dir: PathBuf,
    job: Mutex<Job>,
    updates: broadcast::Sender<Update>,
}

/// Why a start or a stop was refused.
#[derive(Debug)]
pub enum Refusal {
    /// The server has no `--runs`.
    Off,
    /// A training is running (its name).
    Busy(String),
    /// No training is running (for a stop).
    Idle,
    /// The settings are wrong.
    Invalid(String),
    /// The run could not be started (its folder, its thread).
    Failed(String),
}

impl Trainer {
    /// The trainer of a server started with `options`, serving `models`.
    pub fn new(options: &ServeOptions, models: Arc<ModelList>) -> Self {
        Self {
            models,
            runs: options.runs.clone(),
            data_dir: options.data_dir.clone(),
            job: Mutex::new(Job {
                run: None,
                watch: None,
                live: None,
            }),
            updates: broadcast::channel(EVENT_BACKLOG).0,
        }
    }

    fn job(&self) -> MutexGuard<'_, Job> {
        // Every change to the job is whole before the lock is let go.
        self.job
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether the server trains from the page (it was given `--runs`).
    pub fn enabled(&self) -> bool {
        self.runs.is_some()
    }

    /// The running or last run, with its time so far.
    pub fn run(&self) -> Option<RunState> {
        let mut run = self.job().run.clone()?;
        if run.is_active() {
            run.seconds = run.started.elapsed().as_secs_f64();
        }
        Some(run)
    }

    /// The running training's latest snapshot, if `name` is its run's.
    pub fn live_model(&self, name: &str) -> Option<Arc<ServedModel>> {
        let job = self.job();
        job.live.clone().filter(|model| model.name == name)
    }

    /// A new receiver of the stream's updates.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    fn publish(&self, event: &'static str, data: &impl Serialize) {
        if let Ok(data) = serde_json::to_string(data) {
            // No receiver is no page open: nothing to do.
            self.updates.send(Update { event, data }).ok();
        }
    }

    /// Sends the whole run to the pages (on every change of its status).
    fn publish_run(&self) {
        self.publish("run", &self.run());
    }

    /// Asks the running training to stop; its name.
    pub fn stop(&self) -> Result<String, Refusal> {
        let name = {
            let mut job = self.job();
            let Job { run, watch, .. } = &mut *job;
            match (run.as_mut(), watch) {
                (Some(run), Some(watch)) if run.is_active() => {
                    watch.stop.stop();
                    run.status = Status::Stopping;
                    run.name.clone()
                }
                _ => return Err(Refusal::Idle),
            }
        };
        self.publish_run();
        Ok(name)
    }
}

impl Trainer {
    /// Starts a training of `settings`: the run, as it starts.
    pub fn start(
        self: &Arc<Self>,
        settings: serde_json::Map<String, Value>,
    ) -> Result<RunState, Refusal> {
        let Some(runs) = self.runs.clone() else {
            return Err(Refusal::Off);
        };
        let (config, warnings) =
            parse_settings(&settings).map_err(|error| Refusal::Invalid(format!("{error:#}")))?;
        let mut job = self.job();
        if let Some(run) = job.run.as_ref().filter(|run| run.is_active()) {
            return Err(Refusal::Busy(run.name.clone()));
        }
        let folder = first_free_dir(&runs, &config.model.kind.to_string(), |dir| {
            dir.exists()
                || dir
                    .file_name()
                    .is_some_and(|name| self.models.has_name(&name.to_string_lossy()))
        });
        workbench_io::create_folder(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))
            .map_err(|error| Refusal::Failed(format!("{error:#}")))?;
        let name = folder
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let run = RunState {
            name: name.clone(),
            folder: folder.clone(),
            status: Status::Running,
            settings,
            warnings,
            config: config.clone(),
            threads: training_threads(),
            progress: Vec::new(),
            history: Vec::new(),
            snapshots: 0,
            kernels: None,
            seconds: 0.0,
            test_accuracy: None,
            error: None,
            started: Instant::now(),
        };
        let watch = {
            let trainer = Arc::clone(self);
            let config = config.clone();
            let name = name.clone();
            Watch::new(
                move |event| trainer.on_event(&name, &config, event),
                SNAPSHOT_EVERY,
            )
        };
        let options = SessionOptions {
            artifacts: folder,
            data_dir: self.data_dir.clone(),
            resume: false,
            plain_output: true,
            watch: Some(watch.clone()),
        };
        let thread = {
            let trainer = Arc::clone(self);
            std::thread::Builder::new()
                .name(format!("train {name}"))
                .spawn(move || {
                    let outcome = train(config, &options);
                    trainer.finish(outcome);
                })
        };
        thread.map_err(|error| {
            Refusal::Failed(format!("cannot start the training thread: {error}"))
        })?;
        job.run = Some(run.clone());
        job.watch = Some(watch);
        job.live = None;
        drop(job);
        self.publish_run();
        Ok(run)
    }
}

/// The backend the server runs its models on, for the training too.
fn backend() -> BackendChoice {
    if cfg!(feature = "wgpu") {
        BackendChoice::Wgpu
    } else {
        BackendChoice::Ndarray
    }
}

/// Runs the session on the training's own pool: its test accuracy, or why it failed (a
/// panic included).
fn train(config: TrainConfig, options: &SessionOptions) -> Result<f64, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(training_threads())
        .thread_name(|index| format!("train-here-{index}"))
        .build()
        .map_err(|error| format!("cannot start the training's threads: {error}"))?;
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        pool.install(|| training::run_on_backend(backend(), config, options))
    }));
    match outcome {
        Ok(Ok(report)) => Ok(report.test.accuracy),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(panic) => Err(format!(
            "the training panicked: {}",
            panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)")
        )),
    }
}

impl Trainer {
    /// What the training reports, recorded for pages that open later and sent to the open ones.
    fn on_event(&self, name: &str, config: &TrainConfig, event: WatchEvent) {
        match event {
            WatchEvent::Progress(progress) => {
                if let Some(run) = self.job().run.as_mut() {
                    if run.progress.len() >= MAX_PROGRESS_POINTS {
                        let mut index = 0;
                        run.progress.retain(|_| {
                            index += 1;
                            index % 2 == 0
                        });
                    }
                    run.progress.push(progress);
                }
                self.publish("progress", &progress);
            }
            WatchEvent::Epoch(record) => {
                if let Some(run) = self.job().run.as_mut() {
                    run.history.push(record.clone());
                }
                self.publish("epoch", &record);
            }
            WatchEvent::Snapshot(bytes) => {
                let device = Default::default();
                // A snapshot that does not load is skipped: the next one will do.
                let Ok(network) = model::persist::network_from_bytes::<DefaultBackend>(
                    &config.model,
                    bytes,
                    &device,
                ) else {
                    return;
                };
                let classifier = Classifier::from_network(network, config.model.clone(), device);
                let model = Arc::new(ServedModel::new(name.to_string(), classifier));
                let snapshot = {
                    let mut job = self.job();
                    let Some(run) = job.run.as_mut() else {
                        return;
                    };
                    run.snapshots += 1;
                    run.kernels = model.kernels.clone();
                    let snapshot = Snapshot {
                        snapshots: run.snapshots,
                        kernels: run.kernels.clone(),
                    };
                    job.live = Some(model);
                    snapshot
                };
                self.publish("snapshot", &snapshot);
            }
        }
    }
}

/// The `snapshot` event: the count so far and the first layer's kernels now.
#[derive(Serialize)]
struct Snapshot {
    snapshots: usize,
    kernels: Option<FeatureMaps>,
}

impl Trainer {
    /// Records how the training ended; a finished run's model joins the served ones (before
    /// the snapshot under its name goes, so its name always answers).
    fn finish(&self, outcome: Result<f64, String>) {
        let (folder, stopped) = {
            let job = self.job();
            let Some(run) = job.run.as_ref() else {
                return;
            };
            (run.folder.clone(), run.status == Status::Stopping)
        };
        let outcome = outcome.and_then(|accuracy| {
            let model = ServedModel::load(&folder, None).map_err(|error| {
                format!(
                    "the run finished but its model cannot be loaded from {}: {error:#}",
                    folder.display()
                )
            })?;
            self.models.add(model);
            Ok(accuracy)
        });
        {
            let mut job = self.job();
            if let Some(run) = job.run.as_mut() {
                run.seconds = run.started.elapsed().as_secs_f64();
                match outcome {
                    Ok(accuracy) => {
                        run.status = if stopped {
                            Status::Stopped
                        } else {
                            Status::Finished
                        };
                        run.test_accuracy = Some(accuracy);
                    }
                    Err(error) => {
                        run.status = Status::Failed;
                        run.error = Some(error);
                    }
                }
            }
            job.watch = None;
            job.live = None;
        }
        self.publish_run();
    }
}
