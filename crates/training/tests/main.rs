//! The integration tests of the training tool, library and binary, one test binary (each test
//! binary links Burn, so one per crate keeps `cargo test` fast).

mod common;

mod cli;
mod early_stopping_and_restarts;
mod failures;
mod kernels;
mod optimizers;
mod reproducible;
mod wgpu_validation;
