//! The worst mistakes (misclassified images the model was most sure about) as an image grid,
//! each digit labelled `true→predicted confidence`.

use std::path::Path;

use mnist_data::IMAGE_SIDE;
use serde::Serialize;

use super::canvas::{Canvas, RenderError, grey};

const SCALE: u32 = 3;
const COLUMNS: usize = 8;
const TILE: u32 = IMAGE_SIDE as u32 * SCALE;
const LABEL: u32 = 20;
const GAP: u32 = 8;

/// One misclassified image.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mistake {
    /// Index of the image in its set.
    pub index: usize,
    /// The true digit.
    pub truth: u8,
    /// The predicted digit.
    pub predicted: u8,
    /// The probability the model gave its (wrong) prediction.
    pub confidence: f32,
}

/// Draws each mistake's 28x28 image (`pixels(index)`) with its labels, in the given order,
/// and writes the grid to `path` as PNG.
pub fn mistakes_png(
    mistakes: &[Mistake],
    pixels: impl Fn(usize) -> Vec<u8>,
    path: &Path,
) -> Result<(), RenderError> {
    let rows = mistakes.len().div_ceil(COLUMNS).max(1) as u32;
    let columns = mistakes.len().clamp(1, COLUMNS) as u32;
    let cell_width = TILE + GAP;
    let cell_height = TILE + LABEL + GAP;
    let mut canvas = Canvas::new(GAP + columns * cell_width, 34 + rows * cell_height);
    let title = if mistakes.is_empty() {
        "no mistakes".to_string()
    } else {
        format!(
            "{} most confident mistakes (true→predicted)",
            mistakes.len()
        )
    };
    canvas.text(GAP as i32, 6, 16, &title);
    for (i, mistake) in mistakes.iter().enumerate() {
        let x = GAP + (i % COLUMNS) as u32 * cell_width;
        let y = 34 + (i / COLUMNS) as u32 * cell_height;
        let colours: Vec<[u8; 3]> = pixels(mistake.index)
            .iter()
            .map(|&p| grey(p as f32 / 255.0, false))
            .collect();
        canvas.blit(x, y, IMAGE_SIDE, &colours, SCALE);
        let label = format!(
            "{}→{} {:.0}%",
            mistake.truth,
            mistake.predicted,
            100.0 * mistake.confidence
        );
        canvas.text(x as i32, (y + TILE + 2) as i32, 14, &label);
    }
    canvas.save_png(path)
}
