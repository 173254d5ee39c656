//! The command line of `cargo xtask`: its tasks and their options, in the library so that
//! the workspace's tests can render its `--help` (the docs' reference pages are checked
//! against it).

use clap::{Parser, Subcommand};

use crate::{bench, gpu_calls, robustness, serve_training};

/// Developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about)]
pub struct Cli {
    #[command(subcommand)]
    pub task: Task,
}

#[derive(Debug, Subcommand)]
pub enum Task {
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
    /// Count the kernel launches and host reads of each network's training step and inference
    /// batch on wgpu, and of the training tool's steps (Mesa's software Vulkan is enough: the
    /// counts do not depend on the machine). Prints markdown tables.
    GpuCalls(gpu_calls::GpuCallsArgs),
    /// Time what training from the page costs the page: the release `infer serve --runs`
    /// trains LeNet-5 on 10,000 images for 2 epochs while a client asks /api/predict; prints
    /// the run's wall time and the requests' latencies, idle and while it trains (build
    /// `infer` first: cargo build --release -p infer).
    ServeTraining(serve_training::ServeTrainingArgs),
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
