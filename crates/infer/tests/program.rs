//! The infer program's command line: a missing model or an unknown kernel gets a clear error
//! naming it, without a panic.
//!
//! This test binary is also what makes Cargo build the `infer` program for
//! `cargo test --workspace`. The workspace's other tests of the program and the library
//! (predict, eval, filters, convolve, pool, import, export, serve over HTTP and in a
//! browser) are in the
//! root `tests/infer/`, part of the one unoptimised test binary (see `tests/programs.rs`), so
//! this one stays small: it runs the program and links nothing else.

// Tests unwrap freely: a failure there is the test failing (the workspace lints forbid
// `unwrap` in the libraries and programs).
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs the program with `args`, which must fail; returns its standard error.
fn run_err(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    stderr
}

#[test]
fn a_missing_model_or_kernel_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let commands: [&[&str]; 4] = [
        &["predict", "picture.png"],
        &["eval", "--images", "a", "--labels", "b", "--out", out],
        &["filters", "--out", out],
        &["serve"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.extend(["--model", "/nonexistent/run"]);
        let err = run_err(&args);
        assert!(
            err.contains("model not found: /nonexistent/run"),
            "{command:?}: {err}"
        );
    }
    assert!(!dir.path().join("out").exists(), "nothing is written");
    let err = run_err(&["convolve", "--kernel", "nope", "picture.png"]);
    assert!(
        err.contains("--kernel nope") && err.contains("sobel-x"),
        "{err}"
    );
    assert!(run_err(&["classify"]).contains("unrecognized subcommand 'classify'"));
}
