//! `cargo xtask <task>`: developer tasks of the workspace.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::Parser;
use custom_kernels::gpu_calls::GpuCallCounter;
use training::backend::{BackendChoice, NdarrayTraining};
use xtask::cli::{Cli, Task};
use xtask::{bench, check_features, gpu_calls, robustness, serve_training};

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => report(match args.backend {
            BackendChoice::Ndarray => bench::run::<NdarrayTraining>(&args),
            #[cfg(feature = "wgpu")]
            BackendChoice::Wgpu => bench::run::<training::backend::WgpuTraining>(&args),
            #[cfg(not(feature = "wgpu"))]
            BackendChoice::Wgpu => Err(bench::wgpu_not_built()),
            #[cfg(feature = "cuda")]
            BackendChoice::Cuda => bench::run::<training::backend::CudaTraining>(&args),
            #[cfg(not(feature = "cuda"))]
            BackendChoice::Cuda => Err(anyhow::anyhow!(custom_kernels::CUDA_NOT_BUILT)),
        }),
        Task::CheckFeatures => report(check_features::check_features()),
        Task::Robustness(args) => report(robustness::run(&args).and_then(|rows| {
            let table = robustness::table(&rows);
            print!("{table}");
            let path = args.out.join(workbench_io::names::ROBUSTNESS_TABLE_FILE);
            workbench_io::atomic_write(&path, table.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))
        })),
        Task::GpuCalls(args) => report(gpu_calls_on_wgpu(&args)),
        Task::ServeTraining(args) => report(serve_training::run(&args)),
        Task::Ci => report(run_all(&[
            &["fmt", "--all", "--", "--check"],
            &[
                "clippy",
                "--release",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            &["test", "--release", "--workspace"],
        ])),
    }
}

/// `cargo xtask gpu-calls`: counts on the default wgpu device and prints the table.
fn gpu_calls_on_wgpu(args: &gpu_calls::GpuCallsArgs) -> anyhow::Result<()> {
    let device = custom_kernels::wgpu_device().map_err(anyhow::Error::msg)?;
    let counter = GpuCallCounter::install().map_err(anyhow::Error::msg)?;
    let rows = gpu_calls::count::<training::backend::WgpuTraining>(args, &device, counter)?;
    print!("{}", gpu_calls::table(&rows));
    if args.tool_steps > 0 {
        let scratch = tempfile::tempdir()?;
        let calls = gpu_calls::count_tool(args.tool_steps, scratch.path(), counter)?;
        print!("\n{}", gpu_calls::tool_table(&calls));
    }
    Ok(())
}

/// The exit code of a task, with its error on standard error.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs each `cargo` command in turn; stops at the first that fails.
fn run_all(steps: &[&[&str]]) -> anyhow::Result<()> {
    for args in steps {
        println!("$ cargo {}", args.join(" "));
        let status = Command::new(env!("CARGO"))
            .args(*args)
            .status()
            .context("cannot run cargo")?;
        if !status.success() {
            bail!("`cargo {}` failed ({status})", args.join(" "));
        }
    }
    Ok(())
}
