//! Burn [`Dataset`] views of labelled images, and the seeded train/validation split.

use std::sync::Arc;

use burn::data::dataset::Dataset;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::IMAGE_PIXELS;
use crate::set::LabelledImages;

/// One image and its label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistItem {
    /// 28x28 pixels, row-major, 0 = black background.
    pub pixels: [u8; IMAGE_PIXELS],
    /// The digit, 0-9.
    pub label: u8,
}

/// A selection of images from a [`LabelledImages`] set (no pixel is copied).
#[derive(Clone, Debug)]
pub struct MnistDataset {
    set: LabelledImages,
    indices: Arc<Vec<u32>>,
}

impl MnistDataset {
    /// Every image of `set`, in order.
    pub fn all(set: LabelledImages) -> Self {
        let indices = (0..set.len() as u32).collect();
        Self::select(set, indices)
    }

    /// The images of `set` at `indices`, in that order.
    pub fn select(set: LabelledImages, indices: Vec<u32>) -> Self {
        Self {
            set,
            indices: Arc::new(indices),
        }
    }

    /// The first `limit` images of this dataset (all of them if `limit` is larger).
    pub fn take(&self, limit: usize) -> Self {
        let indices = self.indices.iter().copied().take(limit).collect();
        Self::select(self.set.clone(), indices)
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// True when the dataset holds no image.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The labels of this dataset, in order.
    pub fn labels(&self) -> Vec<u8> {
        self.indices
            .iter()
            .map(|&i| self.set.label(i as usize))
            .collect()
    }
}

impl Dataset<MnistItem> for MnistDataset {
    fn get(&self, index: usize) -> Option<MnistItem> {
        let source = *self.indices.get(index)? as usize;
        let mut pixels = [0u8; IMAGE_PIXELS];
        pixels.copy_from_slice(self.set.image(source));
        Some(MnistItem {
            pixels,
            label: self.set.label(source),
        })
    }

    fn len(&self) -> usize {
        self.indices.len()
    }
}

/// Splits `set` into training and validation datasets: a permutation drawn from `seed`,
/// the first `valid_size` images of it for validation, the rest for training.
/// The same seed always gives the same split.
pub fn train_valid_split(
    set: &LabelledImages,
    valid_size: usize,
    seed: u64,
) -> (MnistDataset, MnistDataset) {
    let mut order: Vec<u32> = (0..set.len() as u32).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let valid_size = valid_size.min(order.len());
    let train = order.split_off(valid_size);
    (
        MnistDataset::select(set.clone(), train),
        MnistDataset::select(set.clone(), order),
    )
}
