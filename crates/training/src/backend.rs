//! The backend the binaries train on, chosen by Cargo feature: `ndarray` (CPU, default) or
//! `wgpu` (GPU). Everything else is generic over the backend.

use anyhow::Result;
use burn::tensor::backend::AutodiffBackend;
use custom_kernels::{ConvKernels, KernelOps};

use crate::config::TrainConfig;
use crate::report::TrainingReport;
use crate::session::{SessionOptions, run_session};

/// What training needs of a backend: autodiff, and the custom kernels on it and on its inner
/// (inference) backend, whose raw ops also run the fused optimizer.
pub trait TrainingBackendBounds:
    AutodiffBackend<InnerBackend: ConvKernels + KernelOps> + ConvKernels
{
}

impl<B> TrainingBackendBounds for B where
    B: AutodiffBackend<InnerBackend: ConvKernels + KernelOps> + ConvKernels
{
}

/// The autodiff backend of this build.
#[cfg(not(feature = "wgpu"))]
pub type TrainingBackend = burn::backend::Autodiff<burn_ndarray::NdArray>;
/// The autodiff backend of this build.
#[cfg(feature = "wgpu")]
pub type TrainingBackend = burn::backend::Autodiff<burn::backend::Wgpu>;

/// Runs a session on this build's backend and default device.
pub fn run_on_default_backend(
    config: TrainConfig,
    options: &SessionOptions,
) -> Result<TrainingReport> {
    run_session::<TrainingBackend>(Default::default(), config, options)
}
