//! Early stopping and checkpoint selection as Burn strategies, decided on the complete
//! per-epoch history of [`EpochLog`] (which also covers the epochs before a `--resume`).

use std::collections::BTreeSet;
use std::time::Duration;

use burn::train::EarlyStoppingStrategy;
use burn::train::checkpoint::{CheckpointingAction, CheckpointingStrategy};
use burn::train::metric::store::EventStoreClient;

use crate::config::MonitorMetric;
use crate::epoch_log::{EpochLog, EpochRecord};
use crate::stop::StopFlag;

/// How long a strategy waits for an epoch's metrics to arrive from Burn's event threads.
const METRICS_TIMEOUT: Duration = Duration::from_secs(600);

/// The best epoch of `history` by `monitor` (lowest validation loss or highest accuracy).
pub fn best_epoch(history: &[EpochRecord], monitor: MonitorMetric) -> Option<&EpochRecord> {
    let key = |r: &EpochRecord| match monitor {
        MonitorMetric::Loss => r.valid_loss,
        MonitorMetric::Accuracy => -r.valid_accuracy,
    };
    history
        .iter()
        .filter(|r| key(r).is_finite())
        .min_by(|a, b| key(a).total_cmp(&key(b)))
}

/// Stops when the monitored validation metric has not improved for `patience` epochs (never,
/// without a patience), and at once when the epoch log has failed (the run cannot go on
/// without recording its epochs).
#[derive(Clone)]
pub struct PatienceStopping {
    log: EpochLog,
    monitor: MonitorMetric,
    patience: Option<usize>,
    stop: Option<StopFlag>,
}

impl PatienceStopping {
    /// Stop after `patience` epochs without improvement of `monitor`, when `log` fails, or
    /// once `stop` is set (a watched run's stop: [`crate::watch`]).
    pub fn new(
        log: EpochLog,
        monitor: MonitorMetric,
        patience: Option<usize>,
        stop: Option<StopFlag>,
    ) -> Self {
        Self {
            log,
            monitor,
            patience,
            stop,
        }
    }
}

impl EarlyStoppingStrategy for PatienceStopping {
    fn should_stop(&mut self, epoch: usize, _store: &EventStoreClient) -> bool {
        let Some(history) = self.log.wait_for_epoch(epoch, METRICS_TIMEOUT) else {
            return self.log.failure().is_some();
        };
        if self.stop.as_ref().is_some_and(StopFlag::is_set) {
            return true;
        }
        let Some(patience) = self.patience else {
            return false;
        };
        best_epoch(&history, self.monitor).is_some_and(|best| epoch - best.epoch >= patience)
    }
}

/// Saves every epoch, then keeps only the best epoch's checkpoint (by `monitor`) and those of
/// the last two epochs (what `--resume` needs).
pub struct KeepBestAndLatest {
    log: EpochLog,
    monitor: MonitorMetric,
    saved: BTreeSet<usize>,
}

impl KeepBestAndLatest {
    /// `existing`: epochs already checkpointed on disk (when resuming).
    pub fn new(
        log: EpochLog,
        monitor: MonitorMetric,
        existing: impl IntoIterator<Item = usize>,
    ) -> Self {
        Self {
            log,
            monitor,
            saved: existing.into_iter().collect(),
        }
    }
}

impl CheckpointingStrategy for KeepBestAndLatest {
    fn checkpointing(
        &mut self,
        epoch: usize,
        _store: &EventStoreClient,
    ) -> Vec<CheckpointingAction> {
        let best = self
            .log
            .wait_for_epoch(epoch, METRICS_TIMEOUT)
            .and_then(|history| best_epoch(&history, self.monitor).map(|r| r.epoch));
        let keep = |e: usize| e + 1 >= epoch || Some(e) == best;
        let stale: Vec<usize> = self.saved.iter().copied().filter(|&e| !keep(e)).collect();
        let mut actions: Vec<CheckpointingAction> = stale
            .iter()
            .map(|&e| CheckpointingAction::Delete(e))
            .collect();
        for e in stale {
            self.saved.remove(&e);
        }
        if self.saved.insert(epoch) {
            actions.push(CheckpointingAction::Save);
        }
        actions
    }
}
