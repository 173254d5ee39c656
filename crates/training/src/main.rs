//! `cargo run --release -p training -- [options]`: train a network on MNIST.

use std::process::ExitCode;

use clap::Parser;
use training::args::TrainArgs;
use training::backend::run_on_default_backend;
use training::session::{SessionOptions, read_config};

fn main() -> ExitCode {
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    let args = TrainArgs::parse();
    match train(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    let artifacts = args.artifacts_dir();
    let config = if args.resume {
        println!(
            "resuming the run in {} with its saved configuration",
            artifacts.display()
        );
        read_config(&artifacts)?
    } else {
        args.to_config()?
    };
    let options = SessionOptions {
        artifacts,
        data_dir: mnist_data::resolve_data_dir(args.data_dir.as_deref()),
        resume: args.resume,
        plain_output: args.plain_output(),
    };
    run_on_default_backend(config, &options)?;
    Ok(())
}
