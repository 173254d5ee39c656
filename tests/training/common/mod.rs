//! Helpers shared by the training tests: small, fast configurations on real MNIST.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn_ndarray::NdArray;
use clap::Parser;
use training::backend::{BackendChoice, default_backend};
use training::epoch_log::read_metrics_csv;
use training::{SessionOptions, TrainArgs, TrainConfig, TrainingReport, run_on_backend};
use workbench_io::names::METRICS_FILE;

/// The recipe of the test runs, whatever the program's defaults (which aim at accuracy over a
/// full run, not at a few hundred images).
pub use training::args::PLAIN_RECIPE;

/// A config from command-line words, as the binary would parse them, on [`PLAIN_RECIPE`] for
/// what the words do not set.
pub fn config(words: &[&str]) -> TrainConfig {
    let mut argv = vec!["training"];
    argv.extend_from_slice(words);
    for option in PLAIN_RECIPE.chunks(2) {
        if !words.contains(&option[0]) {
            argv.extend_from_slice(option);
        }
    }
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
        watch: None,
    };
    run_on_backend(backend, config, &options).expect("training succeeds")
}

/// The bits of every weight of the model saved in `artifacts`, in module order. (Not the bytes
/// of `model.mpk`: Burn gives each parameter a random id per process, saved with it.)
pub fn weight_bits(artifacts: &Path) -> Vec<u32> {
    struct Bits(Vec<u32>);
    impl ModuleVisitor<NdArray> for Bits {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<NdArray, D>>) {
            let values = param.val().into_data().to_vec::<f32>().unwrap();
            self.0.extend(values.iter().map(|v| v.to_bits()));
        }
    }
    let (network, _) = model::load_model::<NdArray>(artifacts, &Default::default()).unwrap();
    let mut bits = Bits(Vec::new());
    network.visit(&mut bits);
    bits.0
}

/// Waits until the run in `artifacts` has recorded `epochs` epochs in its metrics (at most two
/// minutes).
pub fn wait_for_epochs(artifacts: &Path, epochs: usize) {
    let start = Instant::now();
    while read_metrics_csv(&artifacts.join(METRICS_FILE)).map_or(0, |h| h.len()) < epochs {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run did not reach epoch {epochs} in two minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
