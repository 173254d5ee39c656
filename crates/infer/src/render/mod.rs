//! Pictures written by `infer`: the confusion matrix, the worst mistakes, the learned filters
//! and feature maps. Pixels are drawn with `image`, labels with `plotters`; files are written
//! atomically.

mod canvas;
mod confusion;
mod filters;
mod mistakes;

pub use canvas::{Canvas, RenderError};
pub use confusion::confusion_png;
pub use filters::{FeatureMaps, filters_png};
pub use mistakes::{Mistake, mistakes_png};
