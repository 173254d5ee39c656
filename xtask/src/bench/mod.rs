//! `cargo xtask bench`: the custom kernels against Burn's built-in ops, case by case.

mod cases;
mod report;
mod timing;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use custom_kernels::Kernels;
use training::backend::TrainingBackendBounds;

use cases::{Selection, run_cases};
use report::{BenchReport, header, row, write_json};
use timing::Repeats;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Backend to measure (wgpu needs `--features wgpu`).
    #[arg(long, value_enum, default_value = "ndarray")]
    backend: BackendChoice,
    /// Only cases whose name contains this, e.g. `convnet.conv2`, `fwd+bwd`, `train`, `b64`.
    #[arg(long)]
    filter: Option<String>,
    /// Timed runs per case (default: as many as fit in --budget-ms, at least 5).
    #[arg(long)]
    repeat: Option<usize>,
    /// Time to spend on each case's timed runs when --repeat is not given.
    #[arg(long, default_value_t = 1500)]
    budget_ms: u64,
    /// Untimed warm-up runs per case.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Batch sizes of the conv-block cases.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    batches: Vec<usize>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Time only one implementation (for profiling it, e.g. under `perf record`).
    #[arg(long, value_enum)]
    only: Option<Only>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    Custom,
    Builtin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BackendChoice {
    Ndarray,
    Wgpu,
}

/// Runs the benchmark.
pub fn bench(args: BenchArgs) -> Result<()> {
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    match args.backend {
        BackendChoice::Ndarray => {
            run::<burn::backend::Autodiff<burn_ndarray::NdArray>>("ndarray", &args)
        }
        #[cfg(feature = "wgpu")]
        BackendChoice::Wgpu => run::<burn::backend::Autodiff<burn::backend::Wgpu>>("wgpu", &args),
        #[cfg(not(feature = "wgpu"))]
        BackendChoice::Wgpu => bail!(
            "this xtask was built without wgpu: cargo run --release -p xtask --features wgpu -- bench --backend wgpu"
        ),
    }
}

fn run<AB: TrainingBackendBounds>(backend: &str, args: &BenchArgs) -> Result<()> {
    let threads = rayon_threads();
    let selection = Selection {
        filter: args.filter.as_deref(),
        batches: &args.batches,
        repeats: Repeats {
            warmup: args.warmup,
            fixed: args.repeat,
            budget: Duration::from_millis(args.budget_ms),
        },
        kernels: match args.only {
            None => &[Kernels::Custom, Kernels::Builtin],
            Some(Only::Custom) => &[Kernels::Custom],
            Some(Only::Builtin) => &[Kernels::Builtin],
        },
    };
    println!(
        "backend {backend}, {threads} CPU threads; median of the timed runs (min-max), speed-up = built-in / custom\n"
    );
    println!("{}", header());
    let results = run_cases::<AB>(&Default::default(), &selection, |r| println!("{}", row(r)));
    if results.is_empty() {
        bail!(
            "no case matches --filter {:?}",
            args.filter.as_deref().unwrap_or("")
        );
    }
    if let Some(path) = &args.json {
        write_json(
            &BenchReport {
                backend,
                threads,
                results: &results,
            },
            path,
        )?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// Threads of the pool the CPU kernels run on.
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
