//! The CPU kernels on plain `f32` slices in NCHW layout: direct AVX-512 or AVX2 register-tile
//! kernels for stride-1 convolutions where the CPU has either, else im2col + a SIMD GEMM (the `gemm`
//! crate, runtime-dispatched AVX2/FMA/AVX-512), direct loops for pooling (max and average; max also fused into the conv),
//! multi-threaded over the images of the batch with rayon; the fully connected layer as
//! multi-threaded GEMMs; the Adam update as one fused pass. Backend-independent, so they can be tested and benchmarked on their
//! own.

mod adam;
mod allocator;
mod conv;
mod conv_pool;
mod denormals;
#[cfg(target_arch = "x86_64")]
mod direct;
#[cfg(not(target_arch = "x86_64"))]
#[path = "direct_unsupported.rs"]
mod direct;
mod geometry;
mod linear;
mod matmul;
mod pool;
mod scratch;
#[cfg(target_arch = "x86_64")]
mod simd;
mod transpose;

pub use adam::{AdamTarget, adam_update};
pub use allocator::keep_freed_buffers;
pub use conv::{CONV_PATH_ENV, ConvPath, Lanes, conv2d_backward, conv2d_forward};
pub use conv_pool::{conv2d_pool_backward, conv2d_pool_forward, pool_geometry};
pub use denormals::flush_denormals_to_zero;
pub use direct::Isa;
pub use geometry::ConvGeometry;
pub use linear::{LinearGeometry, linear_backward, linear_forward};
pub use matmul::{Operand, Threads, Write, matmul};
pub use pool::{
    PoolGeometry, avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward,
};
