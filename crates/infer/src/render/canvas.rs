//! An RGB canvas with pixel blitting, text labels and atomic PNG output.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Once;

use image::{ImageFormat, Rgb, RgbImage};
use plotters::prelude::*;
use plotters::style::FontStyle;

const FONT: &str = "dejavu-sans-mono";

/// Why a picture could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {reason}")]
pub struct RenderError {
    /// The output file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The same DejaVu Sans Mono the training curves use (license next to the file).
        let bytes: &'static [u8] = include_bytes!("../../../training/assets/DejaVuSansMono.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType font"));
    });
}

/// A white RGB picture to draw on.
pub struct Canvas {
    image: RgbImage,
}

impl Canvas {
    /// A white canvas of `width x height` pixels.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            image: RgbImage::from_pixel(width, height, Rgb([255, 255, 255])),
        }
    }

    /// Fills the rectangle at `(x, y)` of `width x height` pixels (clipped to the canvas).
    pub fn fill(&mut self, x: u32, y: u32, width: u32, height: u32, colour: [u8; 3]) {
        for py in y..(y + height).min(self.image.height()) {
            for px in x..(x + width).min(self.image.width()) {
                self.image.put_pixel(px, py, Rgb(colour));
            }
        }
    }

    /// Draws a `width x height` grid of colours (row-major) at `(x, y)`, each cell as a
    /// `scale x scale` square.
    pub fn blit(&mut self, x: u32, y: u32, width: usize, colours: &[[u8; 3]], scale: u32) {
        for (i, &colour) in colours.iter().enumerate() {
            let (cx, cy) = ((i % width) as u32, (i / width) as u32);
            self.fill(x + cx * scale, y + cy * scale, scale, scale, colour);
        }
    }

    /// Writes `text` with its top-left corner at `(x, y)`, `size` pixels high.
    pub fn text(&mut self, x: i32, y: i32, size: u32, text: &str) {
        register_font();
        let (width, height) = self.image.dimensions();
        let root =
            BitMapBackend::with_buffer(self.image.as_mut(), (width, height)).into_drawing_area();
        let style = (FONT, size as f64).into_font().color(&BLACK);
        // Drawing text on an in-memory bitmap only fails for a missing font, registered above.
        root.draw(&Text::new(text.to_string(), (x, y), style))
            .expect("text on an in-memory bitmap");
        root.present().expect("in-memory bitmap");
    }

    /// Encodes the canvas as PNG and writes it to `path` atomically.
    pub fn save_png(&self, path: &Path) -> Result<(), RenderError> {
        let error = |reason: String| RenderError {
            path: path.to_path_buf(),
            reason,
        };
        let mut bytes = Cursor::new(Vec::new());
        self.image
            .write_to(&mut bytes, ImageFormat::Png)
            .map_err(|e| error(e.to_string()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            workbench_io::create_folder(dir).map_err(|e| error(e.to_string()))?;
        }
        workbench_io::atomic_write(path, bytes.get_ref()).map_err(|e| error(e.to_string()))
    }
}

/// Grey level of a value in `[0, 1]`, black for 1 (ink) on white for 0... or, with
/// `white_ink`, white for 1 on black, the way MNIST digits are stored.
pub fn grey(value: f32, white_ink: bool) -> [u8; 3] {
    let v = (value.clamp(0.0, 1.0) * 255.0).round() as u8;
    let v = if white_ink { v } else { 255 - v };
    [v, v, v]
}

/// Diverging colour of a value in `[-1, 1]`: blue for negative, white for 0, red for positive.
pub fn diverging(value: f32) -> [u8; 3] {
    let v = value.clamp(-1.0, 1.0);
    let fade = (255.0 * (1.0 - v.abs())).round() as u8;
    if v >= 0.0 {
        [255, fade, fade]
    } else {
        [fade, fade, 255]
    }
}
