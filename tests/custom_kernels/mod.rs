//! The tests of the kernel extension (custom-kernels), one module per concern.

mod common;

mod agree_with_burn;
mod cross_entropy;
mod denormals;
mod fused_adam;
mod gpu_calls;
mod textbook;
mod wgpu_agree_with_burn;
