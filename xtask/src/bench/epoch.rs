//! Whole epochs side by side (`--peer pytorch --epochs convnet,...`): the project's training
//! tool, run as a user runs it (its own binary, one epoch, the plain recipe), then the PyTorch
//! script training one epoch of the same number of images with the same batch size, optimizer
//! and validation split size, alternating round by round. Each side's epoch is split into the
//! time in training steps, in the validation pass and the rest (the tool records the split in
//! `metrics.csv`; the script times its steps the same way).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use clap::Parser;
use model::ModelKind;
use serde::Serialize;
use training::args::{PLAIN_RECIPE, TrainArgs};
use training::config::{OptimizerConfig, TrainConfig};
use training::epoch_log::read_metrics_csv;
use training::run::valid_batch_size;
use workbench_io::names::METRICS_FILE;

use super::peer::{Peer, PeerEpoch};

/// One epoch of the training tool.
#[derive(Clone, Debug, Serialize)]
pub struct ToolEpoch {
    /// Training and validation, seconds, as the tool records it in `metrics.csv`.
    pub seconds: f64,
    /// Of `seconds`, in training steps.
    pub step_seconds: f64,
    /// Of `seconds`, in the validation pass.
    pub valid_seconds: f64,
    /// Validation accuracy, %.
    pub valid_accuracy: f64,
    /// Peak resident memory of the training process, MiB.
    pub peak_rss_mib: f64,
}

/// One round of the comparison for one network.
#[derive(Clone, Debug, Serialize)]
pub struct EpochComparison {
    /// The network.
    pub network: ModelKind,
    /// Training images per epoch (both sides).
    pub images: usize,
    /// The training tool's epoch.
    pub project: ToolEpoch,
    /// PyTorch's epoch.
    pub peer: PeerEpoch,
}

/// The training tool's options for a one-epoch run of `network` into `artifacts`.
fn tool_args(network: ModelKind, artifacts: &Path) -> Vec<String> {
    let network = network.to_string();
    let epoch = ["--model", &network, "--epochs", "1", "--plain"];
    // The test evaluation after training is not part of the epoch: keep it short.
    let short_test = ["--test-limit", "256", "--artifacts"];
    // What the PyTorch script does: the plain recipe (the tool's defaults aim at a full run's
    // accuracy: a cosine schedule and shifted images).
    epoch
        .iter()
        .chain(&PLAIN_RECIPE)
        .chain(&short_test)
        .map(|s| s.to_string())
        .chain([artifacts.display().to_string()])
        .collect()
}

/// The `training` binary beside this one in the target directory, built if needed.
fn training_binary() -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--package", "training"])
        .status()
        .context("cannot run cargo to build the training tool")?;
    if !status.success() {
        bail!("building the training tool failed ({status})");
    }
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name(format!("training{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        bail!("no training binary at {}", binary.display());
    }
    Ok(binary)
}

/// Waits for `child` and returns its exit code (-1 when killed by a signal) and its peak
/// resident memory in MiB (`wait4`, so the figure is this process's alone).
fn wait_with_peak_rss(child: std::process::Child) -> Result<(i32, f64)> {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: `wait4` writes only the status and the zero-initialised `rusage` it is given;
    // `pid` is our own child, not yet waited for (std's `Child` is dropped without waiting).
    let (reaped, usage) = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let reaped = libc::wait4(pid, &mut status, 0, &mut usage);
        (reaped, usage)
    };
    drop(child);
    if reaped != pid {
        bail!(
            "cannot wait for the training tool: {}",
            std::io::Error::last_os_error()
        );
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    Ok((code, usage.ru_maxrss as f64 / 1024.0))
}

