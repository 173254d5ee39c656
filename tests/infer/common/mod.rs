//! Helpers shared by the `infer` tests: a small trained model, a small committee and the
//! binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use mnist_data::bundled_data_dir;

/// A LeNet-5 trained for one epoch on 20,000 images (about 97% accurate), shared by the tests.
pub fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        trained(
            "model",
            &[
                "--epochs",
                "1",
                "--train-limit",
                "20000",
                "--valid-size",
                "1000",
            ],
        )
    })
}

/// A committee of two LeNet-5s (`--restarts 2 --ensemble`), one epoch on 3,000 images each,
/// shared by the tests.
pub fn committee_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        trained(
            "committee",
            &[
                "--restarts",
                "2",
                "--ensemble",
                "--epochs",
                "1",
                "--train-limit",
                "3000",
                "--valid-size",
                "500",
            ],
        )
    })
}

/// The run folder of a training session with `options` on the plain recipe, scored on 100 test
/// images. In the target directory (Cargo's folder for the tests' files), not the system's: the
/// statics that hold these folders are never dropped, so nothing removes them when the tests end.
fn trained(name: &str, options: &[&str]) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("infer-test-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    let args = ["training", "--test-limit", "100"]
        .iter()
        .chain(options)
        .chain(&crate::training::common::PLAIN_RECIPE);
    let config = <training::TrainArgs as clap::Parser>::parse_from(args)
        .to_config()
        .unwrap();
    let options = training::SessionOptions {
        artifacts: dir.clone(),
        data_dir: bundled_data_dir(),
        resume: false,
        plain_output: true,
        watch: None,
    };
    training::run_on_backend(training::backend::default_backend(), config, &options).unwrap();
    dir
}

pub fn infer(args: &[&str]) -> std::process::Output {
    Command::new(crate::programs::program("infer"))
        .args(args)
        .output()
        .unwrap()
}

pub fn test_idx() -> String {
    bundled_data_dir()
        .join("t10k-images-idx3-ubyte.gz")
        .display()
        .to_string()
}

/// The bundled MNIST test labels.
pub fn test_labels() -> String {
    bundled_data_dir()
        .join("t10k-labels-idx1-ubyte.gz")
        .display()
        .to_string()
}
