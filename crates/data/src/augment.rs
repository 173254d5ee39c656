//! Training-time augmentations (off by default) and the translated test set.

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::set::LabelledImages;
use crate::{IMAGE_PIXELS, IMAGE_SIDE};

/// Which augmentations the training batcher applies to each image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Random integer translation of up to `±shift` pixels on each axis, zero fill (0 = off).
    pub shift: usize,
    /// Standard deviation of Gaussian noise added to the normalised input (0 = off).
    pub jitter: f32,
}

impl Augmentation {
    /// True when no augmentation is active.
    pub fn is_off(&self) -> bool {
        self.shift == 0 && self.jitter == 0.0
    }
}

/// Shifts a 28x28 image by `dx` columns (positive = right) and `dy` rows (positive = down),
/// filling the uncovered border with zeros (background).
pub fn translate(pixels: &[u8], dx: isize, dy: isize) -> [u8; IMAGE_PIXELS] {
    let side = IMAGE_SIDE as isize;
    let mut out = [0u8; IMAGE_PIXELS];
    for y in 0..side {
        let source_y = y - dy;
        if !(0..side).contains(&source_y) {
            continue;
        }
        for x in 0..side {
            let source_x = x - dx;
            if (0..side).contains(&source_x) {
                out[(y * side + x) as usize] = pixels[(source_y * side + source_x) as usize];
            }
        }
    }
    out
}

/// Draws an offset in `-max..=max` on each axis.
pub fn random_offset(rng: &mut impl Rng, max: usize) -> (isize, isize) {
    let max = max as i32;
    let mut draw = || rng.random_range(-max..=max) as isize;
    (draw(), draw())
}

/// A copy of `set` with every image shifted by its own random offset of up to `±max_shift`
/// pixels per axis, drawn from `seed` (the same seed gives the same set). Labels are unchanged.
pub fn translated_set(set: &LabelledImages, max_shift: usize, seed: u64) -> LabelledImages {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pixels = Vec::with_capacity(set.pixels().len());
    for index in 0..set.len() {
        let (dx, dy) = random_offset(&mut rng, max_shift);
        pixels.extend_from_slice(&translate(set.image(index), dx, dy));
    }
    LabelledImages::new(pixels, set.labels().to_vec())
}
