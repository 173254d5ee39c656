//! `cargo xtask <task>`: developer tasks of the workspace.

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
}

fn main() -> ExitCode {
    match Cli::parse().task {
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
