//! The integration tests of the data crate, one test binary (each test binary links Burn, so
//! one per crate keeps `cargo test` fast).

mod arbitrary_files;
mod mnist_files;
mod pipeline;
