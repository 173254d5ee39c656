//! The training data loader, with every random stream of an epoch a function of (seed, epoch):
//! the order of the images ([`EpochShuffled`]), the augmentation of each batch (numbered from
//! the start of the run), and the backend's generator that draws the dropout masks (re-seeded
//! as each epoch starts). A run resumed before epoch `e` therefore trains epoch `e` exactly as
//! an uninterrupted run does: same final weights, byte for byte (tested).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderBuilder, DataLoaderIterator};
use burn::prelude::*;
use mnist_data::{EpochShuffled, MnistBatch, MnistBatcher, MnistDataset, epoch_seed};

use crate::config::TrainConfig;
use crate::epoch_clock::EpochClock;

/// Mixed into an epoch's seed for the backend generator, so dropout does not draw the same
/// numbers as the shuffle.
const DROPOUT_STREAM: u64 = 0xD50F_0D0F_D50F_0D0F;

/// Burn's loader (the backend's [`LoaderWorkers`](crate::backend::LoaderWorkers), no
/// shuffling of its own) over the epoch-ordered
/// images, plus what it takes to start each epoch from (seed, epoch).
pub struct EpochLoader<B: Backend> {
    inner: Arc<dyn DataLoader<B, MnistBatch<B>>>,
    images: EpochShuffled,
    batcher: MnistBatcher,
    batches_per_epoch: u64,
    seed: u64,
    device: B::Device,
    next_epoch: Arc<AtomicUsize>,
    clock: EpochClock,
}

impl<B: Backend> EpochLoader<B> {
    /// The loader of `train` for a run seeded with `seed` whose next epoch is `first_epoch`
    /// (0-based: the number of epochs already trained), stamping `clock` as each epoch starts.
    pub fn new(
        train: MnistDataset,
        config: &TrainConfig,
        seed: u64,
        first_epoch: usize,
        workers: usize,
        device: B::Device,
        clock: EpochClock,
    ) -> Self {
        let batches_per_epoch = train.len().div_ceil(config.batch_size) as u64;
        let images = EpochShuffled::new(train, seed);
        let batcher = MnistBatcher::new(config.augmentation, seed);
        let inner = DataLoaderBuilder::new(batcher.clone())
            .batch_size(config.batch_size)
            .num_workers(workers)
            .set_device(device.clone())
            .build(images.clone());
        Self {
            inner,
            images,
            batcher,
            batches_per_epoch,
            seed,
            device,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            clock,
        }
    }

    /// The same loader around another inner loader (moved or sliced), sharing the epoch count.
    fn with_inner(&self, inner: Arc<dyn DataLoader<B, MnistBatch<B>>>, device: B::Device) -> Self {
        Self {
            inner,
            images: self.images.clone(),
            batcher: self.batcher.clone(),
            batches_per_epoch: self.batches_per_epoch,
            seed: self.seed,
            device,
            next_epoch: self.next_epoch.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<B: Backend> DataLoader<B, MnistBatch<B>> for EpochLoader<B> {
    /// Burn's training loop asks for an iterator once as each epoch starts.
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MnistBatch<B>> + 'a> {
        self.clock.start_epoch();
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        self.images.start_epoch(epoch);
        self.batcher
            .continue_from_batch(epoch as u64 * self.batches_per_epoch);
        B::seed(&self.device, epoch_seed(self.seed, epoch) ^ DROPOUT_STREAM);
        self.inner.iter()
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(self.with_inner(self.inner.to_device(device), device.clone()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(self.with_inner(self.inner.slice(start, end), self.device.clone()))
    }
}
