//! Accuracy and loss of a trained network on a labelled image set: the summary the training
//! report keeps of [`model::score_set`].

use std::path::Path;

use custom_kernels::KernelBackend;
use mnist_data::MnistDataset;
use model::{Network, SetScores, load_model, score_set};
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
    Evaluation::from(&score_set(network, dataset, batch_size, device))
}

impl From<&SetScores> for Evaluation {
    fn from(scores: &SetScores) -> Self {
        Self {
            images: scores.len(),
            correct: scores.correct(),
            accuracy: scores.accuracy(),
            loss: scores.loss,
        }
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
        #[cfg(feature = "cuda")]
        BackendChoice::Cuda => {
            let device = custom_kernels::cuda_device().map_err(anyhow::Error::msg)?;
            let (network, _) = load_model::<burn::backend::Cuda>(dir, &device)?;
            Ok(evaluate(&network, dataset, batch_size, &device))
        }
        #[cfg(not(feature = "cuda"))]
        BackendChoice::Cuda => Err(anyhow::anyhow!(custom_kernels::CUDA_NOT_BUILT)),
    }
}
