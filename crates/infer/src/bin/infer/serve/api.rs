//! The JSON API under the page (documented in the README):
//!
//! - `GET /api/models`: the served models, their layer tables and first-layer kernels;
//! - `POST /api/predict?model=NAME&dx=N&dy=N&maps=true`: the body is a picture file (PNG,
//!   JPEG; preprocessed as `infer predict` does) or, with `Content-Type: application/json`,
//!   `{"pixels": [784 values 0-255]}` (MNIST-style, 0 = background); the answer is the digit,
//!   the ten probabilities, the 28x28 input the network got and, with `maps=true`, every conv
//!   layer's feature maps;
//! - `GET /api/sample?index=N`: a test image of MNIST with its label (a random one without
//!   `index`).
//!
//! Every error is a 4xx (or 500) with `{"error": "..."}` saying what was wrong.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use mnist_data::IMAGE_PIXELS;
use serde::{Deserialize, Serialize};

use infer::preprocess::mnist_pixels;
use infer::render::FeatureMaps;

use super::models::{Look, Served};
use super::{MAX_REQUEST_BYTES, MAX_SHIFT, page};

/// The page and the API.
pub fn router(served: Arc<Served>) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/style.css", get(page::style))
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/sample", get(sample))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(served)
}

/// An API error: the status and a message for the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        let body = Body {
            error: self.message,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

/// The body of a request, refused (413) without reading it when its announced length is over
/// [`MAX_REQUEST_BYTES`], and as soon as it grows past that when it announces none.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request is larger than the {MAX_REQUEST_BYTES} bytes allowed"),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_REQUEST_BYTES as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, MAX_REQUEST_BYTES)
        .await
        .map_err(|_| too_large())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page or API")
}

/// One served model, as `GET /api/models` lists it.
#[derive(Serialize)]
struct ModelInfo<'a> {
    name: &'a str,
    kind: String,
    kernels: String,
    parameters: usize,
    /// The layer table `infer` and training print.
    summary_text: String,
    summary: &'a model::ModelSummary,
    /// The first conv layer's kernels (null for the MLP).
    first_layer_kernels: Option<&'a FeatureMaps>,
}

async fn models(State(served): State<Arc<Served>>) -> Response {
    let list: Vec<ModelInfo<'_>> = served
        .models
        .iter()
        .map(|m| ModelInfo {
            name: &m.name,
            kind: m.classifier.config().kind.to_string(),
            kernels: m.classifier.config().kernels.to_string(),
            parameters: m.summary.total_params,
            summary_text: m.summary.to_string(),
            summary: &m.summary,
            first_layer_kernels: m.kernels.as_ref(),
        })
        .collect();
    axum::Json(list).into_response()
}

/// The options of `POST /api/predict`.
#[derive(Debug, Deserialize)]
pub struct PredictQuery {
    /// The model's name (default: the first served).
    model: Option<String>,
    /// Shift right (negative: left), pixels.
    #[serde(default)]
    dx: i32,
    /// Shift down (negative: up), pixels.
    #[serde(default)]
    dy: i32,
    /// Also return every conv layer's feature maps.
    #[serde(default)]
    maps: bool,
}

/// The JSON body of `POST /api/predict`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PixelsBody {
    pixels: Vec<u8>,
}

async fn predict(
    State(served): State<Arc<Served>>,
    query: Result<Query<PredictQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<axum::Json<Look>, ApiError> {
    let Query(query) = query?;
    let body = read_body(&headers, body).await?;
    for (axis, value) in [("dx", query.dx), ("dy", query.dy)] {
        if value.abs() > MAX_SHIFT {
            return Err(ApiError::bad_request(format!(
                "{axis} = {value}: shifts go from -{MAX_SHIFT} to {MAX_SHIFT} pixels"
            )));
        }
    }
    let index = match &query.model {
        None => 0,
        Some(name) => served
            .models
            .iter()
            .position(|m| &m.name == name)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!(
                        "unknown model '{name}' (served: {})",
                        served.names().join(", ")
                    ),
                )
            })?,
    };
    let pixels = if is_json(&headers) {
        pixels_from_json(&body)?
    } else {
        pixels_from_picture(&body)?
    };
    // Inference off the async threads: other requests go on meanwhile.
    let look = tokio::task::spawn_blocking(move || {
        served.models[index].look(&pixels, (query.dx, query.dy), query.maps)
    })
    .await
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {error}"),
        )
    })?;
    Ok(axum::Json(look))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.trim_start().starts_with("application/json"))
}

fn pixels_from_json(body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    let parsed: PixelsBody = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "malformed JSON ({error}): expected {{\"pixels\": [{IMAGE_PIXELS} values 0-255]}}"
        ))
    })?;
    let count = parsed.pixels.len();
    parsed.pixels.try_into().map_err(|_| {
        ApiError::bad_request(format!(
            "expected {IMAGE_PIXELS} pixels (28x28, row-major), got {count}"
        ))
    })
}

fn pixels_from_picture(body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send a picture (PNG, JPEG) or JSON pixels",
        ));
    }
    let picture = image::load_from_memory(body).map_err(|error| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("not a picture this server reads (PNG, JPEG): {error}"),
        )
    })?;
    mnist_pixels(&picture).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no digit found in the picture (nothing stands out from the background)",
        )
    })
}

/// The options of `GET /api/sample`.
#[derive(Debug, Deserialize)]
pub struct SampleQuery {
    /// Which test image (default: a random one).
    index: Option<usize>,
}

/// A test image of MNIST.
#[derive(Serialize)]
struct Sample {
    index: usize,
    label: u8,
    pixels: Vec<u8>,
}

async fn sample(
    State(served): State<Arc<Served>>,
    query: Result<Query<SampleQuery>, QueryRejection>,
) -> Result<axum::Json<Sample>, ApiError> {
    let Query(query) = query?;
    let count = served.test_set.len();
    let index = match query.index {
        Some(index) if index >= count => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!(
                    "no test image {index}: there are {count} (0 to {})",
                    count - 1
                ),
            ));
        }
        Some(index) => index,
        None => rand::random_range(0..count),
    };
    Ok(axum::Json(Sample {
        index,
        label: served.test_set.label(index),
        pixels: served.test_set.image(index).to_vec(),
    }))
}
