//! Inference with the trained MNIST networks: a library (load a model, classify pictures or
//! MNIST-style pixels, evaluate on labelled IDX files) and the `infer` command line.
//!
//! ```
//! use infer::{Classifier, DefaultBackend};
//! use model::{ModelConfig, save_model};
//!
//! # let dir = std::env::temp_dir().join(format!("infer-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! # let config = ModelConfig::new();
//! # save_model(&config.init::<DefaultBackend>(&Default::default()), &config, &dir)?;
//! // `dir` is a training run folder such as `runs/lenet5` (here: an untrained LeNet-5).
//! let classifier = Classifier::<DefaultBackend>::load(&dir)?;
//!
//! // Any picture of a digit: here a dark vertical bar on white, 60x80 pixels.
//! let picture = image::GrayImage::from_fn(60, 80, |x, y| {
//!     let ink = (25..35).contains(&x) && (10..70).contains(&y);
//!     image::Luma([if ink { 0 } else { 255 }])
//! });
//! let prediction = classifier.classify(&image::DynamicImage::ImageLuma8(picture))?;
//! println!("{} ({:.1}%)", prediction.digit, 100.0 * prediction.probabilities[prediction.digit as usize]);
//! assert!(prediction.digit < 10);
//! assert!((prediction.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod args;
pub mod classifier;
pub mod commands;
pub mod convolve;
pub mod evaluation;
pub mod export;
pub mod features;
pub mod import;
pub mod matrix;
pub mod pool;
pub mod preprocess;
pub mod render;
pub mod serve;

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
