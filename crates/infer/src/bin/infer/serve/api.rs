//! The JSON API under the page (documented in docs/inference.md); the teaching endpoints'
//! handlers (saliency, pixel, shifts) are in [`super::lessons`], on this file's request
//! reading:
//!
//! - `GET /api/models`: the served models, their layer tables and first-layer kernels;
//! - `POST /api/predict?model=NAME&dx=N&dy=N&maps=true`: the body is a picture file (PNG,
//!   JPEG; preprocessed as `infer predict` does) or, with `Content-Type: application/json`,
//!   `{"pixels": [784 values 0-255]}` (MNIST-style, 0 = background); the answer is the digit,
//!   the ten probabilities, the 28x28 input the network got and, with `maps=true`, every conv
//!   layer's feature maps;
//! - `POST /api/saliency?model=NAME&class=D&dx=N&dy=N`: the same bodies; the answer is the
//!   prediction, the input, and what the network looks at for class `D` (default: the
//!   predicted digit): the saliency and occlusion maps, 28x28 each ([`infer::saliency`]);
//! - `POST /api/pixel?model=NAME&layer=L&channel=C&x=X&y=Y&dx=N&dy=N`: the same bodies; the
//!   answer is inside one pixel of a feature map: its value, its receptive field, every
//!   layer's output size and, for conv1, the sum of products that gives it
//!   ([`infer::inside_pixel`]);
//! - `GET /api/sample?index=N`: a test image of MNIST with its label (a random one without
//!   `index`);
//! - `GET /api/shifts?images=N`: every model's accuracy on the first `N` test images moved
//!   right by 0 to 8 pixels ([`infer::shift_curve`]);
//! - `GET`, `POST`, `DELETE /api/train` and `GET /api/train/events`: training from the page
//!   ([`super::train_api`]).
//!
//! Every error is a 4xx (or 500) with `{"error": "..."}` saying what was wrong.

use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::{from_fn, from_fn_with_state, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use image::{DynamicImage, GrayImage};
use infer::picture::{PictureError, decode_picture};
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE};
use serde::{Deserialize, Serialize};

use infer::preprocess::mnist_pixels;
use infer::render::FeatureMaps;

use super::connection::track_requests;
use super::error::{ApiError, is_json};
use super::guard::{HostCheck, check_host, json_errors, security_headers};
use super::models::{Look, ServedModel};
use super::served::Served;
use super::{BODY_READ_TIMEOUT, MAX_REQUEST_BYTES, MAX_SHIFT, lessons, page, train_api};

/// What a picture or JSON pixels (`what`) where nothing stands out from the background get;
/// whether that is so, [`mnist_pixels`] decides for both.
fn no_digit(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        format!("no digit found in the {what} (nothing stands out from the background)"),
    )
}

/// The page and the API, answering the Host names `hosts` allows.
pub fn router(served: Arc<Served>, hosts: HostCheck) -> Router {
    Router::new()
        .route("/", get(page::index))
        .route("/app.js", get(page::script))
        .route("/train.js", get(page::train_script))
        .route("/style.css", get(page::style))
        .route("/api/models", get(models))
        .route("/api/predict", post(predict))
        .route("/api/saliency", post(lessons::saliency))
        .route("/api/pixel", post(lessons::pixel))
        .route("/api/sample", get(sample))
        .route("/api/shifts", get(lessons::shifts))
        .route(
            "/api/train",
            get(train_api::state)
                .post(train_api::begin)
                .delete(train_api::stop),
        )
        .route("/api/train/events", get(train_api::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        // The last layer added sees the request first: the Host is checked before anything,
        // and every answer, the refusals included, gets a JSON error body and the headers.
        .layer(from_fn_with_state(hosts, check_host))
        .layer(from_fn(track_requests))
        .layer(map_response(json_errors))
        .layer(map_response(security_headers))
        .with_state(served)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request is larger than the {MAX_REQUEST_BYTES} bytes allowed"),
    )
}

/// The body of a request, refused (413) without reading it when its announced length is over
/// [`MAX_REQUEST_BYTES`], and as soon as it grows past that when it announces none; 408 when
/// it takes longer than [`BODY_READ_TIMEOUT`] to arrive, 400 when it cannot be read (a broken
/// chunked encoding, a connection closed halfway).
pub(super) async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_REQUEST_BYTES as u64) {
        return Err(too_large());
    }
    tokio::time::timeout(BODY_READ_TIMEOUT, collect_body(body))
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request's body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            ))
        })
}

/// All of `body`, at most [`MAX_REQUEST_BYTES`].
async fn collect_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|error| {
            // The cause (hyper's "invalid chunk size") is a source below axum's and hyper's.
            let mut message = format!("the request's body cannot be read: {error}");
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            ApiError::bad_request(message)
        })?;
        if let Ok(data) = frame.into_data() {
            if bytes.len() + data.len() > MAX_REQUEST_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&data);
        }
    }
    Ok(bytes.into())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such page or API")
}

/// A known path asked with a method it does not take (the `Allow` header, which axum adds,
/// lists those it takes).
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{} does not take {method} (the Allow header lists what it takes)",
            uri.path()
        ),
    )
}

