//! `cargo xtask check-features`: checks that building one of the workspace's programs alone
//! (`cargo run -p training`, `-p infer`, `-p xtask`) compiles every dependency with the same
//! features as `cargo test --workspace`, so the two share one build of Burn. Cargo unifies
//! features only across the packages of one build; `crates/workspace-hack` turns on the union
//! everywhere, and this check says when a dependency change has left it out of date.

use std::collections::BTreeSet;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The packages a user builds on their own, each compared with the whole workspace.
const PROGRAMS: [&str; 3] = ["training", "infer", "xtask"];

/// Every (package, features) pair of a build, as `cargo tree` resolves it.
fn resolved(selection: &[&str], edges: &str) -> Result<BTreeSet<String>> {
    let output = Command::new(env!("CARGO"))
        .arg("tree")
        .args(selection)
        .args(["--locked", "--prefix", "none"])
        .args(["-e", edges, "-f", "{p} [{f}]"])
        .output()
        .context("cannot run cargo tree")?;
    if !output.status.success() {
        bail!(
            "cargo tree {} failed: {}",
            selection.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)
        .context("cargo tree printed something other than UTF-8")?
        .lines()
        // A package already printed is marked " (*)"; its features are on that line.
        .map(|line| line.trim_end_matches(" (*)").to_owned())
        .collect())
}

/// Runs the check; an error lists each dependency built differently.
pub fn check_features() -> Result<()> {
    let workspace = resolved(&["--workspace"], "normal,build,dev")?;
    let mut differences = Vec::new();
    for program in PROGRAMS {
        for line in resolved(&["-p", program], "normal,build")?.difference(&workspace) {
            differences.push(format!("  cargo build -p {program}: {line}"));
        }
    }
    if !differences.is_empty() {
        bail!(
            "these dependencies are built with other features than in `cargo test --workspace`, \
             so they and everything above them would be compiled twice; enable the missing \
             features in crates/workspace-hack/Cargo.toml:\n{}",
            differences.join("\n")
        );
    }
    println!(
        "{} build each dependency with the same features as `cargo test --workspace`",
        PROGRAMS.join(", ")
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Runs in `cargo test --workspace` (and so in CI): a dependency change that leaves
    /// `crates/workspace-hack` out of date fails here.
    #[test]
    fn every_program_builds_its_dependencies_as_the_workspace_does() {
        super::check_features().unwrap();
    }
}
