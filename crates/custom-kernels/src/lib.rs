//! Hand-written conv2d (fused bias + ReLU, optionally fused with the max-pool after it),
//! max-pool2d, average pool2d (and global average pooling), fully connected layer, loss and
//! Adam update for Burn, as a backend extension in the pattern of Burn's
//! `custom-cubecl-kernel` example:
//!
//! * [`cpu`]: the kernels on plain slices (direct AVX-512 / AVX2 convolution kernels, else
//!   im2col + SIMD GEMM, rayon over the batch; the fully connected layer as multi-threaded
//!   GEMMs without transpose copies);
//! * [`RawKernels`]: the raw forward/backward ops a concrete backend provides (ndarray here);
//! * [`KernelBackend`]: the ops models call, also implemented for `Autodiff<B>` with hand-written
//!   backward passes, so training uses the kernels end to end;
//! * [`conv2d`] / [`max_pool2d`] / [`conv2d_pool`] (the two fused) / [`avg_pool2d`] /
//!   [`global_avg_pool2d`] / [`linear`]: tensor-level entry points that pick the custom
//!   kernels or Burn's built-in ops according to a [`KernelChoice`] switch;
//! * [`builtin`]: those layers on Burn's built-in ops alone (the tests' reference);
//! * [`BackendChoice`] / [`wgpu_device`]: the two backends as a run-time choice;
//! * [`cross_entropy`]: softmax cross-entropy with a fused, exact (and so reproducible)
//!   gradient;
//! * [`FusedAdam`]: Burn's Adam, same arithmetic, with each parameter updated in one fused
//!   pass;
//! * [`gpu_calls`]: counts the kernel launches and host reads wgpu is asked for.

pub mod adam;
mod autodiff_backend;
pub mod backend;
pub mod backend_choice;
pub mod builtin;
pub mod cpu;
mod cube;
pub mod gpu_calls;
pub mod loss;
mod ndarray_backend;
pub mod ops;
pub mod spec;
pub mod value_names;

pub use adam::{FusedAdam, FusedAdamConfig};
pub use backend::{KernelBackend, LayerGrads, RawKernels};
#[cfg(feature = "cuda")]
pub use backend_choice::cuda_device;
pub use backend_choice::{BackendChoice, CUDA_NOT_BUILT, wgpu_device};
pub use builtin::BuiltinLayers;
pub use ops::{
    KernelChoice, PoolKind, avg_pool2d, conv2d, conv2d_pool, cross_entropy, global_avg_pool2d,
    linear, linear_relu, max_pool2d, pool2d,
};
pub use spec::{ConvSpec, PoolSpec};
