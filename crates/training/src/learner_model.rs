//! The network wrapped for Burn's `Learner`: cross-entropy loss and classification output.
//! The loss is the project's fused softmax cross-entropy ([`cross_entropy`]), whose exact
//! gradient keeps seeded runs reproducible.

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};
use custom_kernels::{ConvKernels, cross_entropy};
use mnist_data::MnistBatch;
use model::Network;

/// A [`Network`] as a trainable classifier (softmax cross-entropy on the logits).
#[derive(Module, Debug)]
pub struct Classifier<B: ConvKernels> {
    /// The network being trained.
    pub network: Network<B>,
}

impl<B: ConvKernels> Classifier<B> {
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

impl<B: AutodiffBackend<InnerBackend: ConvKernels> + ConvKernels> TrainStep for Classifier<B> {
    type Input = MnistBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> TrainOutput<ClassificationOutput<B>> {
        let output = self.forward_classification(batch);
        TrainOutput::new(self, output.loss.backward(), output)
    }
}

impl<B: ConvKernels> InferenceStep for Classifier<B> {
    type Input = MnistBatch<B>;
    type Output = ClassificationOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> ClassificationOutput<B> {
        self.forward_classification(batch)
    }
}
