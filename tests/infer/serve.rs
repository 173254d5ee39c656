//! `infer serve` over real HTTP: the `infer` binary serving on an ephemeral port of
//! 127.0.0.1, requests with a real HTTP client (minreq) or, where a client must misbehave, by
//! hand over TCP. Predictions must equal `infer predict`'s; every bad request gets its status
//! and a JSON message and the server keeps serving; many concurrent clients are all served (the
//! latencies are printed, not asserted: speed is a benchmark's business). The server's limits
//! are tested in `serve_limits.rs`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::{infer, model_dir};

/// A running `infer serve`, killed when dropped.
pub(super) struct Server {
    child: Child,
    base: String,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Server {
    /// Starts `infer serve` on the models in `models` and waits for its address.
    pub fn start(models: &[&Path]) -> Self {
        Self::start_with(models, &[])
    }

    /// Starts `infer serve` on the models in `models` with the options `args`.
    pub(super) fn start_with(models: &[&Path], args: &[&str]) -> Self {
        let mut command = Command::new(crate::programs::program("infer"));
        command.arg("serve");
        for model in models {
            command.arg("--model").arg(model);
        }
        let mut child = command
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("infer serve starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let Some(start) = line.find("http://") else {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .ok();
            panic!("infer serve printed {line:?}, not its address; stderr: {stderr}");
        };
        let base = line[start..]
            .split_whitespace()
            .next()
            .unwrap()
            .trim_end_matches('/')
            .to_string();
        Self {
            child,
            base,
            stdout,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `host:port`.
    pub(super) fn address(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends SIGINT (Ctrl-C) and waits for the exit; returns its success and what it printed.
    pub(super) fn interrupt(self) -> (bool, String) {
        let (stopped, printed, _) = self.signal(libc::SIGINT, Duration::from_secs(20));
        (stopped, printed)
    }

    /// Sends `signal`, waits at most `limit` for the exit (panics after), and returns its
    /// success, what it printed and the time it took.
    pub(super) fn signal(
        mut self,
        signal: libc::c_int,
        limit: Duration,
    ) -> (bool, String, Duration) {
        // SAFETY: kill(2) with the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        let sent = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let took = sent.elapsed();
                let mut rest = String::new();
                self.stdout.read_to_string(&mut rest).ok();
                return (status.success(), rest, took);
            }
            assert!(
                sent.elapsed() < limit,
                "the server did not stop within {limit:?} of signal {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server and returns what it wrote on standard error.
    pub(super) fn stderr(mut self) -> String {
        self.child.kill().ok();
        self.child.wait().ok();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).ok();
        }
        stderr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Seconds a request may take.
pub(super) const TIMEOUT: u64 = 60;

/// Status and JSON body of the answer to `request`.
pub(super) fn answer(request: minreq::Request) -> (i32, Value) {
    let response = request
        .with_timeout(TIMEOUT)
        .send()
        .expect("an HTTP answer");
    let text = response.as_str().unwrap();
    let body = serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    (response.status_code, body)
}

pub(super) fn get(url: &str) -> (i32, Value) {
    answer(minreq::get(url))
}

pub(super) fn post(url: &str, content_type: &str, body: &[u8]) -> (i32, Value) {
    answer(
        minreq::post(url)
            .with_header("Content-Type", content_type)
            .with_body(body),
    )
}

pub(super) fn pixels_json(pixels: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "pixels": pixels })).unwrap()
}

/// A JSON array of numbers.
pub(super) fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

pub(super) fn probabilities(value: &Value) -> Vec<f64> {
    value["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect()
}

/// The same digit and the same probabilities (within float printing).
pub(super) fn assert_same_prediction(served: &Value, predicted: &Value, what: &str) {
    assert_eq!(served["digit"], predicted["digit"], "{what}: digit");
    for (a, b) in probabilities(served).iter().zip(probabilities(predicted)) {
        assert!((a - b).abs() <= 1e-6, "{what}: probabilities {a} vs {b}");
    }
}

/// The first prediction of `infer predict --json --model MODEL ARGS...`.
pub(super) fn predict_json(model: &Path, args: &[&str]) -> Value {
    let mut all = vec!["predict", "--json", "--model", model.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = infer(&all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let predicted: Value = serde_json::from_slice(&out.stdout).unwrap();
    predicted[0].clone()
}

#[test]
fn served_predictions_equal_infer_predicts_for_pictures_and_pixels() {
    let model = model_dir();
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let server = Server::start(&[model]);
    let dir = tempfile::tempdir().unwrap();
    for index in [0usize, 1, 2, 18, 247] {
        // A picture file: black ink on white, 3x MNIST's size.
        let ink = image::GrayImage::from_fn(28, 28, |x, y| {
            image::Luma([255 - test.image(index)[(y * 28 + x) as usize]])
        });
        let picture = image::imageops::resize(&ink, 84, 84, image::imageops::FilterType::Triangle);
        let path = dir.path().join(format!("digit-{index}.png"));
        picture.save(&path).unwrap();
        let predicted = predict_json(model, &[path.to_str().unwrap()]);
        let (status, served) = post(
            &server.url("/api/predict"),
            "image/png",
            &std::fs::read(&path).unwrap(),
        );
        assert_eq!(status, 200, "{served}");
        assert_same_prediction(
            &served,
            &predicted,
            &format!("picture of test image {index}"),
        );

        // The MNIST pixels themselves, as JSON, against `infer predict --idx`.
        let idx = super::common::test_idx();
        let predicted = predict_json(model, &["--idx", &idx, "--index", &index.to_string()]);
        let (status, served) = post(
            &server.url("/api/predict"),
            "application/json",
            &pixels_json(test.image(index)),
        );
        assert_eq!(status, 200, "{served}");
        assert_same_prediction(
            &served,
            &predicted,
            &format!("pixels of test image {index}"),
        );
        let input: Vec<u8> = serde_json::from_value(served["input"].clone()).unwrap();
        assert_eq!(input, test.image(index), "the input the network got");
    }
    let (stopped, printed) = server.interrupt();
    assert!(stopped, "the server exits successfully on SIGINT");
    assert!(printed.contains("stopped"), "{printed}");
}

#[test]
fn the_page_the_models_the_samples_the_maps_and_the_shift() {
    let model = model_dir();
    // The same run twice: two models, the second named apart.
    let server = Server::start(&[model, model]);
    for (path, content_type, marker) in [
        ("/", "text/html", "id=\"pad\""),
        ("/app.js", "text/javascript", "/api/predict"),
        ("/style.css", "text/css", "#pad"),
    ] {
        let page = minreq::get(server.url(path))
            .with_timeout(TIMEOUT)
            .send()
            .unwrap();
        assert_eq!(page.status_code, 200, "{path}");
        assert!(
            page.headers["content-type"].starts_with(content_type),
            "{path}"
        );
        assert!(page.as_str().unwrap().contains(marker), "{path}");
    }

    let (status, models) = get(&server.url("/api/models"));
    assert_eq!(status, 200);
    let models = models.as_array().unwrap();
    let name = model.file_name().unwrap().to_str().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["name"], name);
    assert_eq!(models[1]["name"], format!("{name}-2"));
    assert_eq!(models[0]["parameters"], 61_706);
    assert_eq!(models[0]["summary"]["layers"].as_array().unwrap().len(), 8);
    assert_eq!(models[0]["first_layer_kernels"]["channels"], 6);
    assert!(
        models[0]["summary_text"]
            .as_str()
            .unwrap()
            .contains("61,706")
    );

    let (status, sample) = get(&server.url("/api/sample?index=0"));
    assert_eq!(status, 200);
    assert_eq!(sample["label"], 7);
    let pixels: Vec<u8> = serde_json::from_value(sample["pixels"].clone()).unwrap();
    let (status, random) = get(&server.url("/api/sample"));
    assert_eq!(status, 200);
    assert!(random["index"].as_u64().unwrap() < 10_000);

    let url = server.url(&format!("/api/predict?model={name}-2&maps=true"));
    let (status, look) = post(&url, "application/json", &pixels_json(&pixels));
    assert_eq!(status, 200, "{look}");
    assert_eq!(look["model"], format!("{name}-2"));
    let maps = look["maps"].as_array().unwrap();
    let shapes: Vec<[u64; 3]> = maps
        .iter()
        .map(|m| {
            let values = m["values"].as_array().unwrap().len() as u64;
            let shape = ["channels", "height", "width"].map(|k| m[k].as_u64().unwrap());
            assert_eq!(values, shape.iter().product::<u64>(), "{}", m["title"]);
            shape
        })
        .collect();
    assert_eq!(
        shapes,
        [[6, 28, 28], [16, 10, 10]],
        "LeNet-5's two conv layers"
    );

    // Shifted 3 right and 2 up: the input is the same digit moved.
    let url = server.url("/api/predict?dx=3&dy=-2");
    let (status, moved) = post(&url, "application/json", &pixels_json(&pixels));
    assert_eq!(status, 200, "{moved}");
    let input: Vec<u8> = serde_json::from_value(moved["input"].clone()).unwrap();
    assert_eq!(input, mnist_data::translate(&pixels, 3, -2));
    assert!(
        moved["maps"].as_array().unwrap().is_empty(),
        "no maps unless asked"
    );
}

#[test]
fn bad_requests_get_their_status_and_message_and_the_server_keeps_serving() {
    let server = Server::start(&[model_dir()]);
    let predict = server.url("/api/predict");
    let blank = {
        let mut png = Vec::new();
        image::GrayImage::from_pixel(40, 40, image::Luma([255]))
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    };
    // What is wrong, URL, content type, body, expected status, what the message must say.
    type Case<'a> = (&'a str, String, &'a str, &'a [u8], i32, &'a str);
    let cases: [Case<'_>; 8] = [
        (
            "malformed JSON",
            predict.clone(),
            "application/json",
            b"{\"pixels\": [1, 2",
            400,
            "malformed JSON",
        ),
        (
            "a pixel out of range",
            predict.clone(),
            "application/json",
            b"{\"pixels\": [300]}",
            400,
            "malformed JSON",
        ),
        (
            "a wrong pixel count",
            predict.clone(),
            "application/json",
            b"{\"pixels\": [1, 2, 3]}",
            400,
            "expected 784 pixels",
        ),
        (
            "not a picture",
            predict.clone(),
            "image/png",
            b"this is not a PNG",
            415,
            "not a picture",
        ),
        (
            "a blank picture",
            predict.clone(),
            "image/png",
            &blank,
            422,
            "no digit found",
        ),
        (
            "an empty body",
            predict.clone(),
            "image/png",
            b"",
            400,
            "empty body",
        ),
        (
            "an unknown model",
            server.url("/api/predict?model=resnet"),
            "application/json",
            b"{}",
            404,
            "unknown model 'resnet'",
        ),
        (
            "too large a shift",
            server.url("/api/predict?dx=9"),
            "application/json",
            b"{}",
            400,
            "dx = 9",
        ),
    ];
    for (what, url, content_type, body, status, message) in cases {
        let (got, error) = post(&url, content_type, body);
        assert_eq!(got, status, "{what}: {error}");
        let text = error["error"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{what}: {text:?} does not say {message:?}"
        );
    }
    // A body announced larger than allowed is refused before it is sent: the headers alone.
    let (status, error) = announce_body(&server, "/api/predict", 9 << 20);
    assert_eq!(status, 413, "{error}");
    assert!(error.contains("larger than"), "{error}");
    let (status, error) = get(&server.url("/api/sample?index=10000"));
    assert_eq!(status, 404, "{error}");
    let (status, error) = get(&server.url("/api/nothing"));
    assert_eq!(status, 404, "{error}");
    // Still serving.
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let (status, _) = post(&predict, "application/json", &pixels_json(test.image(0)));
    assert_eq!(status, 200);
}

/// Sends a POST to `path` whose headers announce a body of `length` bytes, sends none, and
/// returns the status and the body of the answer.
pub(super) fn announce_body(server: &Server, path: &str, length: usize) -> (i32, String) {
    let address = server.address();
    send_raw(
        server,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\n\
             Content-Length: {length}\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// Sends `request` as it is (it should ask for `Connection: close`) and returns the status and
/// the whole answer, headers and body.
pub(super) fn send_raw(server: &Server, request: &str) -> (i32, String) {
    let mut stream = std::net::TcpStream::connect(server.address()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(TIMEOUT)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok();
    (status_of(&answer), answer)
}

/// The status of an HTTP answer's text.
pub(super) fn status_of(answer: &str) -> i32 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// The JSON body of an HTTP answer's text, and its `error`.
pub(super) fn error_of(answer: &str) -> String {
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let body: Value =
        serde_json::from_str(body).unwrap_or_else(|_| panic!("no JSON body: {answer:?}"));
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {answer:?}"))
        .to_string()
}

/// The `q` quantile of sorted `values`.
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[test]
fn sixteen_concurrent_clients_are_all_served() {
    const CLIENTS: usize = 16;
    const EACH: usize = 32;
    let server = Server::start(&[model_dir()]);
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let url = server.url("/api/predict?maps=true");
    // One client alone first: the time of one prediction with all feature maps, batch 1.
    let mut alone: Vec<f64> = (0..100)
        .map(|i| {
            let (status, look) = post(&url, "application/json", &pixels_json(test.image(i)));
            assert_eq!(status, 200, "{look}");
            look["inference_ms"].as_f64().unwrap()
        })
        .collect();
    alone.sort_by(f64::total_cmp);
    println!(
        "infer serve, one client: LeNet-5 prediction with all feature maps, batch 1, server-side \
         p50 {:.2} ms, p99 {:.2} ms (100 requests)",
        quantile(&alone, 0.5),
        quantile(&alone, 0.99)
    );
    let started = Instant::now();
    let results: Vec<(f64, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|client_index| {
                let (url, test) = (&url, &test);
                scope.spawn(move || {
                    (0..EACH)
                        .map(|i| {
                            let image = test.image(client_index * EACH + i);
                            let sent = Instant::now();
                            let (status, look) = post(url, "application/json", &pixels_json(image));
                            let latency = sent.elapsed().as_secs_f64() * 1e3;
                            assert_eq!(status, 200, "{look}");
                            (latency, look["inference_ms"].as_f64().unwrap())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(results.len(), CLIENTS * EACH);
    let mut latency: Vec<f64> = results.iter().map(|r| r.0).collect();
    let mut inference: Vec<f64> = results.iter().map(|r| r.1).collect();
    latency.sort_by(f64::total_cmp);
    inference.sort_by(f64::total_cmp);
    println!(
        "infer serve: {} requests (LeNet-5 with all feature maps) from {CLIENTS} clients in {elapsed:.2} s ({:.0}/s); \
         request latency p50 {:.2} ms, p99 {:.2} ms; server-side inference p50 {:.2} ms, p99 {:.2} ms",
        results.len(),
        results.len() as f64 / elapsed,
        quantile(&latency, 0.5),
        quantile(&latency, 0.99),
        quantile(&inference, 0.5),
        quantile(&inference, 0.99),
    );
}
