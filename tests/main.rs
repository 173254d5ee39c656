//! The workspace's test binary: one binary (each test binary links Burn, and compiling one
//! costs minutes), one module per crate it tests, and the end-to-end test.
//!
//! It is compiled unoptimised (see the root `Cargo.toml`); the code under test is not: the
//! libraries' non-generic code and the programs the tests run are optimised.
//! `cargo test --release --workspace -- training::` runs one crate's tests
//! (`--test workspace` instead of `--workspace` builds less, but not the programs some tests
//! run: those then fail, or run a stale build of the program).

// Tests unwrap freely: a failure there is the test failing (the workspace lints forbid
// `unwrap` in the libraries and programs).
#![allow(clippy::unwrap_used)]

mod custom_kernels;
mod data;
mod docs;
mod end_to_end;
mod house;
mod infer;
mod model;
mod not_run;
mod programs;
mod training;
mod xtask;

/// Seed of the tests' random draws (tensors, weights), so that a failure reproduces.
const TEST_SEED: u64 = 0x5eed;
