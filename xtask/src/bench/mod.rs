//! `cargo xtask bench`: the custom kernels against Burn's built-in ops, case by case; with
//! `--peer pytorch`, against PyTorch on the same machine in the same run.

pub mod cases;
mod epoch;
mod peak;
mod peer;
mod report;
pub mod timing;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use custom_kernels::KernelChoice;
use model::ModelKind;
use training::backend::{BackendChoice, TrainingBackendBounds};

use cases::{CaseResult, Selection, run_cases};
use peer::Peer;
use report::{About, BenchReport, header, peer_header, peer_row, row, write_json};
use timing::Repeats;

/// Options of `cargo xtask bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Backend to measure (wgpu needs `--features wgpu`).
    #[arg(long, ignore_case = true, default_value_t = BackendChoice::Ndarray)]
    pub backend: BackendChoice,
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
    /// Rounds over all the selected cases; each case then reports the median of its rounds'
    /// medians and the fastest and slowest run of any round (a burst of other work on a
    /// noisy machine spoils one round of a case, not its result).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Batch sizes of the conv-block cases.
    #[arg(long, value_delimiter = ',', default_value = "1,64,256")]
    batches: Vec<usize>,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Time only one implementation (for profiling it, e.g. under `perf record`).
    #[arg(long, value_enum)]
    only: Option<Only>,
    /// Time every case with a peer too, right after the project's own timing of it, and
    /// compare the project (custom kernels) with it.
    #[arg(long, value_enum, conflicts_with = "only")]
    peer: Option<PeerChoice>,
    /// Python that runs the peer [default: .venv-peer/bin/python, else python3].
    #[arg(long, requires = "peer")]
    python: Option<PathBuf>,
    /// Measure the machine's SGEMM peak first (always done with --peer).
    #[arg(long)]
    peak: bool,
    /// With --peer: also train one whole epoch of these networks with the training tool and
    /// with the peer, e.g. `--epochs convnet,lenet5`.
    #[arg(long, value_delimiter = ',', requires = "peer")]
    epochs: Vec<ModelKind>,
    /// Rounds of the epoch comparison (tool, peer, tool, peer, ...).
    #[arg(long, default_value_t = 1)]
    epoch_rounds: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PeerChoice {
    /// PyTorch on the CPU (`xtask/peer/pytorch_bench.py`).
    Pytorch,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Only {
    Custom,
    Builtin,
}

/// The error of `--backend wgpu` in a build without the wgpu bench.
pub fn wgpu_not_built() -> anyhow::Error {
    anyhow::anyhow!(
        "this xtask was built without the wgpu bench: cargo run --release -p xtask --features wgpu -- bench --backend wgpu"
    )
}

/// Runs the benchmark on the autodiff backend `AB` (and its inner backend), the one
/// `args.backend` names. It is generic so that the binary instantiates it (see `lib.rs`).
pub fn run<AB: TrainingBackendBounds>(args: &BenchArgs) -> Result<()> {
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    let threads = rayon_threads();
    let mut peer = match args.peer {
        Some(PeerChoice::Pytorch) => Some(Peer::start(args.python.as_deref(), threads)?),
        None => None,
    };
    let selection = Selection {
        filter: args.filter.as_deref(),
        batches: &args.batches,
        repeats: Repeats {
            warmup: args.warmup,
            fixed: args.repeat,
            budget: Duration::from_millis(args.budget_ms),
        },
        // With a peer the project side is the custom kernels (`--only` conflicts with it).
        kernels: match (args.only, &peer) {
            (Some(Only::Custom), _) | (None, Some(_)) => &[KernelChoice::Custom],
            (Some(Only::Builtin), _) => &[KernelChoice::Builtin],
            (None, None) => &[KernelChoice::Custom, KernelChoice::Builtin],
        },
    };
    let about = About {
        date: time::OffsetDateTime::now_utc().date().to_string(),
        cpu: cpu_model(),
        backend: args.backend.to_string(),
        cpu_conv: (args.backend == BackendChoice::Ndarray).then(cases::cpu_conv_paths),
        threads,
        peak: (args.peak || peer.is_some()).then(peak::measure),
        peer: peer.as_ref().map(|p| p.about.clone()),
    };
    println!("{about}");
    let medians = match args.rounds {
        1 => "median of the timed runs (min-max)".to_string(),
        n => format!(
            "median over {n} rounds of each round's median of the timed runs (min-max of all runs)"
        ),
    };
    let with_peer = peer.is_some();
    let print_row = |r: &CaseResult| match with_peer {
        true => println!("{}", peer_row(r, about.peak.as_ref())),
        false => println!("{}", row(r)),
    };
    match peer {
        Some(_) => {
            println!(
                "{medians}; project = custom kernels; speed = PyTorch time / project time; each case timed by the project, then by PyTorch\n"
            );
            println!("{}", peer_header());
        }
        None => {
            println!("{medians}, speed-up = built-in / custom\n");
            println!("{}", header());
        }
    }
    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        if args.rounds > 1 {
            eprintln!("round {round} of {}", args.rounds);
        }
        // One round prints each case as it comes; several print once all are done.
        rounds.push(run_cases::<AB>(
            &Default::default(),
            &selection,
            |case, repeats| match &mut peer {
                Some(peer) => Ok(Some(peer.time(case, repeats)?)),
                None => Ok(None),
            },
            |r| {
                if args.rounds == 1 {
                    print_row(r)
                }
            },
        )?);
    }
    let results = CaseResult::across_rounds(rounds);
    if args.rounds > 1 {
        results.iter().for_each(print_row);
    }
    if results.is_empty() && args.epochs.is_empty() {
        bail!(
            "no case matches --filter {:?}",
            args.filter.as_deref().unwrap_or("")
        );
    }
    let epochs = match &mut peer {
        Some(peer) if !args.epochs.is_empty() => {
            epoch::compare(&args.epochs, args.epoch_rounds, peer).context("epoch comparison")?
        }
        _ => Vec::new(),
    };
    if let Some(path) = &args.json {
        write_json(
            &BenchReport {
                about: &about,
                results: &results,
                epochs: &epochs,
            },
            path,
        )?;
        println!("\nwrote {}", path.display());
    }
    Ok(())
}

/// The CPU's model name (Linux), else the architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Threads of the pool the CPU kernels run on.
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
