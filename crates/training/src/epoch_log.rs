//! Per-epoch metrics: collected from Burn's metric events, written to `metrics.csv` after every
//! epoch (atomically), printed as one line per epoch when the dashboard is off, and the source of
//! truth for early stopping and checkpoint selection ([`crate::strategies`]).
//!
//! It replaces Burn's `FileMetricLogger`, which on a resumed run files the first resumed epoch's
//! values under epoch 1, and which Burn's metric-based strategies may read before the last
//! epoch's events have arrived (the events travel through other threads).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use burn::train::logger::MetricLogger;
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, MetricId, NumericEntry};
use serde::{Deserialize, Serialize};

use crate::epoch_clock::{EpochClock, split_note};
use crate::score_metrics::{ACCURACY, LOSS};

/// Burn's name of its learning-rate metric, which the run registers.
const LEARNING_RATE: &str = "Learning Rate";

/// The metrics of one finished epoch (accuracies in percent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy, %.
    pub train_accuracy: f64,
    /// Mean validation loss.
    pub valid_loss: f64,
    /// Validation accuracy, %.
    pub valid_accuracy: f64,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Wall time of the epoch (training + validation), seconds.
    pub seconds: f64,
    /// Of `seconds`, the time in training steps (forward, backward, optimizer update); `None`
    /// in a `metrics.csv` written before it was recorded.
    pub step_seconds: Option<f64>,
    /// Of `seconds`, the time in the validation pass (`None` as for `step_seconds`).
    pub valid_seconds: Option<f64>,
}

impl EpochRecord {
    /// CSV header matching [`EpochRecord::csv_row`].
    pub const CSV_HEADER: &'static str = "epoch,train_loss,train_accuracy,valid_loss,valid_accuracy,learning_rate,seconds,step_seconds,valid_seconds";

    /// Fields of a row written before the epoch's time was split (read, never written).
    const OLD_FIELDS: usize = 7;

    /// One CSV line (no newline); an unknown time is an empty field.
    pub fn csv_row(&self) -> String {
        let time = |t: Option<f64>| t.map(|t| format!("{t:.3}")).unwrap_or_default();
        format!(
            "{},{:.6},{:.4},{:.6},{:.4},{:.6e},{:.3},{},{}",
            self.epoch,
            self.train_loss,
            self.train_accuracy,
            self.valid_loss,
            self.valid_accuracy,
            self.learning_rate,
            self.seconds,
            time(self.step_seconds),
            time(self.valid_seconds),
        )
    }

    /// Parses a line written by [`EpochRecord::csv_row`] (or by an earlier version, without
    /// the split of the epoch's time).
    pub fn parse_csv_row(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.trim().split(',').collect();
        let time = |i: usize| -> Option<Option<f64>> {
            match f.get(i) {
                None | Some(&"") => Some(None),
                Some(text) => text.parse().ok().map(Some),
            }
        };
        if f.len() != Self::OLD_FIELDS && f.len() != Self::CSV_HEADER.split(',').count() {
            return None;
        }
        Some(Self {
            epoch: f[0].parse().ok()?,
            train_loss: f[1].parse().ok()?,
            train_accuracy: f[2].parse().ok()?,
            valid_loss: f[3].parse().ok()?,
            valid_accuracy: f[4].parse().ok()?,
            learning_rate: f[5].parse().ok()?,
            seconds: f[6].parse().ok()?,
            step_seconds: time(7)?,
            valid_seconds: time(8)?,
        })
    }
}

/// Reads the epochs recorded in a `metrics.csv` (empty when the file does not exist).
pub fn read_metrics_csv(path: &std::path::Path) -> anyhow::Result<Vec<EpochRecord>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            EpochRecord::parse_csv_row(l)
                .ok_or_else(|| anyhow::anyhow!("{}: malformed line '{l}'", path.display()))
        })
        .collect()
}

/// Weighted running mean of one metric over one epoch.
#[derive(Clone, Copy, Debug, Default)]
struct Mean {
    sum: f64,
    weight: f64,
    last: f64,
}

impl Mean {
    fn add(&mut self, entry: &NumericEntry) {
        let (value, weight) = match entry {
            NumericEntry::Value(v) => (*v, 1.0),
            NumericEntry::Aggregated {
                aggregated_value,
                count,
            } => (*aggregated_value, *count as f64),
        };
        self.sum += value * weight;
        self.weight += weight;
        self.last = value;
    }

    fn mean(&self) -> f64 {
        if self.weight > 0.0 {
            self.sum / self.weight
        } else {
            f64::NAN
        }
    }
}

#[derive(Default)]
struct State {
    names: HashMap<MetricId, String>,
    train: HashMap<String, Mean>,
    valid: HashMap<String, Mean>,
    history: Vec<EpochRecord>,
    epoch_started: Option<Instant>,
    /// Why the log could not record an epoch (metrics.csv or the progress line not written):
    /// the run must stop, and waiting strategies must not wait for epochs that never come.
    failure: Option<String>,
}

/// Shared handle: one clone goes to Burn as a metric logger, one stays with the caller to read
/// the history.
#[derive(Clone)]
pub struct EpochLog {
    state: Arc<(Mutex<State>, Condvar)>,
    clock: EpochClock,
    csv_path: PathBuf,
    print_lines: bool,
    prefix: String,
    on_epoch: Option<EpochHook>,
}

/// Called with each epoch the log records (after `metrics.csv` is written): a watched run's
/// report ([`crate::watch`]).
pub type EpochHook = Arc<dyn Fn(&EpochRecord) + Send + Sync>;

