//! Turning items into normalised tensors, with optional augmentation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal};

use crate::augment::Augmentation;
use crate::dataset::MnistItem;
use crate::{IMAGE_PIXELS, IMAGE_SIDE, PIXEL_MEAN, PIXEL_STD};

/// A batch ready for a network.
#[derive(Clone, Debug)]
pub struct MnistBatch<B: Backend> {
    /// Normalised images `[batch, 1, 28, 28]`: `(pixel / 255 - 0.1307) / 0.3081`.
    pub images: Tensor<B, 4>,
    /// Digits `[batch]`.
    pub targets: Tensor<B, 1, Int>,
}

/// Normalises a pixel value the way MNIST models expect.
#[inline]
pub fn normalize_pixel(pixel: u8) -> f32 {
    (pixel as f32 / 255.0 - PIXEL_MEAN) / PIXEL_STD
}

/// Builds [`MnistBatch`]es; applies the configured [`Augmentation`] to every image.
///
/// Random draws are seeded: batch `k` made by a batcher uses a generator seeded from
/// `(seed, k)`, so a run with one data-loader worker is reproducible.
#[derive(Clone, Debug)]
pub struct MnistBatcher {
    augmentation: Augmentation,
    seed: u64,
    batches_made: Arc<AtomicU64>,
}

impl Default for MnistBatcher {
    fn default() -> Self {
        Self::new(Augmentation::default(), 0)
    }
}

impl MnistBatcher {
    /// A batcher applying `augmentation`, its random draws seeded by `seed`.
    pub fn new(augmentation: Augmentation, seed: u64) -> Self {
        Self {
            augmentation,
            seed,
            batches_made: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Numbers the next batch `batch` (counted from the start of the run), so that a resumed
    /// run augments each batch as an uninterrupted one does. Clones share the count.
    pub fn continue_from_batch(&self, batch: u64) {
        self.batches_made.store(batch, Ordering::Relaxed);
    }

    /// Normalised (and, if configured, augmented) pixels of `items`, image after image.
    pub fn normalized_pixels(&self, items: &[MnistItem]) -> Vec<f32> {
        let mut out = Vec::with_capacity(items.len() * IMAGE_PIXELS);
        if self.augmentation.is_off() {
            for item in items {
                out.extend(item.pixels.iter().map(|&p| normalize_pixel(p)));
            }
            return out;
        }
        let batch_number = self.batches_made.fetch_add(1, Ordering::Relaxed);
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ batch_number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let noise = Normal::new(0.0f32, self.augmentation.jitter.max(0.0)).expect("finite sigma");
        for item in items {
            let pixels = self.augmentation.transform(&item.pixels, &mut rng);
            if self.augmentation.jitter > 0.0 {
                out.extend(
                    pixels
                        .iter()
                        .map(|&p| normalize_pixel(p) + noise.sample(&mut rng)),
                );
            } else {
                out.extend(pixels.iter().map(|&p| normalize_pixel(p)));
            }
        }
        out
    }
}

impl<B: Backend> Batcher<B, MnistItem, MnistBatch<B>> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &B::Device) -> MnistBatch<B> {
        let count = items.len();
        let pixels = self.normalized_pixels(&items);
        let labels: Vec<i64> = items.iter().map(|item| item.label as i64).collect();
        let images = Tensor::from_data(
            TensorData::new(pixels, [count, 1, IMAGE_SIDE, IMAGE_SIDE]),
            device,
        );
        let targets = Tensor::from_data(TensorData::new(labels, [count]), device);
        MnistBatch { images, targets }
    }
}
