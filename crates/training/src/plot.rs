//! Learning curves as a PNG: loss and accuracy per epoch, training and validation.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::epoch_log::EpochRecord;

const WIDTH: u32 = 1200;
const HEIGHT: u32 = 480;
const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
        plotters::style::register_font(FONT, FontStyle::Normal, bytes)
            .unwrap_or_else(|_| panic!("the bundled font is a valid TrueType font"));
    });
}

/// Draws the learning curves of `history` and writes them to `path` as PNG (atomically).
pub fn write_learning_curves(history: &[EpochRecord], title: &str, path: &Path) -> Result<()> {
    register_font();
    let mut pixels = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut pixels, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let root = root.titled(title, (FONT, 22))?;
        let (left, right) = root.split_horizontally(WIDTH / 2);
        let epochs = history.len().max(1) as f64;
        let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
            history
                .iter()
                .map(|r| (r.epoch as f64, f(r)))
                .filter(|(_, v)| v.is_finite())
                .collect()
        };
        draw_panel(
            &left,
            "loss (cross-entropy)",
            epochs,
            &series(|r| r.train_loss),
            &series(|r| r.valid_loss),
            None,
        )?;
        draw_panel(
            &right,
            "accuracy (%)",
            epochs,
            &series(|r| r.train_accuracy),
            &series(|r| r.valid_accuracy),
            Some(100.0),
        )?;
        root.present()?;
    }
    let image = image::RgbImage::from_raw(WIDTH, HEIGHT, pixels).context("plot buffer size")?;
    let mut png = std::io::Cursor::new(Vec::new());
    image.write_to(&mut png, image::ImageFormat::Png)?;
    workbench_io::atomic_write(path, png.get_ref())
        .with_context(|| format!("cannot write {}", path.display()))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    epochs: f64,
    train: &[(f64, f64)],
    valid: &[(f64, f64)],
    upper_cap: Option<f64>,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let values = train.iter().chain(valid).map(|p| p.1);
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    let margin = ((hi - lo) * 0.08).max(1e-3);
    let top = upper_cap.map_or(hi + margin, |cap| (hi + margin).min(cap));
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5..epochs + 0.5, (lo - margin)..top)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| {
            if x.fract() == 0.0 {
                format!("{x:.0}")
            } else {
                String::new()
            }
        })
        .label_style((FONT, 13))
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (points, color, label) in [(train, BLUE, "train"), (valid, RED, "validation")] {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 14))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}
