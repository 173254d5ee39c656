//! The order of the training images in each epoch as a function of (seed, epoch) alone. Burn's
//! data loader shuffles each epoch with one generator that advances from epoch to epoch, so a
//! run resumed at epoch `e` (a new process, a new loader) would see epoch 1's order again; with
//! [`EpochShuffled`] epoch `e` has the same order whether the run stopped before it or not.

use std::sync::{Arc, RwLock};

use burn::data::dataset::Dataset;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::dataset::{MnistDataset, MnistItem};

/// A seed for epoch `epoch` (0-based) of a run seeded with `seed`, well mixed (SplitMix64), so
/// neighbouring epochs and seeds give unrelated streams.
pub fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The images of a dataset in an order reshuffled for every epoch from (seed, epoch). Clones
/// share the order, so the copy inside a data loader follows [`EpochShuffled::start_epoch`].
#[derive(Clone)]
pub struct EpochShuffled {
    items: MnistDataset,
    seed: u64,
    order: Arc<RwLock<Arc<[u32]>>>,
}

impl EpochShuffled {
    /// `items` in their own order until the first [`EpochShuffled::start_epoch`].
    pub fn new(items: MnistDataset, seed: u64) -> Self {
        let order: Arc<[u32]> = (0..items.len() as u32).collect();
        Self {
            items,
            seed,
            order: Arc::new(RwLock::new(order)),
        }
    }

    /// Puts the images in the order of epoch `epoch` (0-based).
    pub fn start_epoch(&self, epoch: usize) {
        let mut order: Vec<u32> = (0..self.items.len() as u32).collect();
        order.shuffle(&mut StdRng::seed_from_u64(epoch_seed(self.seed, epoch)));
        *self.order.write().expect("epoch order lock") = order.into();
    }
}

impl Dataset<MnistItem> for EpochShuffled {
    fn get(&self, index: usize) -> Option<MnistItem> {
        let position = *self.order.read().expect("epoch order lock").get(index)?;
        self.items.get(position as usize)
    }

    fn len(&self) -> usize {
        self.items.len()
    }
}
