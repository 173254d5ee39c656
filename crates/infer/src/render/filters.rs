//! The learned first-layer kernels and the feature maps of one input after each conv layer.

use std::path::Path;

use mnist_data::IMAGE_SIDE;

use super::canvas::{Canvas, RenderError, diverging, grey};

const MARGIN: u32 = 12;
const HEADING: u32 = 26;
const GAP: u32 = 6;
const PER_ROW: usize = 16;

/// The output of one layer for one image: `channels` maps of `height x width` values.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FeatureMaps {
    /// Layer name and description, e.g. `conv1: conv 5x5/1 pad 2, 6 filters + ReLU`.
    pub title: String,
    /// Number of maps.
    pub channels: usize,
    /// Rows per map.
    pub height: usize,
    /// Columns per map.
    pub width: usize,
    /// `channels * height * width` values, map after map.
    pub values: Vec<f32>,
}

/// Draws the first-layer `kernels` (`[filters, kh, kw]` in `values`, first input channel;
/// blue negative, red positive, on a scale shared by all of them), the `input` image (784
/// pixels) and each layer's maps (white = strongest activation of that map), and writes the
/// picture to `path` as PNG.
pub fn filters_png(
    kernels: &FeatureMaps,
    input: &[u8],
    layers: &[FeatureMaps],
    path: &Path,
) -> Result<(), RenderError> {
    let kernel_scale = (60 / kernels.width.max(1)) as u32;
    let sections: Vec<(&FeatureMaps, u32)> = std::iter::once((kernels, kernel_scale))
        .chain(layers.iter().map(|maps| (maps, map_scale(maps))))
        .collect();
    let width = sections
        .iter()
        .map(|(maps, scale)| section_size(maps, *scale).0)
        .max()
        .unwrap_or(0)
        .max(IMAGE_SIDE as u32 * 4 + 300)
        + 2 * MARGIN;
    let height = 2 * MARGIN
        + HEADING
        + IMAGE_SIDE as u32 * 4
        + GAP
        + sections
            .iter()
            .map(|(maps, scale)| HEADING + section_size(maps, *scale).1 + GAP)
            .sum::<u32>();
    let mut canvas = Canvas::new(width, height);

    let mut y = MARGIN;
    canvas.text(
        MARGIN as i32,
        y as i32,
        16,
        "input (as the network sees it)",
    );
    y += HEADING;
    let input: Vec<[u8; 3]> = input
        .iter()
        .map(|&p| grey(p as f32 / 255.0, true))
        .collect();
    canvas.blit(MARGIN, y, IMAGE_SIDE, &input, 4);
    y += IMAGE_SIDE as u32 * 4 + GAP;

    let largest = kernels
        .values
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-12);
    for (index, (maps, scale)) in sections.iter().enumerate() {
        canvas.text(MARGIN as i32, y as i32, 16, &maps.title);
        y += HEADING;
        let plane = maps.height * maps.width;
        for (c, values) in maps.values.chunks_exact(plane).enumerate() {
            let colours: Vec<[u8; 3]> = if index == 0 {
                values.iter().map(|v| diverging(v / largest)).collect()
            } else {
                let top = values.iter().fold(0f32, |m, v| m.max(*v)).max(1e-12);
                values.iter().map(|v| grey(v / top, true)).collect()
            };
            let x = MARGIN + (c % PER_ROW) as u32 * (maps.width as u32 * scale + GAP);
            let row_y = y + (c / PER_ROW) as u32 * (maps.height as u32 * scale + GAP);
            canvas.blit(x, row_y, maps.width, &colours, *scale);
        }
        y += section_size(maps, *scale).1 + GAP;
    }
    canvas.save_png(path)
}

/// Pixels per value so a map is about 56 pixels wide.
fn map_scale(maps: &FeatureMaps) -> u32 {
    (56 / maps.width.max(1)).max(1) as u32
}

/// Width and height of a section's grid of maps.
fn section_size(maps: &FeatureMaps, scale: u32) -> (u32, u32) {
    let columns = maps.channels.clamp(1, PER_ROW) as u32;
    let rows = maps.channels.div_ceil(PER_ROW).max(1) as u32;
    (
        columns * (maps.width as u32 * scale + GAP),
        rows * (maps.height as u32 * scale + GAP),
    )
}
