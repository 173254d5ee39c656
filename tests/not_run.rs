//! What a test that needs something the machine may lack (a GPU adapter, a browser) does when it
//! is missing: it says so where the user sees it, and passes, unless the variable that requires
//! it is set (CI sets `REQUIRE_WGPU` and `REQUIRE_BROWSER`), in which case it fails.

use std::io::Write;

/// Reports that a test did not run, `message` saying why; fails instead when the environment
/// variable `require` is set.
pub fn did_not_run(require: &str, message: &str) {
    assert!(
        std::env::var(require).is_err(),
        "{message}, and {require} is set"
    );
    // libtest keeps what a passing test prints with `println!`/`eprintln!` to itself; a write
    // to the standard error stream itself reaches the terminal.
    let _ = writeln!(std::io::stderr(), "{message}");
}