/// One served model, as `GET /api/models` lists it.
#[derive(Serialize)]
struct ModelInfo<'a> {
    name: &'a str,
    kind: String,
    kernels: String,
    /// Networks: 1, or a committee's members (whose averaged probabilities it answers; the
    /// other fields but `parameters` describe its first member).
    members: usize,
    /// Trainable parameters of all its networks together.
    parameters: usize,
    /// The layer table `infer` and training print.
    summary_text: String,
    summary: &'a model::ModelSummary,
    /// The first conv layer's kernels (null for the MLP).
    first_layer_kernels: Option<&'a FeatureMaps>,
}

async fn models(State(served): State<Arc<Served>>) -> Response {
    let models = served.models.all();
    let list: Vec<ModelInfo<'_>> = models
        .iter()
        .map(|m| ModelInfo {
            name: &m.name,
            kind: m.classifier.config().kind.to_string(),
            kernels: m.classifier.config().kernels.to_string(),
            members: m.classifier.members().len(),
            parameters: m
                .classifier
                .members()
                .iter()
                .map(burn::module::Module::num_params)
                .sum(),
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
    let shift = checked_shift(query.dx, query.dy)?;
    let maps = query.maps;
    let look = on_image(served, query.model, headers, body, move |model, pixels| {
        model.look(pixels, shift, maps)
    })
    .await?;
    Ok(axum::Json(look))
}

/// The shift `(dx, dy)` of a request, refused (400) past [`MAX_SHIFT`].
pub(super) fn checked_shift(dx: i32, dy: i32) -> Result<(i32, i32), ApiError> {
    for (axis, value) in [("dx", dx), ("dy", dy)] {
        if !(-MAX_SHIFT..=MAX_SHIFT).contains(&value) {
            return Err(ApiError::bad_request(format!(
                "{axis} = {value}: shifts go from -{MAX_SHIFT} to {MAX_SHIFT} pixels"
            )));
        }
    }
    Ok((dx, dy))
}

/// Runs `work` with the model named `model` (the first served without a name; 404 for an
/// unknown one) on the request's image: its body, a picture or JSON pixels as the
/// `Content-Type` says, read within the limits, decoded and preprocessed. The decoding and
/// `work` run off the async threads, a bounded number at once: other requests go on meanwhile.
pub(super) async fn on_image<T: Send + 'static>(
    served: Arc<Served>,
    model: Option<String>,
    headers: HeaderMap,
    body: Body,
    work: impl FnOnce(&ServedModel, &[u8; IMAGE_PIXELS]) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let body = read_body(&headers, body).await?;
    let model = served.model(model.as_deref()).ok_or_else(|| {
        let names = served.models.names();
        let message = if names.is_empty() {
            "no model is served yet: train one from the page (Train here)".to_string()
        } else {
            format!(
                "unknown model '{}' (served: {})",
                model.unwrap_or_default(),
                names.join(", ")
            )
        };
        ApiError::new(StatusCode::NOT_FOUND, message)
    })?;
    let json = is_json(&headers);
    let _slot = decode_slots()
        .acquire()
        .await
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?;
    tokio::task::spawn_blocking(move || {
        let pixels = if json {
            pixels_from_json(&body)?
        } else {
            pixels_from_picture(&body)?
        };
        Ok::<_, ApiError>(work(&model, &pixels))
    })
    .await
    .map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("inference failed: {error}"),
        )
    })?
}

/// Requests decoded and run at once, per core. Beyond that a request waits for a slot
/// (asynchronously, holding no thread), so many uploads at once cannot take the memory of as
/// many decoders.
const DECODES_PER_CORE: usize = 2;

pub(super) fn decode_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tokio::sync::Semaphore::new(cores * DECODES_PER_CORE)
    })
}

fn pixels_from_json(body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    let parsed: PixelsBody = serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "malformed JSON ({error}): expected {{\"pixels\": [{IMAGE_PIXELS} values 0-255]}}"
        ))
    })?;
    let count = parsed.pixels.len();
    let pixels: [u8; IMAGE_PIXELS] = parsed.pixels.try_into().map_err(|_| {
        ApiError::bad_request(format!(
            "expected {IMAGE_PIXELS} pixels (28x28, row-major), got {count}"
        ))
    })?;
    // The rule pictures get: whether anything stands out from the background.
    let side = IMAGE_SIDE as u32;
    let image = GrayImage::from_raw(side, side, pixels.to_vec()).ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "28x28 pixels make no image",
        )
    })?;
    match mnist_pixels(&DynamicImage::ImageLuma8(image)) {
        Some(_) => Ok(pixels),
        None => Err(no_digit("pixels")),
    }
}

fn pixels_from_picture(body: &[u8]) -> Result<[u8; IMAGE_PIXELS], ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "empty body: send a picture (PNG, JPEG) or JSON pixels",
        ));
    }
    let picture = decode_picture(body).map_err(|error| {
        let status = match error {
            PictureError::NotAPicture(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PictureError::TooLarge { .. } | PictureError::NeedsTooMuchMemory(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            // Not from bytes in memory.
            PictureError::Read(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, error.to_string())
    })?;
    mnist_pixels(&picture).ok_or_else(|| no_digit("picture"))
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
    if count == 0 {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "the test set holds no images",
        ));
    }
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
