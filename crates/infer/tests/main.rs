//! The integration tests of `infer`, library and binary, one test binary (each test binary
//! links Burn, so one per crate keeps `cargo test` fast).

mod common;

mod arbitrary_pictures;
mod browser;
mod cli;
mod convolve;
mod failures;
mod reports;
mod serve;
