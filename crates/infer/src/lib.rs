//! Inference with the trained MNIST networks: a library (load a model, classify pictures or
//! MNIST-style pixels, evaluate on labelled IDX files) and the `infer` command line.
//!
//! ```no_run
//! use infer::{Classifier, DefaultBackend};
//!
//! let classifier = Classifier::<DefaultBackend>::load("runs/lenet5")?;
//! let picture = image::open("digit.png")?;
//! let prediction = classifier.classify(&picture)?;
//! println!("{} ({:.1}%)", prediction.digit, 100.0 * prediction.probabilities[prediction.digit as usize]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod classifier;
pub mod evaluation;
pub mod preprocess;

pub use classifier::{Classifier, InferError, Prediction};
pub use evaluation::{EvaluationReport, evaluate};
pub use preprocess::mnist_pixels;

/// The backend of this build: ndarray (CPU), or wgpu with `--features wgpu`.
#[cfg(not(feature = "wgpu"))]
pub type DefaultBackend = burn_ndarray::NdArray;
/// The backend of this build: ndarray (CPU), or wgpu with `--features wgpu`.
#[cfg(feature = "wgpu")]
pub type DefaultBackend = burn::backend::Wgpu;
