//! A training session watched and steered by the program that runs it (`infer serve`'s "Train
//! here"): the training loss and accuracy as the chunks of scores come in, each finished epoch,
//! the network's weights every so often, and a stop that ends the run cleanly.
//!
//! The pieces of a run report through one [`Watch`]: the renderer Burn's `Learner` draws with
//! ([`WatchRenderer`], in place of the terminal dashboard) sends the training scores, the epoch
//! log ([`crate::epoch_log`]) each finished epoch, the network ([`crate::learner_model`]) a
//! snapshot of its weights at most every [`Watch::snapshot_every`]. A stop
//! ([`Watch::stop`], a [`StopFlag`]) ends the epoch under way after its next batch (the training loader
//! hands out no more, [`crate::step_scores::ScoredLoader`]); that shortened epoch is validated
//! and checkpointed as any other, and is the last ([`crate::strategies::PatienceStopping`]).
//! So a stopped run is a normal run folder: every epoch it recorded is complete, and its kept
//! model is the best of them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::train::LearnerSummary;
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use burn::train::renderer::{
    MetricState, MetricsRenderer, MetricsRendererTraining, ProgressType, TrainingProgress,
};
use serde::Serialize;

use crate::epoch_log::EpochRecord;
use crate::quiet_renderer::renders_no_evaluation;
use crate::score_metrics::{ACCURACY, LOSS};
use crate::stop::StopFlag;

/// The training scores of the batches since the last report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepProgress {
    /// 1-based epoch.
    pub epoch: usize,
    /// Epochs the run may take.
    pub epochs: usize,
    /// Training batches done in this epoch.
    pub iteration: usize,
    /// Training images done in this epoch.
    pub images: usize,
    /// Training images of a whole epoch.
    pub epoch_images: usize,
    /// Mean loss of the batches since the last report.
    pub loss: f64,
    /// Their accuracy, %.
    pub accuracy: f64,
}

/// What a watched session reports.
#[derive(Clone, Debug)]
pub enum WatchEvent {
    /// Training scores, every few batches (as often as the backend reads them back:
    /// [`crate::backend::ScoreReads`]).
    Progress(StepProgress),
    /// An epoch finished (validated, written to `metrics.csv`).
    Epoch(EpochRecord),
    /// The network's weights now: Burn's named MessagePack record at full precision, as
    /// `model.mpk` holds it ([`model::persist::network_from_bytes`] reads it).
    Snapshot(Vec<u8>),
}

/// Where a watched session's events go, and its stop.
#[derive(Clone)]
pub struct Watch {
    sink: Arc<dyn Fn(WatchEvent) + Send + Sync>,
    /// Asking it stops the session after the next training batch and that epoch's validation.
    pub stop: StopFlag,
    /// The shortest time between two snapshots of the weights (the first is taken at the first
    /// training step).
    pub snapshot_every: Duration,
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("stop", &self.stop)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

impl Watch {
    /// A watch sending every event to `sink` (called on the training threads: it must not
    /// block).
    pub fn new(
        sink: impl Fn(WatchEvent) + Send + Sync + 'static,
        snapshot_every: Duration,
    ) -> Self {
        Self {
            sink: Arc::new(sink),
            stop: StopFlag::default(),
            snapshot_every,
        }
    }

    /// Reports `event`.
    pub fn send(&self, event: WatchEvent) {
        (self.sink)(event);
    }
}

/// The network's side of a watch: it takes a snapshot when one is due.
#[derive(Clone)]
pub struct Snapshots {
    watch: Watch,
    last: Arc<Mutex<Option<Instant>>>,
}

impl fmt::Debug for Snapshots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Snapshots")
    }
}

impl Snapshots {
    /// Snapshots for `watch`.
    pub fn new(watch: Watch) -> Self {
        Self {
            watch,
            last: Arc::default(),
        }
    }

    /// Sends `take()` (the weights' bytes; none if they could not be serialised) if the last
    /// snapshot is older than the watch's interval; `take` runs only then.
    pub fn maybe_send(&self, take: impl FnOnce() -> Option<Vec<u8>>) {
        {
            let mut last = self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.watch.snapshot_every) {
                return;
            }
            *last = Some(Instant::now());
        }
        if let Some(bytes) = take() {
            self.watch.send(WatchEvent::Snapshot(bytes));
        }
    }
}

/// Burn's renderer for a watched run: it draws nothing and sends the training scores.
pub struct WatchRenderer {
    watch: Watch,
    names: HashMap<MetricId, String>,
    /// The scores of the chunk read since the last progress, if one was: (loss, accuracy).
    loss: Option<f64>,
    accuracy: Option<f64>,
}

impl WatchRenderer {
    /// A renderer sending to `watch`.
    pub fn new(watch: Watch) -> Self {
        Self {
            watch,
            names: HashMap::new(),
            loss: None,
            accuracy: None,
        }
    }
}

impl MetricsRendererTraining for WatchRenderer {
    fn update_train(&mut self, state: MetricState) {
        let MetricState::Numeric(entry, numeric) = state else {
            return;
        };
        // The score metrics give a count of 0 on the steps whose scores are not read yet.
        let value = match numeric {
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } if count > 0 => aggregated_value,
            NumericEntry::Value(value) => value,
            NumericEntry::Aggregated { .. } => return,
        };
        match self.names.get(&entry.metric_id).map(String::as_str) {
            Some(LOSS) => self.loss = Some(value),
            Some(ACCURACY) => self.accuracy = Some(value),
            _ => {}
        }
    }

    fn update_valid(&mut self, _state: MetricState) {}

    fn render_train(&mut self, item: TrainingProgress, _indicators: Vec<ProgressType>) {
        let (Some(loss), Some(accuracy)) = (self.loss.take(), self.accuracy.take()) else {
            return;
        };
        let images = item
            .progress
            .map_or((0, 0), |p| (p.items_processed, p.items_total));
        self.watch.send(WatchEvent::Progress(StepProgress {
            epoch: item.global_progress.items_processed,
            epochs: item.global_progress.items_total,
            iteration: item.iteration.unwrap_or_default(),
            images: images.0,
            epoch_images: images.1,
            loss,
            accuracy,
        }));
    }

    fn render_valid(&mut self, _item: TrainingProgress, _indicators: Vec<ProgressType>) {}

    fn on_train_end(
        &mut self,
        _summary: Option<LearnerSummary>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        Ok(())
    }
}

renders_no_evaluation!(WatchRenderer);

impl MetricsRenderer for WatchRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
