//! The integration tests of the kernel extension, one test binary (each test binary links Burn,
//! so one per crate keeps `cargo test` fast). Each module is one concern. The wgpu tests are
//! the `wgpu` test binary (`tests/wgpu_main.rs`, needs `--features wgpu`).

mod common;

mod agree_with_burn;
mod cross_entropy;
mod denormals;
mod fused_adam;
mod textbook;
