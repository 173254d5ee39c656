//! `cargo xtask serve-training`: what training from the page costs the page. Starts the release
//! `infer serve --runs DIR`, trains a small LeNet-5 from its API so that there is a model to
//! ask, then asks `/api/predict` (with every feature map, as the page does) while the server
//! idles and while it trains a LeNet-5 on 10,000 images for 2 epochs (the issue's classroom
//! run; settings below), and prints the training's wall time and the requests' latencies.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

/// The options of `cargo xtask serve-training`.
#[derive(Debug, clap::Args)]
pub struct ServeTrainingArgs {
    /// Requests timed while the server idles.
    #[arg(long, default_value_t = 300)]
    pub idle_requests: usize,
    /// MNIST folder (default: as the tools find it).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

/// The classroom run timed: LeNet-5, 10,000 training images, 2 epochs (the tool's other
/// defaults).
const CLASSROOM_RUN: &str = r#"{"model": "lenet5", "epochs": 2, "train-limit": 10000}"#;

/// The run that gives the server a model to ask before the timed one.
const FIRST_RUN: &str = r#"{"model": "lenet5", "epochs": 1, "train-limit": 2000, "valid-size": 500, "test-limit": 500}"#;

/// Seconds one request or one run may take.
const TIMEOUT_SECONDS: u64 = 600;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn json_of(response: minreq::Response) -> Result<(i32, Value)> {
    let status = response.status_code;
    Ok((status, serde_json::from_str(response.as_str()?)?))
}

impl Server {
    fn start(runs: &std::path::Path, data: Option<&PathBuf>) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let infer = exe.with_file_name("infer");
        if !infer.is_file() {
            bail!(
                "{} is missing: build it first (cargo build --release -p infer)",
                infer.display()
            );
        }
        let mut command = Command::new(&infer);
        command.args(["serve", "--port", "0", "--runs"]).arg(runs);
        if let Some(data) = data {
            command.arg("--data").arg(data);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", infer.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("no stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let base = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .with_context(|| format!("infer serve printed {line:?}, not its address"))?
            .trim_end_matches('/')
            .to_string();
        // The server's training lines are not this report's: read and dropped.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Ok(Self { child, base })
    }

    fn get(&self, path: &str) -> Result<(i32, Value)> {
        json_of(
            minreq::get(format!("{}{path}", self.base))
                .with_timeout(TIMEOUT_SECONDS)
                .send()?,
        )
    }

    fn post(&self, path: &str, body: &str) -> Result<(i32, Value)> {
        json_of(
            minreq::post(format!("{}{path}", self.base))
                .with_header("Content-Type", "application/json")
                .with_body(body)
                .with_timeout(TIMEOUT_SECONDS)
                .send()?,
        )
    }

    /// Starts a training of `settings`: its name.
    fn train(&self, settings: &str) -> Result<String> {
        let (status, run) = self.post("/api/train", settings)?;
        if status != 202 {
            bail!("the training did not start ({status}): {run}");
        }
        Ok(run["name"].as_str().unwrap_or_default().to_string())
    }

    /// The running or last run, as `GET /api/train` gives it.
    fn run_state(&self) -> Result<Value> {
        Ok(self.get("/api/train")?.1["run"].clone())
    }

    /// The run once it has ended.
    fn wait_for_end(&self) -> Result<Value> {
        let started = Instant::now();
        loop {
            let run = self.run_state()?;
            match run["status"].as_str() {
                Some("running" | "stopping") => {}
                Some("failed") => bail!("the training failed: {}", run["error"]),
                _ => return Ok(run),
            }
            if started.elapsed() > Duration::from_secs(TIMEOUT_SECONDS) {
                bail!("the training did not end within {TIMEOUT_SECONDS} s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Milliseconds of one `/api/predict` request with the maps, of `model`, for the JSON pixels
/// `body`.
fn predict(server: &Server, model: &str, body: &str) -> Result<f64> {
    let sent = Instant::now();
    let (status, look) = server.post(&format!("/api/predict?model={model}&maps=true"), body)?;
    let took = sent.elapsed().as_secs_f64() * 1e3;
    if status != 200 {
        bail!("/api/predict answered {status}: {look}");
    }
    Ok(took)
}

/// p50, p99 and the largest of `latencies` (sorted in place).
fn quantiles(latencies: &mut [f64]) -> (f64, f64, f64) {
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), latencies[latencies.len() - 1])
}

/// Runs the measurement and prints its table.
pub fn run(args: &ServeTrainingArgs) -> Result<()> {
    let runs = tempfile::tempdir()?;
    let server = Server::start(runs.path(), args.data.as_ref())?;
    let model = server.train(FIRST_RUN)?;
    server.wait_for_end()?;
    let data = mnist_data::resolve_data_dir(args.data.as_deref());
    let test = mnist_data::Mnist::load_test(&data)?;
    let bodies: Vec<String> = (0..test.len().min(1000))
        .map(|i| json!({ "pixels": test.image(i) }).to_string())
        .collect();

    let mut idle = (0..args.idle_requests)
        .map(|i| predict(&server, &model, &bodies[i % bodies.len()]))
        .collect::<Result<Vec<f64>>>()?;

    let started = Instant::now();
    server.train(CLASSROOM_RUN)?;
    let mut busy = Vec::new();
    let run = loop {
        busy.push(predict(
            &server,
            &model,
            &bodies[busy.len() % bodies.len()],
        )?);
        let run = server.run_state()?;
        if !matches!(run["status"].as_str(), Some("running" | "stopping")) {
            break run;
        }
        if started.elapsed() > Duration::from_secs(TIMEOUT_SECONDS) {
            bail!("the training did not end within {TIMEOUT_SECONDS} s");
        }
    };
    if run["status"] != "finished" {
        bail!("the timed run ended {}: {}", run["status"], run["error"]);
    }
    let wall = started.elapsed().as_secs_f64();
    let threads = run["threads"].as_u64().unwrap_or_default();
    let (idle50, idle99, idle_max) = quantiles(&mut idle);
    let (busy50, busy99, busy_max) = quantiles(&mut busy);
    println!(
        "Training from the page: LeNet-5, 10,000 images, 2 epochs ({CLASSROOM_RUN}), on {threads} training thread(s) of {} cores\n",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!("| | value |\n|---|---:|");
    println!(
        "| the run, from the start request to its end (the server's clock) | {:.2} s |",
        run["seconds"].as_f64().unwrap_or(f64::NAN)
    );
    println!("| the same, seen by the client | {wall:.2} s |");
    println!(
        "| its test accuracy | {:.2}% |",
        run["test_accuracy"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "\n| /api/predict with the maps, one client | requests | p50 | p99 | max |\n|---|---:|---:|---:|---:|"
    );
    println!(
        "| idle server | {} | {idle50:.2} ms | {idle99:.2} ms | {idle_max:.2} ms |",
        idle.len()
    );
    println!(
        "| while it trains | {} | {busy50:.2} ms | {busy99:.2} ms | {busy_max:.2} ms |",
        busy.len()
    );
    Ok(())
}
