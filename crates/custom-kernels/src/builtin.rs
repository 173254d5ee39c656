//! The layers on Burn's built-in ops alone, on any backend: the `builtin` side of the layer
//! switches in [`crate::ops`], and the tests' reference.
//!
//! [`BuiltinLayers`] runs the same layers on a backend's raw tensors, as the backend traits
//! take them.

use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::module::{
    adaptive_avg_pool2d, avg_pool2d as burn_avg_pool2d, conv2d as burn_conv2d,
    linear as burn_linear, max_pool2d as burn_max_pool2d,
};
use burn::tensor::ops::ConvOptions;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

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

/// A tensor of `B` from a raw float tensor, as [`BuiltinLayers`] receives them.
pub fn from_raw<B: Backend, const D: usize>(tensor: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(tensor))
}

/// The methods of [`BuiltinLayers`], written once: the trait's defaults, and the ndarray
/// backend's impl (see there).
macro_rules! builtin_layer_methods {
    () => {
        /// Burn's own conv (+ bias, ReLU): [`crate::builtin::conv2d`].
        fn builtin_conv2d(
            input: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: Option<FloatTensor<Self>>,
            spec: ConvSpec,
        ) -> FloatTensor<Self> {
            use $crate::builtin::from_raw;
            $crate::builtin::conv2d::<Self>(
                from_raw(input),
                from_raw(weight),
                bias.map(from_raw),
                spec,
            )
            .into_primitive()
            .tensor()
        }

        /// Burn's own max-pool: [`crate::builtin::max_pool2d`].
        fn builtin_max_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
            $crate::builtin::max_pool2d::<Self>($crate::builtin::from_raw(input), spec)
                .into_primitive()
                .tensor()
        }

        /// Burn's own average pool: [`crate::builtin::avg_pool2d`].
        fn builtin_avg_pool2d(input: FloatTensor<Self>, spec: PoolSpec) -> FloatTensor<Self> {
            $crate::builtin::avg_pool2d::<Self>($crate::builtin::from_raw(input), spec)
                .into_primitive()
                .tensor()
        }

        /// Burn's own fully connected layer: [`crate::builtin::linear`].
        fn builtin_linear(
            x: FloatTensor<Self>,
            weight: FloatTensor<Self>,
            bias: Option<FloatTensor<Self>>,
        ) -> FloatTensor<Self> {
            use $crate::builtin::from_raw;
            $crate::builtin::linear::<Self>(from_raw(x), from_raw(weight), bias.map(from_raw))
                .into_primitive()
                .tensor()
        }
    };
}
pub(crate) use builtin_layer_methods;

/// The layers above on a backend's raw float tensors, as [`crate::ops`] runs them with
/// [`crate::KernelChoice::Builtin`]. Every backend takes the defaults (Burn's generic ops; on
/// `Autodiff<B>`, with Burn's own backward) but ndarray, whose impl repeats them through
/// [`builtin_layer_methods`]: a non-generic impl is compiled here, optimised, so a program
/// compiled at a low optimisation level (the `infer` program, see the workspace's
/// `Cargo.toml`) still runs Burn's ndarray layers at full speed.
pub trait BuiltinLayers: Backend {
    builtin_layer_methods!();
}
