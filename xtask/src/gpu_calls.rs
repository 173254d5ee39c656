//! `cargo xtask gpu-calls`: how many kernels a training step and an inference batch launch on
//! wgpu, and how many times they read results back to the host. On a GPU a small network's
//! step is bound by these counts, not by its arithmetic; they do not depend on the machine,
//! so Mesa's software Vulkan (lavapipe) measures them on a CPU-only machine. The counts are
//! wgpu's own ([`custom_kernels::gpu_calls`]).

use std::fmt::Write as _;

use anyhow::{Result, bail};
use clap::Args;
use custom_kernels::KernelChoice;
use custom_kernels::gpu_calls::{GpuCallCounter, GpuCalls};
use model::{ModelConfig, ModelKind};
use serde::Serialize;
use training::backend::TrainingBackendBounds;

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
}

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
