//! The backends training runs on: ndarray (CPU) and wgpu (GPU), both always built and chosen
//! at run time (`--backend`); everything else is generic over the backend. A leaf module: the
//! bounds a backend must meet, what differs between the two, and the run-time choice.

use burn::backend::{Autodiff, Wgpu};
use burn::tensor::backend::AutodiffBackend;
use burn_ndarray::NdArray;
pub use custom_kernels::BackendChoice;
use custom_kernels::{KernelBackend, RawKernels};

/// What training needs of a backend: autodiff, and the custom kernels on it and on its inner
/// (inference) backend, whose raw ops also run the fused optimizer.
pub trait TrainingBackendBounds:
    AutodiffBackend<InnerBackend: KernelBackend + RawKernels + LoaderWorkers + ScoreReads>
    + KernelBackend
{
}

impl<B> TrainingBackendBounds for B where
    B: AutodiffBackend<InnerBackend: KernelBackend + RawKernels + LoaderWorkers + ScoreReads>
        + KernelBackend
{
}

/// Worker threads that build the data loaders' batches on a backend.
pub trait LoaderWorkers {
    /// The number of workers (0: batches are built on the thread that runs the model).
    const LOADER_WORKERS: usize;
}

/// On the CPU one worker builds the next batch while the model trains on the current one.
impl LoaderWorkers for NdArray {
    const LOADER_WORKERS: usize = 1;
}

/// On wgpu the batches are built on the thread that runs the model: CubeCL (0.10, under
/// Burn 0.21) gives each thread its own stream with its own memory pool, and a batch uploaded
/// on a worker's stream could take memory that a kernel still queued on the training thread's
/// stream had yet to read, so a validation batch was now and then scored on the next batch's
/// images (the validation metrics of one seeded run took one of two values).
impl LoaderWorkers for Wgpu {
    const LOADER_WORKERS: usize = 0;
}

/// On CUDA as on wgpu (the same CubeCL runtime and its per-thread streams).
#[cfg(feature = "cuda")]
impl LoaderWorkers for burn::backend::Cuda {
    const LOADER_WORKERS: usize = 0;
}

/// How often a run reads its batches' scores (loss, right answers) back from the device
/// ([`crate::step_scores`]): the metrics and the dashboard move as often.
pub trait ScoreReads {
    /// Batches read back together, at most.
    const READ_EVERY: usize;
}

/// On the CPU a read copies a few kilobytes the CPU already holds: every 8 batches, so that the
/// dashboard's curves move smoothly.
impl ScoreReads for NdArray {
    const READ_EVERY: usize = 8;
}

/// On a GPU each read waits for the queue to drain: every 128 batches (issue 37's goal is at
/// most one read per 50 steps).
impl ScoreReads for Wgpu {
    const READ_EVERY: usize = 128;
}

/// On CUDA as on wgpu.
#[cfg(feature = "cuda")]
impl ScoreReads for burn::backend::Cuda {
    const READ_EVERY: usize = 128;
}

/// The autodiff backend `--backend ndarray` trains on.
pub type NdarrayTraining = Autodiff<NdArray>;
/// The autodiff backend `--backend wgpu` trains on.
pub type WgpuTraining = Autodiff<Wgpu>;
/// The autodiff backend `--backend cuda` trains on (a build with the `cuda` feature).
#[cfg(feature = "cuda")]
pub type CudaTraining = Autodiff<burn::backend::Cuda>;

/// The `--backend` of `cargo run -p training`: ndarray, or wgpu in a build with the `wgpu`
/// feature (`cargo run -p training --features wgpu`).
pub fn default_backend() -> BackendChoice {
    if cfg!(feature = "wgpu") {
        BackendChoice::Wgpu
    } else {
        BackendChoice::Ndarray
    }
}
