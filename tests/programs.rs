//! The workspace's programs, as the tests run them: the ones `cargo test --workspace` builds
//! into the same target folder as this test binary (the training and infer binaries, the
//! model crate's examples).
//!
//! Cargo builds a package's binaries for that package's own integration tests only, so the
//! training and infer crates each keep a small test binary of their program
//! (`crates/*/tests/program.rs`); that is what gets them built for these tests. Run these
//! tests through the workspace (`cargo test --release --workspace`), not on the root package
//! alone, so that the programs are built and current.

use std::path::{Path, PathBuf};
use std::process::Output;

/// The folder of the build this test binary belongs to (`target/<profile>`).
fn build_folder() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // target/<profile>/deps/workspace-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("a test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// A program of this build, `target/<profile>/<relative>` (e.g. `training`,
/// `examples/classify`).
pub fn program(relative: &str) -> PathBuf {
    let path = build_folder().join(relative);
    assert!(
        path.is_file(),
        "{} is not built: run this test with `cargo test --release --workspace`, which builds \
         the training and infer binaries and the model crate's examples",
        path.display()
    );
    path
}

/// A program's output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A failure with a message and exit code 1: no panic (101), no signal. Returns the message.
pub fn assert_clean_failure(output: &Output) -> String {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}
