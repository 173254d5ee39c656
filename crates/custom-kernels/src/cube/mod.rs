//! The GPU kernels, written in CubeCL (`#[cube]`) and launched through Burn's `CubeBackend`
//! (the wgpu backend), NCHW, contiguous tensors: the conv passes as implicit GEMMs tiled
//! through shared memory (`conv`), the pools one thread per output element (`pool`), the
//! fully connected layer's bias, ReLU and their gradients around Burn's matmul (`linear`),
//! the loss (`loss`) and the Adam update (`adam`), each one launch.

mod adam;
mod backend;
mod conv;
mod linear;
mod loss;
mod pool;
