//! `cargo xtask gpu-calls`: how many kernels a training step and an inference batch launch on
//! wgpu, and how many times they read results back to the host; and the same per training step
//! of the training tool itself (Burn's `Learner`, its metrics included). On a GPU a small
//! network's step is bound by these counts, not by its arithmetic; they do not depend on the
//! machine, so Mesa's software Vulkan (lavapipe) measures them on a CPU-only machine. The
//! counts are wgpu's own ([`custom_kernels::gpu_calls`]).

use std::fmt::Write as _;

use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser};
use custom_kernels::KernelChoice;
use custom_kernels::gpu_calls::{GpuCallCounter, GpuCalls};
use model::{ModelConfig, ModelKind};
use serde::Serialize;
use training::backend::{BackendChoice, TrainingBackendBounds};
use training::{SessionOptions, TrainArgs, run_on_backend};

use crate::bench::cases::{inference_batches, sync, training_steps};

/// Options of `cargo xtask gpu-calls`.
#[derive(Debug, Args)]
pub struct GpuCallsArgs {
    /// Networks to count.
    #[arg(long, value_delimiter = ',', default_value = "lenet5,convnet,mlp")]
    pub models: Vec<ModelKind>,
    /// Kernels to count: the custom ones, Burn's built-in ops, or both.
    #[arg(long, value_delimiter = ',', default_value = "custom,builtin")]
    pub kernels: Vec<KernelChoice>,
    /// Images per batch (the counts do not depend on it).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub batch: u64,
    /// Steps counted, after two uncounted ones (the first compiles the kernels).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub steps: u64,
    /// Training steps the training tool's longer epoch has over its shorter one (LeNet-5, one
    /// image per batch); 0 counts no epoch.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub tool_steps: u64,
}

/// Training steps of the training tool's shorter epoch.
const SHORT_EPOCH_STEPS: u64 = 10;
/// Validation and test images of both of the tool's epochs (the same, so their calls cancel).
const TOOL_VALID_IMAGES: &str = "512";
const TOOL_TEST_IMAGES: &str = "64";

/// The counts of one network with one set of kernels.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkCalls {
    pub network: ModelKind,
    pub kernels: KernelChoice,
    /// Per training step (forward, loss, backward, Adam update).
    pub train_step: PerRun,
    /// Per inference batch (forward and the predicted classes).
    pub inference: PerRun,
}

/// Counts per run of a step, averaged over the counted runs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct PerRun {
    pub launches: f64,
    pub reads: f64,
}

/// Runs each network's step and inference on the autodiff backend `AB` (wgpu) and counts
/// their GPU calls with `counter` ([`GpuCallCounter::install`]).
pub fn count<AB: TrainingBackendBounds>(
    args: &GpuCallsArgs,
    device: &AB::Device,
    counter: &GpuCallCounter,
) -> Result<Vec<NetworkCalls>> {
    let batch = args.batch as usize;
    let mut rows = Vec::new();
    for &network in &args.models {
        for &kernels in &args.kernels {
            let config = ModelConfig::new().with_kind(network).with_kernels(kernels);
            let train_step = per_run(
                counter,
                args.steps,
                training_steps::<AB>(&config, batch, device),
                || sync::<AB>(device),
            );
            let inference = per_run(
                counter,
                args.steps,
                inference_batches::<AB::InnerBackend>(&config, batch, device),
                || sync::<AB::InnerBackend>(device),
            );
            rows.push(NetworkCalls {
                network,
                kernels,
                train_step,
                inference,
            });
        }
    }
    if rows.iter().all(|r| r.train_step.launches == 0.0) {
        bail!("no kernel launch was counted: is this backend wgpu?");
    }
    Ok(rows)
}

/// The training tool's calls per training step: the difference between two one-epoch runs
/// whose training sets differ by `extra_steps` batches, over `extra_steps` (validation, the
/// checkpoint, the final test and the kernels' compilation are the same in both, and cancel).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ToolCalls {
    /// The shorter run's calls, in all.
    pub short_run: GpuCalls,
    /// The longer run's calls, in all.
    pub long_run: GpuCalls,
    /// Training steps the longer run has over the shorter.
    pub extra_steps: u64,
    /// Per extra step.
    pub per_step: PerRun,
}

/// Trains LeNet-5 with the training tool's library on wgpu, one epoch of
/// [`SHORT_EPOCH_STEPS`] batches of one image and one of `extra_steps` more, in folders under
/// `scratch`, counting their calls with `counter`.
pub fn count_tool(extra_steps: u64, scratch: &Path, counter: &GpuCallCounter) -> Result<ToolCalls> {
    let run = |steps: u64, name: &str| -> Result<GpuCalls> {
        let dir = scratch.join(name);
        let limit = steps.to_string();
        let args = TrainArgs::try_parse_from([
            "training",
            "--backend",
            "wgpu",
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--batch-size",
            "1",
            "--train-limit",
            &limit,
            "--valid-size",
            TOOL_VALID_IMAGES,
            "--test-limit",
            TOOL_TEST_IMAGES,
        ])?;
        let options = SessionOptions {
            artifacts: dir.clone(),
            data_dir: mnist_data::resolve_data_dir(None),
            resume: false,
            plain_output: true,
            watch: None,
        };
        let before = counter.now();
        run_on_backend(BackendChoice::Wgpu, args.to_config()?, &options)
            .with_context(|| format!("training in {}", dir.display()))?;
        Ok(counter.now() - before)
    };
    let short_run = run(SHORT_EPOCH_STEPS, "short")?;
    let long_run = run(SHORT_EPOCH_STEPS + extra_steps, "long")?;
    let extra = long_run - short_run;
    Ok(ToolCalls {
        short_run,
        long_run,
        extra_steps,
        per_step: PerRun {
            launches: extra.launches as f64 / extra_steps as f64,
            reads: extra.reads as f64 / extra_steps as f64,
        },
    })
}

/// The training tool's counts as a markdown table.
pub fn tool_table(calls: &ToolCalls) -> String {
    let steps = |extra: u64| SHORT_EPOCH_STEPS + extra;
    format!(
        "| training tool, LeNet-5, one epoch | training steps | launches | host reads |\n|---|---:|---:|---:|\n| shorter | {} | {} | {} |\n| longer | {} | {} | {} |\n| per extra step | 1 | {:.2} | {:.4} |\n",
        steps(0),
        calls.short_run.launches,
        calls.short_run.reads,
        steps(calls.extra_steps),
        calls.long_run.launches,
        calls.long_run.reads,
        calls.per_step.launches,
        calls.per_step.reads,
    )
}

/// Two uncounted runs, then the calls of `runs` runs (each followed by a sync, as a training
/// loop that reads nothing would not do: the syncs read nothing back), per run.
fn per_run(counter: &GpuCallCounter, runs: u64, mut run: impl FnMut(), sync: impl Fn()) -> PerRun {
    for _ in 0..2 {
        run();
        sync();
    }
    let before = counter.now();
    for _ in 0..runs {
        run();
        sync();
    }
    let GpuCalls { launches, reads } = counter.now() - before;
    PerRun {
        launches: launches as f64 / runs as f64,
        reads: reads as f64 / runs as f64,
    }
}

/// The counts as a markdown table.
pub fn table(rows: &[NetworkCalls]) -> String {
    let mut out = String::from(
        "| network | kernels | launches per training step | host reads per training step | launches per inference batch | host reads per inference batch |\n|---|---|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            r.network,
            r.kernels,
            r.train_step.launches,
            r.train_step.reads,
            r.inference.launches,
            r.inference.reads
        );
    }
    out
}
