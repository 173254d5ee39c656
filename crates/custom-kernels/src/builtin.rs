//! The layers on Burn's built-in ops alone, on any backend: the `builtin` side of the layer
//! switches in [`crate::ops`], and the tests' reference.
//!
//! [`primitive`] runs the same layers on a backend's raw tensors, for the defaults of the
//! `builtin_*` methods of [`crate::RawKernels`] and [`crate::KernelBackend`]. The ndarray
//! backend overrides those methods with the same calls, so that Burn's generic ndarray layer
//! ops are compiled once, optimised, in this crate: a program compiled at a low optimisation
//! level (the `infer` program, see the workspace's `Cargo.toml`) still runs them at full speed.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{
    adaptive_avg_pool2d, avg_pool2d as burn_avg_pool2d, conv2d as burn_conv2d,
    linear as burn_linear, max_pool2d as burn_max_pool2d,
};
use burn::tensor::ops::ConvOptions;

use crate::spec::{ConvSpec, PoolSpec};

/// [`crate::conv2d`] with [`crate::KernelChoice::Builtin`].
pub fn conv2d<B: Backend>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
) -> Tensor<B, 4> {
    let options = ConvOptions::new(spec.stride, spec.padding, [1, 1], 1);
    let out = burn_conv2d(input, weight, bias, options);
    if spec.relu { relu(out) } else { out }
}

/// [`crate::conv2d_pool`] with [`crate::KernelChoice::Builtin`]: conv, ReLU, then the pool.
pub fn conv2d_pool<B: Backend>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    conv: ConvSpec,
    pool: PoolSpec,
) -> Tensor<B, 4> {
    max_pool2d(conv2d(input, weight, bias, conv), pool)
}

/// [`crate::max_pool2d`] with [`crate::KernelChoice::Builtin`].
pub fn max_pool2d<B: Backend>(input: Tensor<B, 4>, spec: PoolSpec) -> Tensor<B, 4> {
    burn_max_pool2d(input, spec.kernel, spec.stride, [0, 0], [1, 1], false)
}

/// [`crate::avg_pool2d`] with [`crate::KernelChoice::Builtin`] (without padding, whether
/// padding counts in the divisor does not matter).
pub fn avg_pool2d<B: Backend>(input: Tensor<B, 4>, spec: PoolSpec) -> Tensor<B, 4> {
    burn_avg_pool2d(input, spec.kernel, spec.stride, [0, 0], true, false)
}

/// [`crate::global_avg_pool2d`] with [`crate::KernelChoice::Builtin`]: Burn's adaptive
/// average pool to one output per plane.
pub fn global_avg_pool2d<B: Backend>(input: Tensor<B, 4>) -> Tensor<B, 4> {
    adaptive_avg_pool2d(input, [1, 1])
}

/// [`crate::linear`] with [`crate::KernelChoice::Builtin`].
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Tensor<B, 2> {
    burn_linear(x, weight, bias)
}

/// The layers above on raw float tensors (`FloatTensor<B>`), as the backend traits take them.
pub mod primitive {
    use burn::tensor::ops::FloatTensor;
    use burn::tensor::{Tensor, TensorPrimitive, backend::Backend};

    use crate::spec::{ConvSpec, PoolSpec};

    fn wrap<B: Backend, const D: usize>(tensor: FloatTensor<B>) -> Tensor<B, D> {
        Tensor::from_primitive(TensorPrimitive::Float(tensor))
    }

    /// [`super::conv2d`].
    pub fn conv2d<B: Backend>(
        input: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
        spec: ConvSpec,
    ) -> FloatTensor<B> {
        super::conv2d::<B>(wrap(input), wrap(weight), bias.map(wrap), spec)
            .into_primitive()
            .tensor()
    }

    /// [`super::max_pool2d`].
    pub fn max_pool2d<B: Backend>(input: FloatTensor<B>, spec: PoolSpec) -> FloatTensor<B> {
        super::max_pool2d::<B>(wrap(input), spec)
            .into_primitive()
            .tensor()
    }

    /// [`super::avg_pool2d`].
    pub fn avg_pool2d<B: Backend>(input: FloatTensor<B>, spec: PoolSpec) -> FloatTensor<B> {
        super::avg_pool2d::<B>(wrap(input), spec)
            .into_primitive()
            .tensor()
    }

    /// [`super::linear`].
    pub fn linear<B: Backend>(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        bias: Option<FloatTensor<B>>,
    ) -> FloatTensor<B> {
        super::linear::<B>(wrap(x), wrap(weight), bias.map(wrap))
            .into_primitive()
            .tensor()
    }
}
