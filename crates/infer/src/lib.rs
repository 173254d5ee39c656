//! Inference with the trained MNIST networks: a library (load a model, classify pictures or
//! MNIST-style pixels, evaluate on labelled IDX files) and the `infer` command line.
//!
//! The library is generic over the backend and compiles none of its own; the `infer` program
//! (`src/bin/infer/`) is where one is chosen, [`DefaultBackend`].
//!
//! The example below is `tests/infer/library_example.rs`, which the workspace's tests run (it
//! is not compiled a second time as a doc test):
//!
#![doc = concat!("```rust,ignore\n", include_str!("../../../tests/infer/library_example.rs"), "```")]

pub mod classifier;
pub mod convolve;
pub mod evaluation;
pub mod export;
pub mod features;
pub mod import;
pub mod inside_pixel;
pub mod matrix;
pub mod pickle;
pub mod picture;
pub mod pool;
pub mod preprocess;
pub mod render;
pub mod saliency;
pub mod shift_curve;
pub mod state_dict;

pub use classifier::{Classifier, InferError, Prediction, read_digit};
pub use evaluation::{EvaluationReport, evaluate};
pub use export::export_safetensors;
pub use import::{ImportError, import_pytorch, saved_config};
pub use preprocess::mnist_pixels;

/// The backend of this build: ndarray (CPU), or wgpu with `--features wgpu`.
#[cfg(not(feature = "wgpu"))]
pub type DefaultBackend = burn_ndarray::NdArray;
/// The backend of this build: ndarray (CPU), or wgpu with `--features wgpu`.
#[cfg(feature = "wgpu")]
pub type DefaultBackend = burn::backend::Wgpu;
