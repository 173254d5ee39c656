//! The integration tests of the kernel extension, one test binary (each test binary links Burn,
//! so one per crate keeps `cargo test` fast). Each module is one concern.

mod common;

mod agree_with_burn;
mod cross_entropy;
mod denormals;
mod fused_adam;
mod textbook;
mod wgpu_agree_with_burn;
