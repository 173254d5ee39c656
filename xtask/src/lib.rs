//! The developer tasks behind `cargo xtask` (`src/main.rs` dispatches to them).
//!
//! The bench is generic over the backend and only the binary instantiates it. So
//! `cargo test --workspace`, which builds this library for the workspace's test binary (its
//! smoke test of the bench is in `tests/xtask.rs`, compiled unoptimised), does not compile
//! the whole bench optimised (minutes of CPU; docs/development.md). The binary's test build
//! does not instantiate it either (a test build does not compile the program's `main`).

pub mod bench;
pub mod check_features;
pub mod cli;
pub mod gpu_calls;
pub mod robustness;
pub mod serve_training;