impl EpochLog {
    /// A log writing `csv_path`, continuing `history` (the epochs already done when resuming),
    /// each epoch's time read from `clock`. With `print_lines`, prints one line per finished
    /// epoch, each starting with `prefix`.
    pub fn new(
        csv_path: PathBuf,
        history: Vec<EpochRecord>,
        clock: EpochClock,
        print_lines: bool,
        prefix: String,
    ) -> Self {
        Self {
            state: Arc::new((
                Mutex::new(State {
                    history,
                    ..State::default()
                }),
                Condvar::new(),
            )),
            clock,
            csv_path,
            print_lines,
            prefix,
            on_epoch: None,
        }
    }

    /// The same log, also calling `on_epoch` with each epoch it records.
    pub fn with_epoch_hook(mut self, on_epoch: Option<EpochHook>) -> Self {
        self.on_epoch = on_epoch;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.0.lock().expect("epoch log lock")
    }

    /// Every finished epoch so far.
    pub fn history(&self) -> Vec<EpochRecord> {
        self.lock().history.clone()
    }

    /// Why the log stopped recording, if it did (the run must end with this error).
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// The history once `epoch` is recorded in it. Burn delivers metric events on other threads
    /// than the training loop, so a strategy asking right after an epoch must wait for them.
    /// Returns `None` at once if the log has failed, or if the epoch does not arrive within
    /// `timeout`.
    pub fn wait_for_epoch(&self, epoch: usize, timeout: Duration) -> Option<Vec<EpochRecord>> {
        let (lock, arrived) = &*self.state;
        let state = lock.lock().expect("epoch log lock");
        let (state, _) = arrived
            .wait_timeout_while(state, timeout, |s| {
                s.failure.is_none() && s.history.last().is_none_or(|r| r.epoch < epoch)
            })
            .expect("epoch log lock");
        (state.failure.is_none() && state.history.iter().any(|r| r.epoch == epoch))
            .then(|| state.history.clone())
    }

    /// Writes metrics.csv and prints the epoch's line; the first error becomes the failure.
    fn persist_epoch(&self, history: &[EpochRecord]) -> Result<(), String> {
        let mut text = String::from(EpochRecord::CSV_HEADER);
        text.push('\n');
        for record in history {
            text.push_str(&record.csv_row());
            text.push('\n');
        }
        workbench_io::atomic_write(&self.csv_path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.csv_path.display()))?;
        if self.print_lines
            && let Some(record) = history.last()
        {
            let split = split_note(record.seconds, record.step_seconds, record.valid_seconds);
            workbench_io::console::line(format_args!(
                "{}epoch {:>3}  train loss {:.4} acc {:6.2}%  valid loss {:.4} acc {:6.2}%  lr {:.2e}  {:.1}s{split}",
                self.prefix,
                record.epoch,
                record.train_loss,
                record.train_accuracy,
                record.valid_loss,
                record.valid_accuracy,
                record.learning_rate,
                record.seconds
            ))
            .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

impl MetricLogger for EpochLog {
    fn log(&mut self, update: MetricsUpdate, _epoch: usize, split: &Split) {
        let mut state = self.lock();
        state.epoch_started.get_or_insert_with(Instant::now);
        for numeric in update.entries_numeric {
            let Some(name) = state.names.get(&numeric.entry.metric_id).cloned() else {
                continue;
            };
            let means = match split {
                Split::Train => &mut state.train,
                Split::Valid => &mut state.valid,
                Split::Test(_) => continue,
            };
            means.entry(name).or_default().add(&numeric.numeric_entry);
        }
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        let state = self.lock();
        let Some(record) = state.history.iter().find(|r| r.epoch == epoch) else {
            return Ok(Vec::new());
        };
        let value = match (name, split) {
            (LOSS, Split::Train) => record.train_loss,
            (LOSS, Split::Valid) => record.valid_loss,
            (ACCURACY, Split::Train) => record.train_accuracy,
            (ACCURACY, Split::Valid) => record.valid_accuracy,
            (LEARNING_RATE, Split::Train) => record.learning_rate,
            _ => return Ok(Vec::new()),
        };
        Ok(vec![NumericEntry::Value(value)])
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        let mut state = self.lock();
        state.names.insert(definition.metric_id, definition.name);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if summary.split != Split::Valid {
            return;
        }
        let mut state = self.lock();
        let mean =
            |map: &HashMap<String, Mean>, name: &str| map.get(name).map_or(f64::NAN, Mean::mean);
        let epoch = state.history.last().map_or(1, |r| r.epoch + 1);
        // The clock's times, stamped on the training thread; the time since the epoch's first
        // metric event where validation did not run to its end (an interrupted run).
        let started = state.epoch_started.take();
        let times = self.clock.take_epoch();
        let record = EpochRecord {
            epoch,
            train_loss: mean(&state.train, LOSS),
            train_accuracy: mean(&state.train, ACCURACY),
            valid_loss: mean(&state.valid, LOSS),
            valid_accuracy: mean(&state.valid, ACCURACY),
            learning_rate: state.train.get(LEARNING_RATE).map_or(f64::NAN, |m| m.last),
            seconds: times.map_or_else(
                || started.map_or(0.0, |t| t.elapsed().as_secs_f64()),
                |t| t.seconds,
            ),
            step_seconds: times.map(|t| t.step_seconds),
            valid_seconds: times.map(|t| t.valid_seconds),
        };
        state.train.clear();
        state.valid.clear();
        state.history.push(record);
        let history = state.history.clone();
        drop(state);
        match self.persist_epoch(&history) {
            Err(failure) => {
                self.lock().failure.get_or_insert(failure);
            }
            Ok(()) => {
                if let (Some(on_epoch), Some(record)) = (&self.on_epoch, history.last()) {
                    on_epoch(record);
                }
            }
        }
        self.state.1.notify_all();
    }
}
