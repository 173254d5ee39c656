//! MNIST for the workbench: a validating IDX reader (raw or gzip) that checks the published
//! SHA-256 of the four standard files, a Burn [`Dataset`](burn::data::dataset::Dataset) and
//! batcher producing normalised tensors, a seeded train/validation split, training
//! augmentations (shift, rotation, scaling, elastic distortion, jitter), and translated and
//! noisy test sets for measuring robustness.
//!
//! ```
//! use mnist_data::{Mnist, resolve_data_dir};
//! let mnist = Mnist::load(&resolve_data_dir(None)).expect("bundled MNIST");
//! assert_eq!((mnist.train.len(), mnist.test.len()), (60_000, 10_000));
//! assert_eq!(mnist.test.label(0), 7);
//! ```

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod distort;
pub mod epoch_order;
pub mod error;
pub mod files;
pub mod idx;
pub mod set;

pub use augment::{Augmentation, add_pixel_noise, noisy_set, translate, translated_set};
pub use batcher::{MnistBatch, MnistBatcher, normalize_pixel};
pub use dataset::{MnistDataset, MnistItem, train_valid_split};
pub use distort::{Distortion, Elastic};
pub use epoch_order::{EpochShuffled, epoch_seed};
pub use error::DataError;
pub use files::{MNIST_DIR_ENV, bundled_data_dir, resolve_data_dir};
pub use idx::{IdxImages, read_images, read_labels};
pub use set::{LabelledImages, Mnist};

/// Side of an MNIST image.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per MNIST image.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Classes of MNIST: the digits 0-9.
pub const CLASSES: usize = 10;
/// Mean of the training pixels (scaled to 0-1).
pub const PIXEL_MEAN: f32 = 0.1307;
/// Standard deviation of the training pixels (scaled to 0-1).
pub const PIXEL_STD: f32 = 0.3081;
