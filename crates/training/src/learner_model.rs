//! The network wrapped for Burn's `Learner`: cross-entropy loss and classification output.
//! The loss is the project's fused softmax cross-entropy ([`cross_entropy`]), whose exact
//! gradient keeps seeded runs reproducible.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use custom_kernels::{KernelBackend, cross_entropy};
use mnist_data::MnistBatch;
use model::Network;

use crate::epoch_clock::EpochClock;

/// A [`Network`] as Burn's `Learner` trains it: the network, with softmax cross-entropy on its
/// logits as the loss.
#[derive(Module, Debug)]
pub struct LearnerModel<B: KernelBackend> {
    /// The network being trained.
    pub network: Network<B>,
    /// Stamped as each training step starts (not part of the record).
    #[module(skip)]
    pub clock: EpochClock,
}

impl<B: KernelBackend> LearnerModel<B> {
    /// Logits, loss and targets for one batch.
    pub fn forward_classification(&self, batch: MnistBatch<B>) -> ClassificationOutput<B> {
        let logits = self.network.forward(batch.images);
        let loss = cross_entropy(logits.clone(), batch.targets.clone());
        ClassificationOutput {
            loss,
            output: logits,
            targets: batch.targets,
        }
    }
}

impl<B: AutodiffBackend<InnerBackend: KernelBackend> + KernelBackend> TrainStep
    for LearnerModel<B>
{
    type Input = MnistBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        self.clock.start_step();
        let output = self.forward_classification(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: KernelBackend> InferenceStep for LearnerModel<B> {
    type Input = MnistBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> ClassificationOutput<B> {
        self.forward_classification(batch)
    }
}
