//! Turning an arbitrary digit picture into an MNIST-style 28x28 image: transparent parts
//! composited onto a background that contrasts with the strokes, grayscale, white digit on black
//! (inverted if the background is light), the background level subtracted (so a flat or grey
//! picture holds no ink), cropped to the digit, scaled so its longer side is 20 pixels (aspect
//! kept), and centred by its centre of mass in a 28x28 frame.

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, Luma};
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE};

/// Side of the box the digit is scaled into (MNIST: 20).
const DIGIT_BOX: u32 = 20;
/// Side of the output (MNIST: 28).
const SIDE: u32 = IMAGE_SIDE as u32;
/// Pixels at or below this (after inversion) count as background when cropping.
const INK_THRESHOLD: u8 = 30;

/// MNIST-style 28x28 pixels (row-major, 0 = background) from any picture of a digit.
/// Returns `None` when the picture holds no ink at all.
pub fn mnist_pixels(picture: &DynamicImage) -> Option<[u8; IMAGE_PIXELS]> {
    let mut gray = opaque_gray(picture)?;
    if background_level(&gray) > 127 {
        image::imageops::invert(&mut gray);
    }
    let background = background_level(&gray);
    for Luma([v]) in gray.pixels_mut() {
        *v = v.saturating_sub(background);
    }
    let (x0, y0, x1, y1) = ink_bounds(&gray)?;
    let digit = image::imageops::crop_imm(&gray, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = digit.dimensions();
    let scale = DIGIT_BOX as f32 / w.max(h) as f32;
    let (sw, sh) = (
        ((w as f32 * scale).round() as u32).clamp(1, DIGIT_BOX),
        ((h as f32 * scale).round() as u32).clamp(1, DIGIT_BOX),
    );
    let scaled = image::imageops::resize(&digit, sw, sh, FilterType::Triangle);
    // Centre of mass of the scaled digit, then place it so that lands on the frame's centre.
    let (cx, cy) = centre_of_mass(&scaled).unwrap_or((sw as f32 / 2.0, sh as f32 / 2.0));
    let left = (SIDE as f32 / 2.0 - cx).round() as i64;
    let top = (SIDE as f32 / 2.0 - cy).round() as i64;
    let mut frame = GrayImage::new(SIDE, SIDE);
    image::imageops::overlay(&mut frame, &scaled, left, top);
    let mut pixels = [0u8; IMAGE_PIXELS];
    pixels.copy_from_slice(frame.as_raw());
    Some(pixels)
}

/// The picture in grey levels, transparency resolved: transparent parts take the grey that
/// contrasts with the strokes (white behind dark strokes, black behind light ones), as a
/// drawing on a transparent canvas means. `None` when nothing is opaque at all.
fn opaque_gray(picture: &DynamicImage) -> Option<GrayImage> {
    if !picture.color().has_alpha() {
        return Some(picture.to_luma8());
    }
    let la = picture.to_luma_alpha8();
    let (mut ink, mut weight) = (0u64, 0u64);
    for image::LumaA([v, a]) in la.pixels() {
        ink += *v as u64 * *a as u64;
        weight += *a as u64;
    }
    if weight == 0 {
        return None;
    }
    let behind: u32 = if ink / weight < 128 { 255 } else { 0 };
    Some(GrayImage::from_fn(la.width(), la.height(), |x, y| {
        let image::LumaA([v, a]) = *la.get_pixel(x, y);
        let (v, a) = (v as u32, a as u32);
        Luma([((v * a + behind * (255 - a) + 127) / 255) as u8])
    }))
}

/// The grey level of the background: the median of the picture's border.
fn background_level(gray: &GrayImage) -> u8 {
    let (w, h) = gray.dimensions();
    let mut border: Vec<u8> = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x + 1 == w || *y + 1 == h)
        .map(|(_, _, Luma([v]))| *v)
        .collect();
    if border.is_empty() {
        return 0;
    }
    let middle = border.len() / 2;
    *border.select_nth_unstable(middle).1
}

/// Bounding box `(x0, y0, x1, y1)` (inclusive) of the ink.
fn ink_bounds(gray: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    gray.enumerate_pixels()
        .filter(|(_, _, Luma([v]))| *v > INK_THRESHOLD)
        .fold(None, |bounds, (x, y, _)| match bounds {
            None => Some((x, y, x, y)),
            Some((x0, y0, x1, y1)) => Some((x0.min(x), y0.min(y), x1.max(x), y1.max(y))),
        })
}

/// Intensity-weighted centre `(x, y)` of an image, in pixel units.
fn centre_of_mass(gray: &GrayImage) -> Option<(f32, f32)> {
    let (mut total, mut sx, mut sy) = (0f64, 0f64, 0f64);
    for (x, y, Luma([v])) in gray.enumerate_pixels() {
        let v = *v as f64;
        total += v;
        sx += v * (x as f64 + 0.5);
        sy += v * (y as f64 + 0.5);
    }
    (total > 0.0).then(|| ((sx / total) as f32, (sy / total) as f32))
}
