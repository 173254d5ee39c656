//! Accuracy and loss of a trained network on a labelled image set.

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use custom_kernels::KernelBackend;
use custom_kernels::ops::cross_entropy;
use mnist_data::{MnistBatch, MnistBatcher, MnistDataset};
use model::{Network, load_model};
use serde::{Deserialize, Serialize};

use crate::backend::BackendChoice;

/// Accuracy (%) and mean cross-entropy of a network on a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Images evaluated.
    pub images: usize,
    /// Correctly classified images.
    pub correct: usize,
    /// `100 * correct / images`.
    pub accuracy: f64,
    /// Mean cross-entropy loss.
    pub loss: f64,
}

/// Evaluates `network` (in inference mode: no dropout) on every image of `dataset`.
pub fn evaluate<B: KernelBackend>(
    network: &Network<B>,
    dataset: &MnistDataset,
    batch_size: usize,
    device: &B::Device,
) -> Evaluation {
    let batcher = MnistBatcher::default();
    let (mut correct, mut loss_sum) = (0usize, 0f64);
    let batch_size = batch_size.max(1);
    for start in (0..dataset.len()).step_by(batch_size) {
        let end = (start + batch_size).min(dataset.len());
        let items = (start..end).filter_map(|i| dataset.get(i)).collect();
        let batch: MnistBatch<B> = batcher.batch(items, device);
        let logits = network.forward(batch.images);
        // The loss training minimises (the project's, whichever kernels the network uses).
        let loss = cross_entropy(logits.clone(), batch.targets.clone())
            .into_scalar()
            .elem::<f64>();
        loss_sum += loss * (end - start) as f64;
        let predicted = logits.argmax(1).reshape([end - start]);
        correct += predicted
            .equal(batch.targets)
            .int()
            .sum()
            .into_scalar()
            .elem::<i64>() as usize;
    }
    let images = dataset.len();
    Evaluation {
        images,
        correct,
        accuracy: if images > 0 {
            100.0 * correct as f64 / images as f64
        } else {
            0.0
        },
        loss: if images > 0 {
            loss_sum / images as f64
        } else {
            f64::NAN
        },
    }
}

/// Loads the model saved in `dir` and evaluates it on `dataset` on `backend`'s default device.
/// (Not generic: the code for both backends is compiled once, here, and not again in every
/// program or test that calls it.)
pub fn evaluate_saved(
    backend: BackendChoice,
    dir: &Path,
    dataset: &MnistDataset,
    batch_size: usize,
) -> anyhow::Result<Evaluation> {
    match backend {
        BackendChoice::Ndarray => {
            let device = Default::default();
            let (network, _) = load_model::<burn_ndarray::NdArray>(dir, &device)?;
            Ok(evaluate(&network, dataset, batch_size, &device))
        }
        BackendChoice::Wgpu => {
            let device = custom_kernels::wgpu_device().map_err(anyhow::Error::msg)?;
            let (network, _) = load_model::<burn::backend::Wgpu>(dir, &device)?;
            Ok(evaluate(&network, dataset, batch_size, &device))
        }
    }
}
