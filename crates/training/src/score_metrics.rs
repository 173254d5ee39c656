//! The loss and accuracy metrics of Burn's `Learner`, fed by [`StepScores`]: a step reports a
//! chunk of batches read back together ([`crate::step_scores`]), or nothing. Each metric's value
//! after a step is the chunk's mean weighted by its images, so the epoch log's weighted mean
//! ([`crate::epoch_log`]) is the mean over the epoch's images; after a step that read nothing it
//! is the last chunk's mean with weight 0 (the dashboard plots it, the epoch log ignores it).

use std::sync::Arc;

use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry, format_float,
};

use crate::step_scores::{ScoreChunk, StepScores};

/// Name of the mean cross-entropy metric (Burn's `LossMetric` has the same).
pub const LOSS: &str = "Loss";
/// Name of the accuracy metric, in percent (as Burn's `AccuracyMetric`).
pub const ACCURACY: &str = "Accuracy";

/// Running means of one metric over an epoch, in chunks.
#[derive(Clone, Debug)]
struct ChunkMeans {
    name: MetricName,
    higher_is_better: bool,
    unit: Option<&'static str>,
    /// The metric's value of a chunk.
    value_of: fn(&ScoreChunk) -> f64,
    sum: f64,
    images: usize,
    /// The last chunk's value and its images (0 when the last step read nothing); the value
    /// outlives the epoch, so the dashboard's curve does not break as one starts.
    current: (f64, usize),
}

impl ChunkMeans {
    fn new(
        name: &str,
        higher_is_better: bool,
        unit: Option<&'static str>,
        value_of: fn(&ScoreChunk) -> f64,
    ) -> Self {
        Self {
            name: Arc::new(name.to_string()),
            higher_is_better,
            unit,
            value_of,
            sum: 0.0,
            images: 0,
            current: (f64::NAN, 0),
        }
    }

    fn update(&mut self, scores: &StepScores) -> SerializedEntry {
        self.current.1 = 0;
        if let StepScores(Some(chunk)) = scores
            && chunk.images > 0
        {
            let value = (self.value_of)(chunk);
            self.sum += value * chunk.images as f64;
            self.images += chunk.images;
            self.current = (value, chunk.images);
        }
        let unit = self.unit.map(|u| format!(" {u}")).unwrap_or_default();
        let running = self.running_value().current();
        SerializedEntry::new(
            format!(
                "epoch {}{unit} - last read {}{unit}",
                format_float(running, 2),
                format_float(self.current.0, 2)
            ),
            self.value().serialize(),
        )
    }

    fn clear(&mut self) {
        self.sum = 0.0;
        self.images = 0;
        self.current.1 = 0;
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.map(str::to_string),
            higher_is_better: self.higher_is_better,
        }
        .into()
    }

    fn value(&self) -> NumericEntry {
        NumericEntry::Aggregated {
            aggregated_value: self.current.0,
            count: self.current.1,
        }
    }

    fn running_value(&self) -> NumericEntry {
        let mean = if self.images > 0 {
            self.sum / self.images as f64
        } else {
            self.current.0
        };
        NumericEntry::Aggregated {
            aggregated_value: mean,
            count: self.images,
        }
    }
}

/// Defines a metric over [`StepScores`] backed by [`ChunkMeans`].
macro_rules! chunk_metric {
    ($(#[$doc:meta])* $metric:ident, $name:expr, $higher_is_better:expr, $unit:expr, $value_of:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $metric(ChunkMeans);

        impl Default for $metric {
            fn default() -> Self {
                Self(ChunkMeans::new($name, $higher_is_better, $unit, $value_of))
            }
        }

        impl Metric for $metric {
            type Input = StepScores;

            fn update(&mut self, scores: &StepScores, _: &MetricMetadata) -> SerializedEntry {
                self.0.update(scores)
            }

            fn clear(&mut self) {
                self.0.clear()
            }

            fn name(&self) -> MetricName {
                self.0.name.clone()
            }

            fn attributes(&self) -> MetricAttributes {
                self.0.attributes()
            }
        }

        impl Numeric for $metric {
            fn value(&self) -> NumericEntry {
                self.0.value()
            }

            fn running_value(&self) -> NumericEntry {
                self.0.running_value()
            }
        }
    };
}

chunk_metric!(
    /// Mean cross-entropy over the images of the epoch so far.
    MeanLoss,
    LOSS,
    false,
    None,
    |chunk| chunk.loss_sum / chunk.images as f64
);

chunk_metric!(
    /// Share of the epoch's images so far classified right, in percent.
    Accuracy,
    ACCURACY,
    true,
    Some("%"),
    |chunk| 100.0 * chunk.correct as f64 / chunk.images as f64
);