fn tool_epoch(binary: &Path, network: ModelKind) -> Result<ToolEpoch> {
    let dir = tempfile::tempdir()?;
    let artifacts = dir.path().join("run");
    let log_path = dir.path().join("output.log");
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(binary)
        .args(tool_args(network, &artifacts))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the training tool")?;
    let (code, peak_rss_mib) = wait_with_peak_rss(child)?;
    if code != 0 {
        let output = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last: Vec<&str> = output.lines().rev().take(5).collect();
        bail!(
            "the training tool failed (exit code {code}): {}",
            last.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let history = read_metrics_csv(&artifacts.join(METRICS_FILE))?;
    let first = history
        .first()
        .context("the training tool recorded no epoch")?;
    let (Some(step_seconds), Some(valid_seconds)) = (first.step_seconds, first.valid_seconds)
    else {
        bail!("the training tool did not record where its epoch's time went");
    };
    Ok(ToolEpoch {
        seconds: first.seconds,
        step_seconds,
        valid_seconds,
        valid_accuracy: first.valid_accuracy,
        peak_rss_mib,
    })
}

/// What the peer needs to train the same epoch as the tool's `config`.
#[derive(Serialize)]
struct PeerEpochSpec {
    network: ModelKind,
    dropout: f64,
    train_images: PathBuf,
    train_labels: PathBuf,
    valid: usize,
    batch: usize,
    valid_batch: usize,
    lr: f64,
    epsilon: f32,
    mean: f32,
    std: f32,
    seed: u64,
}

fn peer_spec(config: &TrainConfig, data_dir: &Path) -> Result<PeerEpochSpec> {
    let OptimizerConfig::Adam { epsilon, .. } = config.optimizer else {
        bail!("the training tool's default optimizer is no longer Adam");
    };
    use mnist_data::files::{TRAIN_IMAGES, TRAIN_LABELS, locate};
    Ok(PeerEpochSpec {
        network: config.model.kind,
        dropout: config.model.dropout,
        train_images: locate(data_dir, TRAIN_IMAGES)?,
        train_labels: locate(data_dir, TRAIN_LABELS)?,
        valid: config.valid_size,
        batch: config.batch_size,
        valid_batch: valid_batch_size(config.batch_size),
        lr: config.learning_rate,
        epsilon,
        mean: mnist_data::PIXEL_MEAN,
        std: mnist_data::PIXEL_STD,
        seed: config.seed,
    })
}

/// Runs `rounds` rounds of (tool epoch, PyTorch epoch) for each network, printing each.
pub fn compare(
    networks: &[ModelKind],
    rounds: usize,
    peer: &mut Peer,
) -> Result<Vec<EpochComparison>> {
    let binary = training_binary()?;
    let data_dir = mnist_data::resolve_data_dir(None);
    println!(
        "\nOne training epoch (training + validation), the training tool's plain recipe; each side's seconds in training steps, in validation and the rest (other):\n"
    );
    println!(
        "| network | images | project s | steps | valid | other | PyTorch s | steps | valid | other | project speed / PyTorch | project valid acc | PyTorch valid acc | project peak RSS MiB |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut comparisons = Vec::new();
    for &network in networks {
        let args = TrainArgs::try_parse_from(
            std::iter::once("training".to_string()).chain(tool_args(network, Path::new("."))),
        )?;
        let config = args.to_config()?;
        let spec = peer_spec(&config, &data_dir)?;
        for _ in 0..rounds {
            let project = tool_epoch(&binary, network)?;
            let peer_epoch = peer.epoch(&spec)?;
            let c = EpochComparison {
                network,
                images: peer_epoch.images,
                project,
                peer: peer_epoch,
            };
            let split = |total: f64, steps: f64, valid: f64| {
                let other = total - steps - valid;
                format!(
                    "{total:.1} | {steps:.1} | {valid:.1} | {other:.1} ({:.0}%)",
                    100.0 * other / total
                )
            };
            println!(
                "| {} | {} | {} | {} | {:.2}x | {:.2}% | {:.2}% | {:.0} |",
                network,
                c.images,
                split(
                    c.project.seconds,
                    c.project.step_seconds,
                    c.project.valid_seconds
                ),
                split(c.peer.seconds, c.peer.step_seconds, c.peer.valid_seconds),
                c.peer.seconds / c.project.seconds,
                c.project.valid_accuracy,
                c.peer.valid_accuracy,
                c.project.peak_rss_mib,
            );
            comparisons.push(c);
        }
    }
    Ok(comparisons)
}
