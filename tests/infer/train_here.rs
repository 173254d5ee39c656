//! "Train here" over real HTTP: `infer serve --runs DIR` trains from `POST /api/train` with the
//! training tool's own library and validation, one run at a time (409 for a second), streams
//! its progress as server-sent events, stops on `DELETE /api/train`, and serves the finished
//! model, whose run folder is the command line's, byte for byte.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::{model_dir, test_idx};
use super::serve::{
    Server, TIMEOUT, answer, assert_same_prediction, get, pixels_json, post, predict_json,
};

/// `DELETE /api/train`.
fn delete(server: &Server) -> (i32, Value) {
    answer(minreq::delete(server.url("/api/train")).with_header("Content-Type", "application/json"))
}

fn start(server: &Server, settings: &Value) -> (i32, Value) {
    post(
        &server.url("/api/train"),
        "application/json",
        &serde_json::to_vec(settings).unwrap(),
    )
}

/// A fresh folder for a server's runs.
fn runs_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("train-here-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn serve_runs(runs: &Path, models: &[&Path]) -> Server {
    Server::start_with(models, &["--runs", runs.to_str().unwrap()])
}

/// `GET /api/train/events`, read as they come: over HTTP/1.0, so the stream is the body
/// itself, up to the end of the connection (no chunks to take apart).
struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    fn open(server: &Server) -> Self {
        let mut stream = TcpStream::connect(server.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(TIMEOUT)))
            .unwrap();
        write!(
            stream,
            "GET /api/train/events HTTP/1.0\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n",
            server.address()
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.contains(" 200 "), "the stream's status line: {line:?}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(kind) = line.to_ascii_lowercase().strip_prefix("content-type:") {
                assert_eq!(kind.trim(), "text/event-stream");
            }
        }
        Self { reader }
    }

    /// The next event's name and data (keep-alive comments skipped); `None` once the stream
    /// ends.
    fn next(&mut self) -> Option<(String, Value)> {
        let (mut event, mut data) = (String::new(), String::new());
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !event.is_empty() {
                    return Some((event, serde_json::from_str(&data).unwrap()));
                }
            } else if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(text) = line.strip_prefix("data:") {
                data.push_str(text.trim_start());
            }
        }
    }

    /// Every event up to the `run` event whose status is not running or stopping (included).
    fn until_the_run_ends(&mut self) -> Vec<(String, Value)> {
        let mut events = Vec::new();
        while let Some((event, data)) = self.next() {
            let ended =
                event == "run" && !matches!(data["status"].as_str(), Some("running" | "stopping"));
            events.push((event, data));
            if ended {
                return events;
            }
        }
        panic!("the stream ended before the run did: {events:?}");
    }
}

fn count(events: &[(String, Value)], name: &str) -> usize {
    events.iter().filter(|(event, _)| event == name).count()
}

/// The error message of a refused start.
fn refused(server: &Server, settings: Value, status: i32) -> String {
    let (got, body) = start(server, &settings);
    assert_eq!(got, status, "{settings}: {body}");
    body["error"].as_str().unwrap().to_string()
}

/// The small run both the page and the command line train below.
const SETTINGS: [(&str, &str); 7] = [
    ("model", "lenet5"),
    ("epochs", "2"),
    ("train-limit", "2000"),
    ("valid-size", "500"),
    ("test-limit", "200"),
    ("augment-shift", "0"),
    ("schedule", "constant"),
];

