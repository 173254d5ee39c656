//! The page's teaching APIs (documented in docs/inference.md), each on the same bodies and
//! limits as `/api/predict` ([`super::api`]):
//!
//! - `POST /api/saliency`: what the network looks at ([`infer::saliency`]);
//! - `POST /api/pixel`: inside one pixel of a feature map ([`infer::inside_pixel`]);
//! - `GET /api/shifts`: every model's accuracy against the shift ([`infer::shift_curve`]).

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use infer::inside_pixel::{MapPixel, PixelStory};
use infer::shift_curve::{MAX_CURVE_SHIFT, shift_curve};
use mnist_data::CLASSES;
use serde::{Deserialize, Serialize};

use super::api::{checked_shift, decode_slots, on_image};
use super::error::ApiError;
use super::models::Attended;
use super::served::Served;

/// The options of `POST /api/saliency`.
#[derive(Debug, Deserialize)]
pub struct SaliencyQuery {
    /// The model's name (default: the first served).
    model: Option<String>,
    /// The class whose maps are wanted (default: the predicted digit).
    class: Option<u8>,
    /// Shift right (negative: left), pixels.
    #[serde(default)]
    dx: i32,
    /// Shift down (negative: up), pixels.
    #[serde(default)]
    dy: i32,
}

pub(super) async fn saliency(
    State(served): State<Arc<Served>>,
    query: Result<Query<SaliencyQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Attended>, ApiError> {
    let Query(query) = query?;
    let shift = checked_shift(query.dx, query.dy)?;
    if let Some(class) = query.class.filter(|&c| usize::from(c) >= CLASSES) {
        return Err(ApiError::bad_request(format!(
            "class = {class}: classes are the digits 0 to {}",
            CLASSES - 1
        )));
    }
    let class = query.class;
    let attended = on_image(served, query.model, headers, body, move |model, pixels| {
        model.attend(pixels, shift, class)
    })
    .await?;
    Ok(axum::Json(attended))
}

/// The options of `POST /api/pixel`.
#[derive(Debug, Deserialize)]
pub struct PixelQuery {
    /// The model's name (default: the first served).
    model: Option<String>,
    /// The conv layer, 1 for conv1.
    layer: usize,
    /// The map (filter) of that layer.
    channel: usize,
    /// Column of the map.
    x: usize,
    /// Row of the map.
    y: usize,
    /// Shift right (negative: left), pixels.
    #[serde(default)]
    dx: i32,
    /// Shift down (negative: up), pixels.
    #[serde(default)]
    dy: i32,
}

pub(super) async fn pixel(
    State(served): State<Arc<Served>>,
    query: Result<Query<PixelQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<PixelStory>, ApiError> {
    let Query(query) = query?;
    let shift = checked_shift(query.dx, query.dy)?;
    let pixel = MapPixel {
        layer: query.layer,
        channel: query.channel,
        x: query.x,
        y: query.y,
    };
    let story = on_image(served, query.model, headers, body, move |model, pixels| {
        model.inside(pixels, shift, pixel)
    })
    .await?
    .map_err(ApiError::bad_request)?;
    Ok(axum::Json(story))
}

/// Test images of the shift curves when the request names no number.
const DEFAULT_CURVE_IMAGES: usize = 300;
/// Test images of the shift curves, at most: nine passes over them per model (a ConvNet's
/// 18,000 images take seconds on two cores).
const MAX_CURVE_IMAGES: usize = 2000;

/// The options of `GET /api/shifts`.
#[derive(Debug, Deserialize)]
pub struct ShiftsQuery {
    /// Test images measured (default [`DEFAULT_CURVE_IMAGES`]).
    images: Option<usize>,
}

/// Every model's accuracy against the shift.
#[derive(Serialize)]
pub(super) struct ShiftCurves {
    images: usize,
    /// Pixels moved right: 0 to [`MAX_CURVE_SHIFT`].
    shifts: Vec<usize>,
    models: Vec<ModelCurve>,
}

#[derive(Serialize)]
pub(super) struct ModelCurve {
    name: String,
    /// Accuracy (%) at each shift.
    accuracy: Vec<f64>,
}

pub(super) async fn shifts(
    State(served): State<Arc<Served>>,
    query: Result<Query<ShiftsQuery>, QueryRejection>,
) -> Result<axum::Json<ShiftCurves>, ApiError> {
    let Query(query) = query?;
    let images = query.images.unwrap_or(DEFAULT_CURVE_IMAGES);
    let most = served.test_set.len().min(MAX_CURVE_IMAGES);
    if !(1..=most).contains(&images) {
        return Err(ApiError::bad_request(format!(
            "images = {images}: the curves take 1 to {most} test images"
        )));
    }
    let _slot = decode_slots()
        .acquire()
        .await
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    let curves = tokio::task::spawn_blocking(move || ShiftCurves {
        images,
        shifts: (0..=MAX_CURVE_SHIFT).collect(),
        models: served
            .models
            .all()
            .iter()
            .map(|model| ModelCurve {
                name: model.name.clone(),
                accuracy: shift_curve(&model.classifier, &served.test_set, images),
            })
            .collect(),
    })
    .await
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the shift curves failed: {error}"),
        )
    })?;
    Ok(axum::Json(curves))
}
