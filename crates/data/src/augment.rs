//! Training-time augmentations (off by default) and the test-time variants of the test set
//! (translated, noisy) that measure robustness.

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::distort::{Distortion, Elastic, elastic_field};
use crate::set::LabelledImages;
use crate::{IMAGE_PIXELS, IMAGE_SIDE};

/// Which augmentations the training batcher applies to each image, in this order: the
/// distortion (rotation, scaling, elastic, in one resampling about the centre), the shift,
/// then the jitter.
///
/// Fields added after the first release default to off, so a `config.json` saved before them
/// reads as it did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Augmentation {
    /// Random integer translation of up to `±shift` pixels on each axis, zero fill (0 = off).
    pub shift: usize,
    /// Standard deviation of Gaussian noise added to the normalised input, in units of the
    /// normalised input: one unit is one standard deviation of MNIST's pixels, 0.3081 of the
    /// full 0-1 range (78.6 grey levels); unclipped (0 = off).
    pub jitter: f32,
    /// Random rotation by an angle drawn uniformly in `±rotate` degrees (0 = off).
    pub rotate: f32,
    /// Random scaling by a factor drawn uniformly in `1 ± scale` (0 = off).
    pub scale: f32,
    /// Elastic distortion (Simard et al., 2003), a new random field per image (None = off).
    pub elastic: Option<Elastic>,
}

/// The active augmentations in words ("none" when off), e.g. "shift ±3 px, rotate ±10°".
impl std::fmt::Display for Augmentation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.rotate != 0.0 {
            parts.push(format!("rotate ±{}°", self.rotate));
        }
        if self.scale != 0.0 {
            // In tenths of a percent: 0.15 as an f32 times 100 prints 15.000001.
            parts.push(format!("scale ±{}%", (self.scale * 1000.0).round() / 10.0));
        }
        if let Some(elastic) = self.elastic {
            parts.push(format!(
                "elastic (alpha {}, sigma {})",
                elastic.alpha, elastic.sigma
            ));
        }
        if self.shift > 0 {
            parts.push(format!("shift ±{} px", self.shift));
        }
        if self.jitter > 0.0 {
            parts.push(format!("jitter {}", self.jitter));
        }
        if parts.is_empty() {
            write!(f, "none")
        } else {
            write!(f, "{}", parts.join(", "))
        }
    }
}

impl Augmentation {
    /// True when no augmentation is active.
    pub fn is_off(&self) -> bool {
        self.shift == 0 && self.jitter == 0.0 && !self.distorts()
    }

    /// True when rotation, scaling or the elastic distortion is active.
    pub fn distorts(&self) -> bool {
        self.rotate != 0.0 || self.scale != 0.0 || self.elastic.is_some()
    }

    /// The image after the random distortion and shift (not the jitter, which applies to the
    /// normalised input), drawn from `rng`. The draws come in a fixed order, the shift first,
    /// and only for the augmentations that are on: a run that uses none of the later ones
    /// draws, and so augments, exactly as before they existed.
    pub fn transform(&self, pixels: &[u8; IMAGE_PIXELS], rng: &mut impl Rng) -> [u8; IMAGE_PIXELS] {
        let offset = (self.shift > 0).then(|| random_offset(rng, self.shift));
        let mut distorted = *pixels;
        if self.distorts() {
            let mut distortion = Distortion::identity();
            if self.rotate != 0.0 {
                distortion.angle = rng.random_range(-self.rotate..=self.rotate).to_radians();
            }
            if self.scale != 0.0 {
                distortion.scale = rng.random_range(1.0 - self.scale..=1.0 + self.scale);
            }
            if let Some(elastic) = self.elastic {
                distortion.displacement = elastic_field(rng, elastic);
            }
            distorted = distortion.apply(pixels);
        }
        match offset {
            Some((dx, dy)) => translate(&distorted, dx, dy),
            None => distorted,
        }
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

/// `pixels` with Gaussian noise of standard deviation `sigma` added to every pixel on the 0-1
/// scale, clipped to 0-1 and rounded back to grey levels: a noisy scan, still an MNIST image.
pub fn add_pixel_noise(pixels: &[u8], sigma: f32, rng: &mut impl Rng) -> Vec<u8> {
    let noise = Normal::new(0.0f32, sigma).expect("a finite sigma >= 0");
    pixels
        .iter()
        .map(|&p| {
            let value = f32::from(p) / 255.0 + noise.sample(rng);
            (value.clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect()
}

/// A copy of `set` with pixel noise of standard deviation `sigma` (see [`add_pixel_noise`]),
/// drawn from `seed` (the same seed gives the same set). Labels are unchanged.
pub fn noisy_set(set: &LabelledImages, sigma: f32, seed: u64) -> LabelledImages {
    let mut rng = StdRng::seed_from_u64(seed);
    let pixels = add_pixel_noise(set.pixels(), sigma, &mut rng);
    LabelledImages::new(pixels, set.labels().to_vec())
}