#[test]
fn a_training_started_over_http_streams_its_progress_and_its_model_joins_the_served_ones() {
    let runs = runs_dir("flow");
    let server = serve_runs(&runs, &[model_dir()]);

    let (status, info) = get(&server.url("/api/train"));
    assert_eq!(status, 200);
    assert_eq!(info["enabled"], true);
    assert!(info["run"].is_null(), "{info}");
    let settings = info["settings"].as_array().unwrap();
    let named = |name: &str| settings.iter().find(|s| s["name"] == name);
    assert_eq!(
        named("model").unwrap()["choices"],
        json!(["lenet5", "convnet", "mlp"])
    );
    assert_eq!(named("lr").unwrap()["default"], "0.001");
    assert_eq!(named("epochs").unwrap()["preset"], "2");
    for owned in ["artifacts", "resume", "data-dir", "backend", "restarts"] {
        assert!(named(owned).is_none(), "{owned} is the server's");
    }

    // Validated as the command line validates, each error naming the setting.
    for (settings, needle) in [
        (json!({"model": "lenet6"}), "'lenet6' for '--model"),
        (json!({"lr": "fast"}), "'fast' for '--lr"),
        (json!({"lr": 2}), "--lr must be in (0, 1]"),
        (json!({"epochs": 0}), "--epochs must be"),
        (json!({"artifacts": "/tmp"}), "'artifacts' is the server's"),
        (json!({"speed": 1}), "unknown setting 'speed'"),
        (json!({"nesterov": 3}), "'nesterov' is a switch"),
        (json!({"model": ["lenet5"]}), "'model': a setting is"),
        (json!([1, 2]), "expected a JSON object"),
    ] {
        let message = refused(&server, settings.clone(), 400);
        assert!(message.contains(needle), "{settings}: {message}");
    }
    let (status, _) = post(&server.url("/api/train"), "text/plain", b"{}");
    assert_eq!(status, 415, "a start needs a JSON content type");
    assert_eq!(delete(&server).0, 409, "nothing to stop yet");

    let mut events = Events::open(&server);
    assert_eq!(events.next().unwrap(), ("run".to_string(), Value::Null));
    let settings: serde_json::Map<String, Value> = SETTINGS
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    let (status, run) = start(&server, &Value::Object(settings.clone()));
    assert_eq!(status, 202, "{run}");
    assert_eq!(run["name"], "lenet5");
    assert_eq!(run["status"], "running");
    assert_eq!(run["config"]["epochs"], 2);
    let busy = refused(&server, json!({"model": "mlp"}), 409);
    assert!(busy.contains("a training is running: lenet5"), "{busy}");
    // Every page sees the running one: a stream opened now starts with it.
    let (event, running) = Events::open(&server).next().unwrap();
    assert_eq!(
        (event.as_str(), &running["name"]),
        ("run", &json!("lenet5"))
    );

    let seen = events.until_the_run_ends();
    let (_, last) = seen.last().unwrap();
    assert_eq!(last["status"], "finished", "{last}");
    assert!(count(&seen, "progress") >= 2, "{seen:?}");
    assert_eq!(count(&seen, "epoch"), 2, "{seen:?}");
    assert!(count(&seen, "snapshot") >= 1, "{seen:?}");
    let (_, snapshot) = seen.iter().find(|(e, _)| e == "snapshot").unwrap();
    assert_eq!(
        snapshot["kernels"]["channels"], 6,
        "LeNet-5's conv1 kernels"
    );
    let progress: Vec<&Value> = seen
        .iter()
        .filter(|(e, _)| e == "progress")
        .map(|(_, p)| p)
        .collect();
    assert!(progress.iter().all(|p| p["epoch_images"] == 2000));
    assert!(progress.iter().all(|p| p["loss"].as_f64().unwrap() > 0.0));

    // The state a page opening now sees is the whole run.
    let (_, info) = get(&server.url("/api/train"));
    let state = &info["run"];
    assert_eq!(state["status"], "finished");
    assert_eq!(state["history"].as_array().unwrap().len(), 2);
    assert_eq!(state["progress"].as_array().unwrap().len(), progress.len());
    let accuracy = state["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 50.0, "{state}");

    // The model is served, and is the run folder's.
    let (_, models) = get(&server.url("/api/models"));
    let names: Vec<&str> = models
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let fixture = model_dir()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        names,
        [fixture.as_str(), "lenet5"],
        "the page's run joins the served"
    );
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let (status, look) = post(
        &server.url("/api/predict?model=lenet5"),
        "application/json",
        &pixels_json(test.image(0)),
    );
    assert_eq!(status, 200, "{look}");
    let folder = runs.join("lenet5");
    let predicted = predict_json(&folder, &["--idx", &test_idx(), "--index", "0"]);
    assert_same_prediction(
        &look,
        &predicted,
        "the page's run, served and by infer predict",
    );

    // The folder is the command line's run: the same settings through `training` give the
    // same configuration, metrics and weights (the weights compared through their answers:
    // the files differ in Burn's random parameter ids).
    let cli = runs_dir("flow-cli");
    let mut args: Vec<String> = vec!["--artifacts".into(), cli.to_string_lossy().into()];
    for (name, value) in SETTINGS {
        args.push(format!("--{name}"));
        args.push(value.into());
    }
    let out = std::process::Command::new(crate::programs::program("training"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["model.json", "config.json"] {
        assert!(
            std::fs::read(folder.join(file)).unwrap() == std::fs::read(cli.join(file)).unwrap(),
            "{file}: the page's run and the command line's differ"
        );
    }
    for index in ["0", "1", "2"] {
        let args = ["--idx", &test_idx(), "--index", index];
        assert_same_prediction(
            &predict_json(&folder, &args),
            &predict_json(&cli, &args),
            "the page's run and the command line's",
        );
    }
    let metrics = |dir: &Path| -> Vec<String> {
        // The columns before the times.
        std::fs::read_to_string(dir.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(6).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(metrics(&folder), metrics(&cli));
    std::fs::remove_dir_all(&cli).ok();
}

/// Settings of a run long enough to be stopped (30 epochs of the MLP on 20,000 images).
fn long_run() -> Value {
    json!({"model": "mlp", "epochs": 30, "train-limit": 20000, "valid-size": 500, "test-limit": 200})
}

#[test]
fn a_stopped_training_ends_its_epoch_keeps_its_best_epoch_and_is_served() {
    let runs = runs_dir("stop");
    let server = serve_runs(&runs, &[]);
    let mut events = Events::open(&server);
    assert_eq!(events.next().unwrap().0, "run");
    let (status, run) = start(&server, &long_run());
    assert_eq!(status, 202, "{run}");
    while events.next().unwrap().0 != "progress" {}
    let (status, stopping) = delete(&server);
    assert_eq!(status, 202, "{stopping}");
    assert_eq!(stopping, json!({"name": "mlp", "status": "stopping"}));
    let seen = events.until_the_run_ends();
    let (_, last) = seen.last().unwrap();
    assert_eq!(last["status"], "stopped", "{last}");
    let epochs = last["history"].as_array().unwrap().len();
    assert!((1..30).contains(&epochs), "stopped after {epochs} epochs");
    // A normal run folder: every recorded epoch complete, the report written.
    let folder = runs.join("mlp");
    let lines = std::fs::read_to_string(folder.join("metrics.csv")).unwrap();
    assert_eq!(lines.lines().count(), 1 + epochs, "{lines}");
    assert!(folder.join("report.json").is_file());
    let (status, look) = post(
        &server.url("/api/predict?model=mlp"),
        "application/json",
        &pixels_json(
            mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir())
                .unwrap()
                .image(0),
        ),
    );
    assert_eq!(status, 200, "{look}");
    assert_eq!(delete(&server).0, 409, "nothing left to stop");

    // One at a time, not one ever: the next start is taken, under the next free name.
    let (status, next) = start(
        &server,
        &json!({"model": "mlp", "epochs": 1, "train-limit": 500, "valid-size": 200, "test-limit": 100}),
    );
    assert_eq!(status, 202, "{next}");
    assert_eq!(next["name"], "mlp-2");
    let ended = events.until_the_run_ends();
    assert_eq!(ended.last().unwrap().1["status"], "finished");
}

#[test]
fn a_server_without_a_runs_folder_says_it_does_not_train() {
    let server = Server::start(&[model_dir()]);
    let (status, info) = get(&server.url("/api/train"));
    assert_eq!(status, 200);
    assert_eq!(info["enabled"], false);
    let message = refused(&server, json!({}), 403);
    assert!(message.contains("--runs DIR"), "{message}");
}

#[test]
fn the_event_stream_outlives_the_header_deadline() {
    // The server closes a connection that waits longer than its header deadline (10 s) for a
    // request; a stream of events is an answer being sent, however long it lasts.
    let runs = runs_dir("long-stream");
    let server = serve_runs(&runs, &[]);
    let mut events = Events::open(&server);
    assert_eq!(events.next().unwrap().0, "run");
    std::thread::sleep(Duration::from_secs(13));
    let started = Instant::now();
    let (status, run) = start(
        &server,
        &json!({"model": "lenet5", "epochs": 1, "train-limit": 500, "valid-size": 200, "test-limit": 100}),
    );
    assert_eq!(status, 202, "{run}");
    let (event, data) = events
        .next()
        .expect("the stream is still open 13 s after it began");
    assert_eq!(
        (event.as_str(), &data["status"]),
        ("run", &json!("running"))
    );
    let seen = events.until_the_run_ends();
    assert_eq!(seen.last().unwrap().1["status"], "finished");
    println!(
        "a LeNet-5 run of 500 images, 1 epoch, from the start request to its end: {:.2} s",
        started.elapsed().as_secs_f64()
    );
}
