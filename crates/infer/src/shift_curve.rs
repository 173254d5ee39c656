//! The lecture's translation-invariance experiment as numbers: a classifier's accuracy on the
//! same test images moved right by 0, 1, ... [`MAX_CURVE_SHIFT`] pixels (the page draws one
//! curve per model: an MLP's falls faster than a CNN's, and neither stays flat).

use mnist_data::{IMAGE_PIXELS, LabelledImages, translate};
use model::SCORING_BATCH;

use crate::classifier::Classifier;
use custom_kernels::KernelBackend;

/// The largest shift of the curve, pixels (the page's sliders go as far).
pub const MAX_CURVE_SHIFT: usize = 8;

/// Accuracy (%) on the first `count` images of `set` moved right by each shift from 0 to
/// [`MAX_CURVE_SHIFT`] pixels (the ink moved past the border is lost), in order.
///
/// # Panics
/// If `count` is 0 or more than `set` holds.
pub fn shift_curve<B: KernelBackend>(
    classifier: &Classifier<B>,
    set: &LabelledImages,
    count: usize,
) -> Vec<f64> {
    assert!(
        (1..=set.len()).contains(&count),
        "{count} images asked of a set of {}",
        set.len()
    );
    (0..=MAX_CURVE_SHIFT)
        .map(|shift| {
            let mut correct = 0;
            for start in (0..count).step_by(SCORING_BATCH) {
                let end = (start + SCORING_BATCH).min(count);
                let moved: Vec<[u8; IMAGE_PIXELS]> = (start..end)
                    .map(|index| translate(set.image(index), shift as isize, 0))
                    .collect();
                correct += classifier
                    .classify_pixels(&moved)
                    .iter()
                    .zip(start..end)
                    .filter(|(prediction, index)| prediction.digit == set.label(*index))
                    .count();
            }
            100.0 * correct as f64 / count as f64
        })
        .collect()
}
