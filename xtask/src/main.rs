//! `cargo xtask <task>`: developer tasks of the workspace.

mod bench;

use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

/// Developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Run what CI runs: format check, clippy, and the test suite (release build).
    Ci,
    /// Time the custom kernels against Burn's built-in ops: conv blocks, training steps,
    /// inference. Prints a markdown table.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => match bench::bench(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
        Task::Ci => run_all(&[
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
        ]),
    }
}

fn run_all(steps: &[&[&str]]) -> ExitCode {
    for args in steps {
        println!("$ cargo {}", args.join(" "));
        match Command::new(env!("CARGO")).args(*args).status() {
            Ok(status) if status.success() => {}
            Ok(status) => {
                eprintln!("error: `cargo {}` failed ({status})", args.join(" "));
                return ExitCode::FAILURE;
            }
            Err(err) => {
                eprintln!("error: cannot run cargo: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
