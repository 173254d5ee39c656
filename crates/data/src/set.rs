//! Labelled image sets in memory: the MNIST training and test sets, or any IDX pair.

use std::path::Path;
use std::sync::Arc;

use crate::error::DataError;
use crate::files::{
    TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS, load_images, load_labels,
};
use crate::idx::{IdxImages, read_images, read_labels};
use crate::{IMAGE_PIXELS, IMAGE_SIDE};

/// Labelled 28x28 images, shared cheaply between datasets (`Arc` inside).
#[derive(Clone, Debug)]
pub struct LabelledImages {
    pixels: Arc<Vec<u8>>,
    labels: Arc<Vec<u8>>,
}

impl LabelledImages {
    /// Wraps pixels (`len * 784` bytes) and labels (`len` digits).
    ///
    /// # Panics
    /// If the lengths disagree; use [`LabelledImages::from_idx`] for untrusted input.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        assert_eq!(
            pixels.len(),
            labels.len() * IMAGE_PIXELS,
            "pixels and labels disagree"
        );
        Self {
            pixels: Arc::new(pixels),
            labels: Arc::new(labels),
        }
    }

    /// Pairs parsed IDX images with labels, checking they are 28x28 and equally many.
    pub fn from_idx(
        images: IdxImages,
        labels: Vec<u8>,
        images_path: &Path,
        labels_path: &Path,
    ) -> Result<Self, DataError> {
        if (images.rows, images.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
            return Err(DataError::BadDimensions {
                path: images_path.to_path_buf(),
                detail: format!(
                    "images are {}x{}, expected {IMAGE_SIDE}x{IMAGE_SIDE}",
                    images.rows, images.cols
                ),
            });
        }
        if images.count != labels.len() {
            return Err(DataError::CountMismatch {
                images: images_path.to_path_buf(),
                labels: labels_path.to_path_buf(),
                image_count: images.count,
                label_count: labels.len(),
            });
        }
        Ok(Self::new(images.pixels, labels))
    }

    /// Reads any IDX image/label pair (raw or `.gz`), without checksum verification.
    pub fn read_idx_pair(images: &Path, labels: &Path) -> Result<Self, DataError> {
        Self::from_idx(read_images(images)?, read_labels(labels)?, images, labels)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no images.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixels of image `index` (row-major, 0 = black background).
    pub fn image(&self, index: usize) -> &[u8] {
        &self.pixels[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// The digit shown by image `index`.
    pub fn label(&self, index: usize) -> u8 {
        self.labels[index]
    }

    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// All pixels, image after image.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }
}

/// The verified MNIST training (60,000) and test (10,000) sets.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The 60,000 training images.
    pub train: LabelledImages,
    /// The 10,000 test images.
    pub test: LabelledImages,
}

impl Mnist {
    /// Loads the four standard files from `dir`, verifying each one's SHA-256.
    pub fn load(dir: &Path) -> Result<Self, DataError> {
        Ok(Self {
            train: Self::load_split(dir, true)?,
            test: Self::load_split(dir, false)?,
        })
    }

    /// Loads only the test set (10,000 images) from `dir`, verified.
    pub fn load_test(dir: &Path) -> Result<LabelledImages, DataError> {
        Self::load_split(dir, false)
    }

    fn load_split(dir: &Path, train: bool) -> Result<LabelledImages, DataError> {
        let (image_file, label_file) = if train {
            (TRAIN_IMAGES, TRAIN_LABELS)
        } else {
            (TEST_IMAGES, TEST_LABELS)
        };
        let images = load_images(dir, image_file)?;
        let labels = load_labels(dir, label_file)?;
        LabelledImages::from_idx(
            images,
            labels,
            &dir.join(image_file.name),
            &dir.join(label_file.name),
        )
    }
}
