//! The tests of the training tool, library and binary. The binary's tests run the program
//! `cargo test --workspace` builds (see `programs.rs`); the training sessions they start run
//! the library's optimised code.

pub(crate) mod common;

mod cli;
mod committee;
mod early_stopping_and_restarts;
mod edited_run_folders;
mod failures;
mod kernels;
mod optimizers;
mod reproducible;
mod wgpu_validation;
