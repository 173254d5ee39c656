//! The backend the binaries train on, chosen by Cargo feature: `ndarray` (CPU, default) or
//! `wgpu` (GPU). Everything else is generic over the backend.

use anyhow::Result;

use crate::config::TrainConfig;
use crate::report::TrainingReport;
use crate::session::{SessionOptions, run_session};

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
