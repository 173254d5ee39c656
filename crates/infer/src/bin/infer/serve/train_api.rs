//! The API of "Train here" ([`super::train_here`]):
//!
//! - `GET /api/train`: whether the server trains from the page, the settings the page may set
//!   (from the training tool's own options, with their defaults and choices) and the running
//!   or last run: its status, settings, configuration, progress points, epochs and, once
//!   finished, its test accuracy;
//! - `POST /api/train` (`Content-Type: application/json`): starts a training; the body is the
//!   settings, `{"model": "lenet5", "optimizer": "sgd", "lr": 0.05, ...}`, validated as the
//!   command line validates them; 202 with the run, 400 naming a wrong setting, 409 naming the
//!   run under way, 403 when the server has no `--runs`;
//! - `DELETE /api/train`: stops the run under way (its epoch ends at the next batch and is
//!   validated; the run keeps the best epoch it finished); 202, or 409 if none runs;
//! - `GET /api/train/events`: server-sent events: `run` (the whole run: first, and whenever
//!   its status changes), `progress` (training loss and accuracy every few batches), `epoch`
//!   (a finished epoch) and `snapshot` (the weights were sampled: the first layer's kernels;
//!   the run's name then answers `/api/predict` with them).
//!
//! Starting and stopping need a JSON content type: a page of another site cannot send one
//! without the browser asking this server first (which it does not allow), so no other site
//! can start trainings here.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::api::read_body;
use super::error::{ApiError, is_json};
use super::served::Served;
use super::train_here::{Refusal, RunState, training_threads};
use super::train_settings::{Setting, page_settings};

/// The largest settings body accepted.
const MAX_SETTINGS_BYTES: usize = 16 << 10;

/// What `GET /api/train` answers.
#[derive(Serialize)]
struct TrainInfo {
    /// Whether the server trains from the page (it was started with `--runs DIR`).
    enabled: bool,
    /// Threads a training gets.
    threads: usize,
    settings: Vec<Setting>,
    run: Option<RunState>,
}

pub(super) async fn state(State(served): State<Arc<Served>>) -> axum::Json<Value> {
    let info = TrainInfo {
        enabled: served.trainer.enabled(),
        threads: training_threads(),
        settings: page_settings(),
        run: served.trainer.run(),
    };
    axum::Json(serde_json::to_value(info).unwrap_or_default())
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Off => ApiError::new(
            StatusCode::FORBIDDEN,
            "this server does not train: start infer serve with --runs DIR to train from the page",
        ),
        Refusal::Busy(name) => ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "a training is running: {name} (one at a time; stop it with DELETE /api/train or wait for it)"
            ),
        ),
        Refusal::Idle => ApiError::new(StatusCode::CONFLICT, "no training is running"),
        Refusal::Invalid(message) => ApiError::bad_request(message),
        Refusal::Failed(message) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message),
    }
}

fn needs_json(headers: &HeaderMap) -> Result<(), ApiError> {
    if is_json(headers) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the settings as Content-Type: application/json",
        ))
    }
}

pub(super) async fn begin(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    needs_json(&headers)?;
    let body = read_body(&headers, body).await?;
    if body.len() > MAX_SETTINGS_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the settings are larger than the {MAX_SETTINGS_BYTES} bytes allowed"),
        ));
    }
    let settings = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(settings)) => settings,
        Ok(_) | Err(_) => {
            return Err(ApiError::bad_request(
                "expected a JSON object of settings, e.g. {\"model\": \"lenet5\", \"epochs\": 2}",
            ));
        }
    };
    // Parsing, the run's folder and its thread: quick, but off the async threads all the same.
    let run = tokio::task::spawn_blocking(move || served.trainer.start(settings))
        .await
        .map_err(|error| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))?
        .map_err(refused)?;
    Ok((StatusCode::ACCEPTED, axum::Json(run)).into_response())
}

/// What `DELETE /api/train` answers.
#[derive(Serialize)]
struct Stopping {
    name: String,
    status: &'static str,
}

pub(super) async fn stop(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    needs_json(&headers)?;
    let name = served.trainer.stop().map_err(refused)?;
    let answer = Stopping {
        name,
        status: "stopping",
    };
    Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
}

pub(super) async fn events(
    State(served): State<Arc<Served>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before the run is read: no update falls between the two.
    let receiver = served.trainer.subscribe();
    let first = run_event(&served);
    let stream = futures_util::stream::unfold(
        (Some(first), receiver, served),
        |(first, mut receiver, served)| async move {
            if let Some(first) = first {
                return Some((Ok(first), (None, receiver, served)));
            }
            let event = match receiver.recv().await {
                Ok(update) => Event::default().event(update.event).data(update.data),
                // Fallen behind: the whole run again.
                Err(RecvError::Lagged(_)) => run_event(&served),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(event), (None, receiver, served)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn run_event(served: &Served) -> Event {
    Event::default()
        .event("run")
        .data(serde_json::to_string(&served.trainer.run()).unwrap_or_else(|_| "null".into()))
}
