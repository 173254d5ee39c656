//! Helpers shared by the training tests: small, fast configurations on real MNIST.

#![allow(dead_code)]

use std::path::Path;

use clap::Parser;
use training::backend::{BackendChoice, default_backend};
use training::{SessionOptions, TrainArgs, TrainConfig, TrainingReport, run_on_backend};

/// A config from command-line words, as the binary would parse them.
pub fn config(words: &[&str]) -> TrainConfig {
    let mut argv = vec!["training"];
    argv.extend_from_slice(words);
    TrainArgs::try_parse_from(argv)
        .expect("valid options")
        .to_config()
        .expect("valid config")
}

/// Runs a session in `dir` on the default backend (ndarray) with plain output.
pub fn train(config: TrainConfig, dir: &Path, resume: bool) -> TrainingReport {
    train_on(default_backend(), config, dir, resume)
}

/// Runs a session in `dir` on `backend` with plain output. (Through the library's
/// non-generic entry point: calling `run_session::<B>` here would compile the whole training
/// stack a second time into this test binary.)
pub fn train_on(
    backend: BackendChoice,
    config: TrainConfig,
    dir: &Path,
    resume: bool,
) -> TrainingReport {
    let options = SessionOptions {
        artifacts: dir.to_path_buf(),
        data_dir: mnist_data::bundled_data_dir(),
        resume,
        plain_output: true,
    };
    run_on_backend(backend, config, &options).expect("training succeeds")
}
