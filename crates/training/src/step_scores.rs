//! The loss and accuracy of the training and validation batches, kept on the device and read
//! back in chunks. Burn's `ClassificationOutput` reads every batch's logits, loss and targets
//! back to the host as the step ends: on a GPU, one queue-draining read per step. Here the step
//! keeps its batch's tensors on the device (no kernel launched), and every few batches (the
//! backend's [`ScoreReads`](crate::backend::ScoreReads): 128 on a GPU), at the epoch's last
//! batch and on a book's first batch, reads them all in one
//! transaction (one wait for the device, no kernel), on the training thread: the thread whose stream made them (a read or an
//! operation on another thread's CubeCL stream races with it: docs/development.md). The host
//! then sums the loss and counts the right answers; the metrics ([`crate::score_metrics`]) see
//! one chunk of batches per read.

use std::any::Any;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::prelude::*;
use burn::tensor::Transaction;
use burn::train::ItemLazy;
use burn::train::metric::Adaptor;

use crate::stop::StopFlag;

/// The scores of a chunk of batches, read back to the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreChunk {
    /// Images in the chunk.
    pub images: usize,
    /// Sum over the chunk's images of their cross-entropy (a batch's mean loss times its size).
    pub loss_sum: f64,
    /// Images classified right (the highest logit, the first of equal ones, is the target).
    pub correct: usize,
}

/// What a training or validation step hands Burn's `Learner`: the scores of the chunk that ends
/// with this step's batch, or nothing while the chunk is still on the device.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepScores(pub Option<ScoreChunk>);

impl ItemLazy for StepScores {
    type ItemSync = StepScores;

    /// Nothing to read: the step read what it had to.
    fn sync(self) -> StepScores {
        self
    }
}

impl Adaptor<StepScores> for StepScores {
    fn adapt(&self) -> StepScores {
        *self
    }
}

/// One split's batches since the last read, and whether the loader has handed out the epoch's
/// last batch. Shared by the network (which records) and the split's loader (which marks the
/// last batch); clones share it.
#[derive(Clone)]
pub struct ScoreBook(Arc<Mutex<Book>>);

struct Book {
    /// Batches read back together, at most.
    read_every: usize,
    /// The [`DeviceBatches`] of the one backend this book records (type-erased: the network's
    /// skipped fields are the same type for the autodiff backend and its inner one).
    batches: Option<Box<dyn Any + Send>>,
    /// The batch handed out last is the epoch's last.
    last_batch: bool,
    /// A chunk has been read (the first batch is read alone, so the dashboard has a value).
    read_once: bool,
}

/// Batches kept on the device: each one's mean loss `[1]`, logits `[n, 10]` and targets `[n]`.
struct DeviceBatches<B: Backend> {
    losses: Vec<Tensor<B, 1>>,
    logits: Vec<Tensor<B, 2>>,
    targets: Vec<Tensor<B, 1, Int>>,
}

impl<B: Backend> Default for DeviceBatches<B> {
    fn default() -> Self {
        Self {
            losses: Vec::new(),
            logits: Vec::new(),
            targets: Vec::new(),
        }
    }
}

impl fmt::Debug for ScoreBook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScoreBook")
    }
}

impl ScoreBook {
    /// An empty book reading its batches back every `read_every` (at least 1).
    pub fn new(read_every: usize) -> Self {
        Self(Arc::new(Mutex::new(Book {
            read_every: read_every.max(1),
            batches: None,
            last_batch: false,
            read_once: false,
        })))
    }

    fn book(&self) -> MutexGuard<'_, Book> {
        // The book stays consistent whatever a panicking holder did: a read takes the batches
        // out before it starts.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The loader has handed out the epoch's last batch: the step that takes it reads.
    pub fn mark_last_batch(&self) {
        self.book().last_batch = true;
    }

    /// Keeps one batch's mean `loss` `[1]`, `logits` `[n, classes]` and `targets` `[n]`, and
    /// reads the chunk back when it is due. Call on the thread that computed them.
    pub fn record<B: Backend>(
        &self,
        loss: Tensor<B, 1>,
        logits: Tensor<B, 2>,
        targets: Tensor<B, 1, Int>,
    ) -> StepScores {
        let mut book = self.book();
        let batches = book
            .batches
            .get_or_insert_with(|| Box::new(DeviceBatches::<B>::default()))
            .downcast_mut::<DeviceBatches<B>>()
            .expect("a score book records the batches of one backend");
        batches.losses.push(loss);
        batches.logits.push(logits);
        batches.targets.push(targets);
        let kept = batches.losses.len();
        if kept < book.read_every && !book.last_batch && book.read_once {
            return StepScores(None);
        }
        book.last_batch = false;
        book.read_once = true;
        let batches = book.batches.take().and_then(|b| b.downcast().ok());
        drop(book);
        StepScores(batches.map(|batches: Box<DeviceBatches<B>>| read_chunk(*batches)))
    }
}

