//! `cargo xtask <task>`: developer tasks of the workspace.

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use training::backend::{BackendChoice, NdarrayTraining};
use xtask::{bench, check_features, robustness};

/// Developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run CI's checks as separate commands: format check, clippy, and the test suite
    /// (release build; the wgpu tests skip without a GPU adapter). `.ci/run` lints during the
    /// test build instead, which from an empty target directory saves checking every
    /// dependency twice.
    Ci,
    /// Check that `cargo run -p training` (or infer, xtask) builds every dependency with the
    /// same features as `cargo test --workspace` (see crates/workspace-hack).
    CheckFeatures,
    /// Time the custom kernels against Burn's built-in ops: conv blocks, training steps,
    /// inference. Prints a markdown table.
    Bench(bench::BenchArgs),
    /// Train each network with each augmentation recipe; score it clean, shifted by up to
    /// ±6 px and with pixel noise. Prints a markdown table (also saved in the --out folder).
    Robustness(robustness::RobustnessArgs),
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => report(match args.backend {
            BackendChoice::Ndarray => bench::run::<NdarrayTraining>(&args),
            #[cfg(feature = "wgpu")]
            BackendChoice::Wgpu => bench::run::<training::backend::WgpuTraining>(&args),
            #[cfg(not(feature = "wgpu"))]
            BackendChoice::Wgpu => Err(bench::wgpu_not_built()),
        }),
        Task::CheckFeatures => report(check_features::check_features()),
        Task::Robustness(args) => report(robustness::run(&args).and_then(|rows| {
            let table = robustness::table(&rows);
            print!("{table}");
            let path = args.out.join(model::files::ROBUSTNESS_TABLE_FILE);
            model::atomic_write(&path, table.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))
        })),
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Clap's own check of the command line: conflicting names, defaults that do not parse.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
