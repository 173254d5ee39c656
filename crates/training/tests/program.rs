//! The training program's command line: bad options get clear errors, without a panic.
//!
//! This test binary is also what makes Cargo build the `training` program for
//! `cargo test --workspace`. The workspace's other tests of the program and the library are
//! in the root `tests/training/`, part of the one unoptimised test binary (see
//! `tests/programs.rs`), so this one stays small: it runs the program and links nothing else.

// Tests unwrap freely: a failure there is the test failing (the workspace lints forbid
// `unwrap` in the libraries and programs).
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs the program with `args`, which must fail; returns its standard error.
fn run_err(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_training"))
        .env(
            "MNIST_DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/mnist"),
        )
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    stderr
}

#[test]
fn bad_options_get_clear_errors() {
    assert!(run_err(&["--model", "resnet"]).contains("lenet5, convnet, mlp"));
    assert!(run_err(&["--optimizer", "adagrad"]).contains("adam"));
    assert!(run_err(&["--lr", "0"]).contains("--lr must be in (0, 1]"));
    assert!(run_err(&["--batch-size", "0"]).contains("--batch-size"));
    assert!(run_err(&["--dropout", "1.5"]).contains("--dropout"));
    assert!(run_err(&["--momentum", "1.2", "--optimizer", "sgd"]).contains("--momentum"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let err = run_err(&[
        "--data-dir",
        missing.to_str().unwrap(),
        "--artifacts",
        dir.path().join("r").to_str().unwrap(),
    ]);
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("not found"),
        "{err}"
    );
    let err = run_err(&["--resume", "--artifacts", missing.to_str().unwrap()]);
    assert!(err.contains("cannot resume"), "{err}");
}
