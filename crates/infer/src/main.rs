//! `infer`: not implemented yet (see the crate documentation).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("infer: not implemented yet; load a trained model with model::load_model");
    ExitCode::FAILURE
}
