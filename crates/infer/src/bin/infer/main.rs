//! `infer`: classify digit pictures or IDX images with a trained model, evaluate it, draw
//! what its layers see, apply a kernel or a pooling to a matrix, import and export PyTorch
//! weights, serve the draw-a-digit page.
//!
//! `main` parses the command line and dispatches to [`commands`], one function per
//! subcommand; `serve` is the web server. The work itself is the `infer` library's, which is
//! generic over the backend: this program is where the backend is chosen
//! ([`infer::DefaultBackend`]), so the library compiles no backend's code of its own.

use std::io::Write;
use std::process::ExitCode;

use args::{Cli, Command};
use clap::Parser;

mod args;
mod commands;
mod serve;

fn main() -> ExitCode {
    workbench_io::report_file_size_limit();
    custom_kernels::cpu::keep_freed_buffers();
    custom_kernels::cpu::flush_denormals_to_zero();
    // Every subcommand runs on the default backend: without a GPU adapter, say so (Burn's
    // wgpu backend would panic at the first tensor).
    #[cfg(feature = "wgpu")]
    if custom_kernels::wgpu_device().is_err() {
        let advice =
            "install a Vulkan driver, or build infer without `--features wgpu` to run on the CPU";
        writeln!(
            std::io::stderr(),
            "error: this infer runs on wgpu, and no GPU adapter was found ({advice})"
        )
        .ok();
        return ExitCode::FAILURE;
    }
    let result = match Cli::parse().command {
        Command::Predict(args) => commands::predict(args),
        Command::Eval(args) => commands::eval(args),
        Command::Filters(args) => commands::filters(args),
        Command::Convolve(args) => commands::convolve(args),
        Command::Pool(args) => commands::pool(args),
        Command::Export(args) => commands::export(args),
        Command::Import(args) => commands::import(args),
        Command::Serve(args) => commands::serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Standard error may be closed too: nothing more to say then.
            writeln!(std::io::stderr(), "error: {error:#}").ok();
            ExitCode::FAILURE
        }
    }
}
