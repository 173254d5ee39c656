//! The confusion matrix as a picture: one cell per (true, predicted) pair with its count,
//! correct predictions in green, mistakes in red, shaded by their share of the true digit.

use std::path::Path;

use mnist_data::CLASSES;

use super::canvas::{Canvas, RenderError};

const CELL: u32 = 52;
const LEFT: u32 = 70;
const TOP: u32 = 70;

/// Draws `confusion[true][predicted]` and writes it to `path` as PNG.
pub fn confusion_png(
    confusion: &[[usize; CLASSES]; CLASSES],
    path: &Path,
) -> Result<(), RenderError> {
    let mut canvas = Canvas::new(
        LEFT + CLASSES as u32 * CELL + 20,
        TOP + CLASSES as u32 * CELL + 20,
    );
    canvas.text(10, 8, 18, "confusion matrix");
    canvas.text(LEFT as i32, 36, 14, "predicted digit →");
    canvas.text(6, TOP as i32 - 18, 14, "true ↓");
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f32;
        let y = TOP + t as u32 * CELL;
        canvas.text(40, (y + CELL / 2 - 8) as i32, 16, &t.to_string());
        for (p, &count) in row.iter().enumerate() {
            let x = LEFT + p as u32 * CELL;
            if t == 0 {
                canvas.text(
                    (x + CELL / 2 - 5) as i32,
                    TOP as i32 - 18,
                    16,
                    &p.to_string(),
                );
            }
            let share = count as f32 / total;
            let colour = if count == 0 {
                [250, 250, 250]
            } else if t == p {
                shade([40, 160, 70], 0.25 + 0.75 * share)
            } else {
                shade([210, 50, 40], 0.15 + 0.85 * (share * 10.0).min(1.0))
            };
            canvas.fill(x + 1, y + 1, CELL - 2, CELL - 2, colour);
            if count > 0 {
                let label = count.to_string();
                let offset = 4 * label.len() as u32;
                canvas.text(
                    (x + CELL / 2 - offset) as i32,
                    (y + CELL / 2 - 8) as i32,
                    14,
                    &label,
                );
            }
        }
    }
    canvas.save_png(path)
}

/// `colour` blended with white: `strength` 0 gives white, 1 the colour itself.
fn shade(colour: [u8; 3], strength: f32) -> [u8; 3] {
    colour.map(|c| (255.0 - (255.0 - c as f32) * strength.clamp(0.0, 1.0)).round() as u8)
}
