//! The workspace's test binary: one binary (each test binary links Burn, and compiling one
//! costs minutes), one module per crate whose library it tests, and the end-to-end test.
//!
//! It is compiled unoptimised (see the root `Cargo.toml`); the code under test is not.
//! `cargo test --release --test workspace -- custom_kernels::` runs one crate's tests.

mod custom_kernels;
mod data;
mod end_to_end;
mod model;
