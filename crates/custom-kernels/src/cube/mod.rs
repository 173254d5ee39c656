//! The GPU kernels, written in CubeCL (`#[cube]`) and launched through Burn's `CubeBackend`
//! (the wgpu backend): one thread per output element, NCHW, contiguous tensors.

mod backend;
mod kernels;
