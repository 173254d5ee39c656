//! Geometric distortions of a 28x28 image: rotation, scaling and Simard et al.'s (2003) elastic
//! distortion, applied together in one bilinear resampling.
//!
//! Every output pixel reads the input at a source point: the output point turned back about
//! the image centre by the rotation, scaled back by the scale factor, then moved by the
//! elastic displacement field at that output pixel. The input is sampled bilinearly, zero
//! (background) outside the image, and rounded back to whole grey levels: a distorted image is
//! an ordinary MNIST image, as a scanned one would be.

use rand::{Rng, RngExt};

use crate::{IMAGE_PIXELS, IMAGE_SIDE};

/// Simard et al.'s elastic distortion: a random displacement field, each component drawn
/// uniformly in [-1, 1] per pixel, smoothed by a (normalised) Gaussian of standard deviation
/// `sigma` pixels and scaled by `alpha` pixels. Small `sigma` gives a random jiggle; large
/// `sigma` a smooth, weaker one (the smoothing averages more draws), tending to a small rigid
/// shift. Simard et al. used sigma 4 and alpha 34 on MNIST.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Elastic {
    /// Strength: the smoothed field is multiplied by this, in pixels.
    pub alpha: f32,
    /// Smoothness: standard deviation of the Gaussian smoothing the field, in pixels.
    pub sigma: f32,
}

/// Kernel radius of the Gaussian smoothing, in standard deviations (beyond 3 sigma its weights
/// are under 1.1% of the centre's).
const GAUSSIAN_RADIUS_SIGMAS: f32 = 3.0;

/// The centre of the image, about which rotation and scaling turn (pixel centres are at
/// whole coordinates: the centre of 0..=27 is 13.5).
const CENTRE: f32 = (IMAGE_SIDE as f32 - 1.0) / 2.0;

/// One draw of a distortion: where every output pixel reads the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Distortion {
    /// Rotation, radians (positive turns the digit clockwise on screen, where y points down).
    pub angle: f32,
    /// Scale factor (above 1 enlarges the digit).
    pub scale: f32,
    /// Elastic displacement of the source point at every output pixel, `(dx, dy)` in pixels,
    /// row-major; empty for none.
    pub displacement: Vec<(f32, f32)>,
}

impl Distortion {
    /// No change.
    pub fn identity() -> Self {
        Self {
            angle: 0.0,
            scale: 1.0,
            displacement: Vec::new(),
        }
    }

    /// `pixels` (28x28, row-major) distorted.
    pub fn apply(&self, pixels: &[u8]) -> [u8; IMAGE_PIXELS] {
        assert_eq!(pixels.len(), IMAGE_PIXELS, "a 28x28 image");
        assert!(
            self.displacement.is_empty() || self.displacement.len() == IMAGE_PIXELS,
            "one displacement per pixel, or none"
        );
        // Output pixel (x, y) reads the input at the inverse of "rotate by angle, then scale"
        // (rotate back, divide), plus the elastic displacement.
        let (sin, cos) = self.angle.sin_cos();
        let (sin, cos) = (sin / self.scale, cos / self.scale);
        let mut out = [0u8; IMAGE_PIXELS];
        for y in 0..IMAGE_SIDE {
            let v = y as f32 - CENTRE;
            for x in 0..IMAGE_SIDE {
                let u = x as f32 - CENTRE;
                let (dx, dy) = self
                    .displacement
                    .get(y * IMAGE_SIDE + x)
                    .copied()
                    .unwrap_or((0.0, 0.0));
                let sx = CENTRE + cos * u + sin * v + dx;
                let sy = CENTRE - sin * u + cos * v + dy;
                out[y * IMAGE_SIDE + x] = bilinear(pixels, sx, sy).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

/// The image at the real point `(x, y)`: the four neighbouring pixels weighted by nearness,
/// zero outside the image.
fn bilinear(pixels: &[u8], x: f32, y: f32) -> f32 {
    let side = IMAGE_SIDE as isize;
    // Beyond a pixel outside (or not a number): background, before any integer conversion.
    let reach = -1.0..IMAGE_SIDE as f32;
    if !(reach.contains(&x) && reach.contains(&y)) {
        return 0.0;
    }
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as isize, y0 as isize);
    let at = |xi: isize, yi: isize| -> f32 {
        if (0..side).contains(&xi) && (0..side).contains(&yi) {
            f32::from(pixels[(yi * side + xi) as usize])
        } else {
            0.0
        }
    };
    let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
    let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Draws an elastic displacement field (row-major `(dx, dy)` per pixel).
pub fn elastic_field(rng: &mut impl Rng, elastic: Elastic) -> Vec<(f32, f32)> {
    let mut draw = || -> Vec<f32> {
        (0..IMAGE_PIXELS)
            .map(|_| rng.random_range(-1.0f32..=1.0))
            .collect()
    };
    let (dx, dy) = (draw(), draw());
    let kernel = gaussian_kernel(elastic.sigma);
    let (dx, dy) = (smooth(&dx, &kernel), smooth(&dy, &kernel));
    dx.iter()
        .zip(&dy)
        .map(|(&x, &y)| (elastic.alpha * x, elastic.alpha * y))
        .collect()
}

/// A normalised 1-D Gaussian of standard deviation `sigma`, radius 3 sigma (at least 1 tap).
fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (GAUSSIAN_RADIUS_SIGMAS * sigma).ceil().max(0.0) as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| {
            if sigma > 0.0 {
                (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()
            } else {
                1.0
            }
        })
        .collect();
    let total: f32 = weights.iter().sum();
    weights.iter().map(|w| w / total).collect()
}

/// A 28x28 field smoothed by the separable `kernel`, zero beyond the border. (Each pass adds
/// one tap at a time over a whole row, a loop the compiler vectorises: the elastic
/// distortion is the costliest augmentation, run for every training image.)
fn smooth(field: &[f32], kernel: &[f32]) -> Vec<f32> {
    let side = IMAGE_SIDE as isize;
    let radius = (kernel.len() / 2) as isize;
    // Along the rows: out[x] += w[k] * in[x + k - radius] where that is inside the row.
    let mut rows = vec![0.0f32; IMAGE_PIXELS];
    for (input, output) in field
        .chunks_exact(IMAGE_SIDE)
        .zip(rows.chunks_exact_mut(IMAGE_SIDE))
    {
        for (k, &weight) in kernel.iter().enumerate() {
            let offset = k as isize - radius;
            let (first, end) = (0.max(-offset), side.min(side - offset));
            if first >= end {
                continue;
            }
            let sources = &input[(first + offset) as usize..(end + offset) as usize];
            for (out, &value) in output[first as usize..end as usize].iter_mut().zip(sources) {
                *out += weight * value;
            }
        }
    }
    // Along the columns: row y gets w[k] times row y + k - radius.
    let mut out = vec![0.0f32; IMAGE_PIXELS];
    for (y, output) in out.chunks_exact_mut(IMAGE_SIDE).enumerate() {
        for (k, &weight) in kernel.iter().enumerate() {
            let source = y as isize + k as isize - radius;
            if !(0..side).contains(&source) {
                continue;
            }
            let start = source as usize * IMAGE_SIDE;
            for (out, &value) in output.iter_mut().zip(&rows[start..start + IMAGE_SIDE]) {
                *out += weight * value;
            }
        }
    }
    out
}
