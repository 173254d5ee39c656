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

/// Worker threads that build the data loaders' batches on this build's backend. On the CPU
/// one worker builds the next batch while the model trains on the current one. On wgpu the
/// batches are built on the thread that runs the model: CubeCL (0.10, under Burn 0.21) gives
/// each thread its own stream with its own memory pool, and a batch uploaded on a worker's
/// stream could take memory that a kernel still queued on the training thread's stream had
/// yet to read, so a validation batch was now and then scored on the next batch's images
/// (issue 12: the validation metrics of one seeded run took one of two values).
#[cfg(not(feature = "wgpu"))]
pub const LOADER_WORKERS: usize = 1;
/// Worker threads that build the data loaders' batches on this build's backend (see the
/// ndarray build's documentation: none on wgpu).
#[cfg(feature = "wgpu")]
pub const LOADER_WORKERS: usize = 0;

/// Runs a session on this build's backend and default device.
pub fn run_on_default_backend(
    config: TrainConfig,
    options: &SessionOptions,
) -> Result<TrainingReport> {
    run_session::<TrainingBackend>(Default::default(), config, options)
}
