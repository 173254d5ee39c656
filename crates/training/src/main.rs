//! `cargo run --release -p training -- [options]`: train a network on MNIST.

use std::io::Write;
use std::process::ExitCode;

use training::args::TrainArgs;
use training::session::{SessionOptions, read_config, run_on_backend};
use workbench_io::say;

fn main() -> ExitCode {
    workbench_io::report_file_size_limit();
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    let args = TrainArgs::try_parse_words(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match train(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Standard error may be closed too: nothing more to say then.
            writeln!(std::io::stderr(), "error: {error:#}").ok();
            ExitCode::FAILURE
        }
    }
}

fn train(args: &TrainArgs) -> anyhow::Result<()> {
    for warning in args.warnings() {
        writeln!(std::io::stderr(), "warning: {warning}").ok();
    }
    let artifacts = args.artifacts_dir();
    let config = if args.resume {
        say!(
            "resuming the run in {} with its saved configuration",
            artifacts.display()
        )?;
        read_config(&artifacts)?
    } else {
        args.to_config()?
    };
    let options = SessionOptions {
        artifacts,
        data_dir: mnist_data::resolve_data_dir(args.data_dir.as_deref()),
        resume: args.resume,
        plain_output: args.plain_output(),
        watch: None,
    };
    run_on_backend(args.backend, config, &options)?;
    Ok(())
}
