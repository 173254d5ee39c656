//! A network scored on labelled images: the one pass behind every evaluation of the
//! workbench. The training tool's test scores (accuracy and loss) and `infer eval`'s report
//! (confusion matrix, precision, recall, worst mistakes) are both built from its result, so
//! the two agree by construction.

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use burn::tensor::activation::softmax;
use custom_kernels::{KernelBackend, cross_entropy};
use mnist_data::{CLASSES, MnistBatch, MnistBatcher, MnistDataset};

use crate::network::Network;

/// What a network made of every image of a set, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct SetScores {
    /// The softmax probabilities of the ten digits.
    pub probabilities: Vec<[f32; CLASSES]>,
    /// The true digits.
    pub labels: Vec<u8>,
    /// Mean cross-entropy (the loss training minimises); NaN for an empty set.
    pub loss: f64,
}

impl SetScores {
    /// Images scored.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set was empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The most probable digit of each image (the last of equals).
    pub fn predicted(&self) -> impl Iterator<Item = u8> + '_ {
        self.probabilities.iter().map(most_probable)
    }

    /// Images whose most probable digit is the true one.
    pub fn correct(&self) -> usize {
        self.predicted()
            .zip(&self.labels)
            .filter(|(p, t)| p == *t)
            .count()
    }

    /// `100 * correct / images` (0 for an empty set).
    pub fn accuracy(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            100.0 * self.correct() as f64 / self.len() as f64
        }
    }
}

/// The most probable digit of one image's probabilities (the last of equals).
pub fn most_probable(probabilities: &[f32; CLASSES]) -> u8 {
    (0..CLASSES)
        .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
        .unwrap_or(0) as u8
}

/// The softmax probabilities of logits `[n, 10]`, one array per image.
pub fn probabilities<B: Backend>(logits: Tensor<B, 2>) -> Vec<[f32; CLASSES]> {
    softmax(logits, 1)
        .into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("f32 probabilities")
        .chunks_exact(CLASSES)
        .map(|p| {
            let mut image = [0f32; CLASSES];
            image.copy_from_slice(p);
            image
        })
        .collect()
}

/// Scores `network` (in inference mode: no dropout) on every image of `dataset`, `batch_size`
/// images per forward pass (the results do not depend on it).
pub fn score_set<B: KernelBackend>(
    network: &Network<B>,
    dataset: &MnistDataset,
    batch_size: usize,
    device: &B::Device,
) -> SetScores {
    let batcher = MnistBatcher::default();
    let batch_size = batch_size.max(1);
    let mut scores = SetScores {
        probabilities: Vec::with_capacity(dataset.len()),
        labels: Vec::with_capacity(dataset.len()),
        loss: 0.0,
    };
    for start in (0..dataset.len()).step_by(batch_size) {
        let end = (start + batch_size).min(dataset.len());
        let items: Vec<_> = (start..end).filter_map(|i| dataset.get(i)).collect();
        scores.labels.extend(items.iter().map(|item| item.label));
        let batch: MnistBatch<B> = batcher.batch(items, device);
        let logits = network.forward(batch.images);
        let loss = cross_entropy(logits.clone(), batch.targets)
            .into_scalar()
            .elem::<f64>();
        scores.loss += loss * (end - start) as f64;
        scores.probabilities.extend(probabilities(logits));
    }
    scores.loss = if scores.is_empty() {
        f64::NAN
    } else {
        scores.loss / scores.len() as f64
    };
    scores
}
