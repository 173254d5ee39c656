//! The GPU kernels, written in CubeCL (`#[cube]`) and launched through Burn's `CubeBackend`
//! (the wgpu backend), NCHW, contiguous tensors: the conv passes as implicit GEMMs tiled
//! through shared memory (`conv`), the pools one thread per output element (`pool`).

mod backend;
mod conv;
mod pool;
