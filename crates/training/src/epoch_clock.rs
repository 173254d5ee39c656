//! Where an epoch's wall time goes: the training steps (forward, backward and optimizer update,
//! what `cargo xtask bench` times as a "training step"), the validation pass, and the rest
//! (waiting for batches, the metrics and their events, logging, whatever else runs between the
//! steps). The pieces of a run that Burn's `Learner` calls on its training thread stamp one
//! shared clock: the training loader as an epoch starts ([`crate::epoch_loader`]), the network
//! as a step starts ([`crate::learner_model`]), the optimizer as it ends ([`TimedOptimizer`]),
//! the validation loader as validation starts and runs dry ([`TimedLoader`]). The epoch log
//! reads each finished epoch's times ([`EpochClock::take_epoch`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, LearningRate, MultiGradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};

/// Wall times of one epoch, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochTimes {
    /// From the start of training to the end of validation.
    pub seconds: f64,
    /// In training steps (forward, backward, optimizer update).
    pub step_seconds: f64,
    /// In the validation pass.
    pub valid_seconds: f64,
}

/// How the tool prints where `seconds` went, e.g. ` (steps 38.1s, valid 2.0s, other 1.2s)`;
/// empty when the split is not known.
pub fn split_note(seconds: f64, step_seconds: Option<f64>, valid_seconds: Option<f64>) -> String {
    match (step_seconds, valid_seconds) {
        (Some(steps), Some(valid)) => format!(
            " (steps {steps:.1}s, valid {valid:.1}s, other {:.1}s)",
            seconds - steps - valid
        ),
        _ => String::new(),
    }
}

#[derive(Debug, Default)]
struct Stamps {
    epoch_started: Option<Instant>,
    step_started: Option<Instant>,
    steps: Duration,
    valid_started: Option<Instant>,
    finished: Option<EpochTimes>,
}

/// The clock shared by the stamping pieces of one run (clones share it).
#[derive(Clone, Debug, Default)]
pub struct EpochClock(Arc<Mutex<Stamps>>);

impl EpochClock {
    fn stamps(&self) -> std::sync::MutexGuard<'_, Stamps> {
        // The stamps stay consistent whatever a panicking holder did: each is one assignment.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An epoch's training starts.
    pub fn start_epoch(&self) {
        let mut stamps = self.stamps();
        *stamps = Stamps {
            epoch_started: Some(Instant::now()),
            ..Stamps::default()
        };
    }

    /// A training step starts (its forward pass).
    pub fn start_step(&self) {
        self.stamps().step_started = Some(Instant::now());
    }

    /// The training step started last has ended (its optimizer update is done).
    pub fn end_step(&self) {
        let mut stamps = self.stamps();
        if let Some(started) = stamps.step_started.take() {
            stamps.steps += started.elapsed();
        }
    }

    /// The validation pass starts.
    pub fn start_validation(&self) {
        self.stamps().valid_started = Some(Instant::now());
    }

    /// The validation pass has ended: the epoch is complete.
    pub fn end_validation(&self) {
        let mut stamps = self.stamps();
        let now = Instant::now();
        if let (Some(epoch), Some(valid)) = (stamps.epoch_started, stamps.valid_started) {
            stamps.finished = Some(EpochTimes {
                seconds: now.duration_since(epoch).as_secs_f64(),
                step_seconds: stamps.steps.as_secs_f64(),
                valid_seconds: now.duration_since(valid).as_secs_f64(),
            });
        }
    }

    /// The times of the epoch completed last, once (`None` if none completed since).
    pub fn take_epoch(&self) -> Option<EpochTimes> {
        self.stamps().finished.take()
    }
}

/// An optimizer whose every step ends a training step on the clock (the records, and so the
/// checkpoints, are those of the optimizer inside).
#[derive(Clone)]
pub struct TimedOptimizer<O> {
    inner: O,
    clock: EpochClock,
}

impl<O> TimedOptimizer<O> {
    /// `inner`, stamping `clock`.
    pub fn new(inner: O, clock: EpochClock) -> Self {
        Self { inner, clock }
    }
}

impl<M, B, O> Optimizer<M, B> for TimedOptimizer<O>
where
    M: AutodiffModule<B>,
    B: AutodiffBackend,
    O: Optimizer<M, B>,
{
    type Record = O::Record;

    fn step(&mut self, lr: LearningRate, module: M, grads: GradientsParams) -> M {
        let module = self.inner.step(lr, module, grads);
        self.clock.end_step();
        module
    }

    fn step_multi(&mut self, lr: LearningRate, module: M, grads: MultiGradientsParams) -> M {
        let module = self.inner.step_multi(lr, module, grads);
        self.clock.end_step();
        module
    }

    fn to_record(&self) -> Self::Record {
        self.inner.to_record()
    }

    fn load_record(self, record: Self::Record) -> Self {
        Self {
            inner: self.inner.load_record(record),
            clock: self.clock,
        }
    }
}

/// The validation loader, stamping the clock as its pass starts and as it runs dry.
pub struct TimedLoader<B: Backend, O> {
    inner: Arc<dyn DataLoader<B, O>>,
    clock: EpochClock,
}

impl<B: Backend, O> TimedLoader<B, O> {
    /// `inner`, stamping `clock`.
    pub fn new(inner: Arc<dyn DataLoader<B, O>>, clock: EpochClock) -> Self {
        Self { inner, clock }
    }
}

impl<B: Backend, O: 'static> DataLoader<B, O> for TimedLoader<B, O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        self.clock.start_validation();
        Box::new(TimedIterator {
            inner: self.inner.iter(),
            clock: &self.clock,
        })
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(Self::new(self.inner.to_device(device), self.clock.clone()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(Self::new(self.inner.slice(start, end), self.clock.clone()))
    }
}

struct TimedIterator<'a, O> {
    inner: Box<dyn DataLoaderIterator<O> + 'a>,
    clock: &'a EpochClock,
}

impl<O> Iterator for TimedIterator<'_, O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        let item = self.inner.next();
        if item.is_none() {
            self.clock.end_validation();
        }
        item
    }
}

impl<O> DataLoaderIterator<O> for TimedIterator<'_, O> {
    fn progress(&self) -> Progress {
        self.inner.progress()
    }
}
