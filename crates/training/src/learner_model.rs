//! The network wrapped for Burn's `Learner`: cross-entropy loss, and the batch's scores kept
//! on the device until they are due ([`crate::step_scores`]). The loss is the project's fused
//! softmax cross-entropy ([`cross_entropy`]), whose exact gradient keeps seeded runs
//! reproducible.

use burn::module::AutodiffModule;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use custom_kernels::{KernelBackend, cross_entropy};
use mnist_data::MnistBatch;
use model::Network;

use crate::epoch_clock::EpochClock;
use crate::step_scores::{ScoreBook, StepScores};
use crate::watch::Snapshots;

/// A [`Network`] as Burn's `Learner` trains it: the network, with softmax cross-entropy on its
/// logits as the loss.
#[derive(Module, Debug)]
pub struct LearnerModel<B: KernelBackend> {
    /// The network being trained.
    pub network: Network<B>,
    /// Stamped as each training step starts (not part of the record).
    #[module(skip)]
    pub clock: EpochClock,
    /// The training batches' scores (not part of the record).
    #[module(skip)]
    pub train_scores: ScoreBook,
    /// The validation batches' scores (not part of the record).
    #[module(skip)]
    pub valid_scores: ScoreBook,
    /// A watched run's snapshots of the weights (not part of the record).
    #[module(skip)]
    pub snapshots: Option<Snapshots>,
}

impl<B: KernelBackend> LearnerModel<B> {
    /// `network`, stamping `clock`, with empty score books reading their batches back every
    /// `read_every`.
    pub fn new(network: Network<B>, clock: EpochClock, read_every: usize) -> Self {
        Self {
            network,
            clock,
            train_scores: ScoreBook::new(read_every),
            valid_scores: ScoreBook::new(read_every),
            snapshots: None,
        }
    }

    /// The same, sending snapshots of its weights as they fall due.
    pub fn with_snapshots(mut self, snapshots: Option<Snapshots>) -> Self {
        self.snapshots = snapshots;
        self
    }

    /// Logits `[batch, 10]` and mean loss `[1]` of one batch.
    fn logits_and_loss(&self, batch: &MnistBatch<B>) -> (Tensor<B, 2>, Tensor<B, 1>) {
        let logits = self.network.forward(batch.images.clone());
        let loss = cross_entropy(logits.clone(), batch.targets.clone());
        (logits, loss)
    }
}

impl<B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend> TrainStep
    for LearnerModel<B>
{
    type Input = MnistBatch<B>;
    type Output = StepScores;

    fn step(&self, batch: MnistBatch<B>) -> TrainOutput<StepScores> {
        self.clock.start_step();
        if let Some(snapshots) = &self.snapshots {
            snapshots.maybe_send(|| model::persist::network_to_bytes(&self.network.valid()).ok());
        }
        let (logits, loss) = self.logits_and_loss(&batch);
        let grads = loss.backward();
        let scores = self
            .train_scores
            .record(loss.inner(), logits.inner(), batch.targets.inner());
        TrainOutput::new(self, grads, scores)
    }
}

impl<B: KernelBackend> InferenceStep for LearnerModel<B> {
    type Input = MnistBatch<B>;
    type Output = StepScores;

    fn step(&self, batch: MnistBatch<B>) -> StepScores {
        let (logits, loss) = self.logits_and_loss(&batch);
        self.valid_scores.record(loss, logits, batch.targets)
    }
}