/// Reads `batches` back in one transaction (one synchronisation, no kernel launched) and scores
/// them on the host.
fn read_chunk<B: Backend>(batches: DeviceBatches<B>) -> ScoreChunk {
    let count = batches.losses.len();
    let mut transaction = Transaction::default();
    for ((loss, logits), targets) in batches
        .losses
        .into_iter()
        .zip(batches.logits)
        .zip(batches.targets)
    {
        transaction = transaction
            .register(loss)
            .register(logits)
            .register(targets);
    }
    let data = transaction.execute();
    assert_eq!(
        data.len(),
        3 * count,
        "a transaction answers each tensor it registers"
    );
    let mut chunk = ScoreChunk {
        images: 0,
        loss_sum: 0.0,
        correct: 0,
    };
    for batch in data.chunks(3) {
        let [loss, logits, targets] = batch else {
            unreachable!("chunks of three")
        };
        let images = targets.shape.iter().product::<usize>();
        let classes = logits.shape.last().copied().unwrap_or(1).max(1);
        let logits: Vec<f32> = logits.iter::<f32>().collect();
        chunk.correct += logits
            .chunks(classes)
            .zip(targets.iter::<i64>())
            .filter(|(row, target)| first_max(row) as i64 == *target)
            .count();
        chunk.loss_sum += loss.iter::<f64>().next().unwrap_or(f64::NAN) * images as f64;
        chunk.images += images;
    }
    chunk
}

/// The index of the largest value, the first of equal ones (as Burn's `argmax`).
fn first_max(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, &value) in row.iter().enumerate() {
        if value > row[best] {
            best = i;
        }
    }
    best
}

/// A split's loader, marking its [`ScoreBook`] as it hands out an epoch's last batch (the one
/// after which its progress is complete).
pub struct ScoredLoader<B: Backend, O> {
    inner: Arc<dyn DataLoader<B, O>>,
    book: ScoreBook,
    stop: Option<StopFlag>,
}

impl<B: Backend, O> ScoredLoader<B, O> {
    /// `inner`, marking `book`.
    pub fn new(inner: Arc<dyn DataLoader<B, O>>, book: ScoreBook) -> Self {
        Self {
            inner,
            book,
            stop: None,
        }
    }

    /// Once `stop` is set, the batch handed out next is the epoch's last (a watched run's
    /// stop: [`crate::watch`]).
    pub fn stopped_by(mut self, stop: Option<StopFlag>) -> Self {
        self.stop = stop;
        self
    }
}

impl<B: Backend, O: 'static> DataLoader<B, O> for ScoredLoader<B, O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        Box::new(ScoredIterator {
            inner: self.inner.iter(),
            book: &self.book,
            stop: self.stop.as_ref(),
            stopped: false,
        })
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(
            Self::new(self.inner.to_device(device), self.book.clone())
                .stopped_by(self.stop.clone()),
        )
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(
            Self::new(self.inner.slice(start, end), self.book.clone())
                .stopped_by(self.stop.clone()),
        )
    }
}

struct ScoredIterator<'a, O> {
    inner: Box<dyn DataLoaderIterator<O> + 'a>,
    book: &'a ScoreBook,
    stop: Option<&'a StopFlag>,
    /// The stop was seen: the last batch is out.
    stopped: bool,
}

impl<O> Iterator for ScoredIterator<'_, O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        if self.stopped {
            return None;
        }
        let item = self.inner.next()?;
        let Progress {
            items_processed,
            items_total,
        } = self.inner.progress();
        self.stopped = self.stop.is_some_and(StopFlag::is_set);
        if items_processed >= items_total || self.stopped {
            self.book.mark_last_batch();
        }
        Some(item)
    }
}

impl<O> DataLoaderIterator<O> for ScoredIterator<'_, O> {
    fn progress(&self) -> Progress {
        self.inner.progress()
    }
}
