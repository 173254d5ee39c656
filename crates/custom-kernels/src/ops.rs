//! Tensor-level conv, pool and fully connected layer that use either the custom kernels or
//! Burn's built-in ops.

use burn::tensor::activation::relu;
use burn::tensor::module::{
    conv2d as builtin_conv2d, linear as builtin_linear, max_pool2d as builtin_max_pool2d,
};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorPrimitive};
use serde::{Deserialize, Serialize};

use crate::backend::ConvKernels;
use crate::spec::{ConvSpec, PoolSpec};

/// Which implementation of conv and pool a model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// Burn's own `conv2d`, `relu`, `max_pool2d` and `linear`.
    Builtin,
    /// This crate's hand-written kernels.
    #[default]
    Custom,
}

impl std::str::FromStr for Kernels {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "builtin" | "burn" => Ok(Kernels::Builtin),
            "custom" => Ok(Kernels::Custom),
            other => Err(format!(
                "unknown kernels '{other}' (expected builtin or custom)"
            )),
        }
    }
}

impl std::fmt::Display for Kernels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kernels::Builtin => "builtin",
            Kernels::Custom => "custom",
        })
    }
}

/// `relu?(conv2d(input, weight) + bias)` on `[n, c, h, w]` with weights `[k, c, kh, kw]`.
pub fn conv2d<B: ConvKernels>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
    kernels: Kernels,
) -> Tensor<B, 4> {
    match kernels {
        Kernels::Builtin => {
            let options = ConvOptions::new(spec.stride, spec.padding, [1, 1], 1);
            let out = builtin_conv2d(input, weight, bias, options);
            if spec.relu { relu(out) } else { out }
        }
        Kernels::Custom => Tensor::from_primitive(TensorPrimitive::Float(B::custom_conv2d(
            input.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            spec,
        ))),
    }
}

/// `max_pool(relu?(conv2d(input, weight) + bias))`: a conv block as one op. The custom
/// kernels fuse it (on the CPU the pool runs while each image's conv output is in cache, and
/// the backward needs only the pooled output and the argmax); the built-in path is Burn's
/// `conv2d`, `relu` and `max_pool2d` in turn.
pub fn conv2d_pool<B: ConvKernels>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    conv: ConvSpec,
    pool: PoolSpec,
    kernels: Kernels,
) -> Tensor<B, 4> {
    match kernels {
        Kernels::Builtin => max_pool2d(conv2d(input, weight, bias, conv, kernels), pool, kernels),
        Kernels::Custom => Tensor::from_primitive(TensorPrimitive::Float(B::custom_conv2d_pool(
            input.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            conv,
            pool,
        ))),
    }
}

/// Max-pooling without padding.
pub fn max_pool2d<B: ConvKernels>(
    input: Tensor<B, 4>,
    spec: PoolSpec,
    kernels: Kernels,
) -> Tensor<B, 4> {
    match kernels {
        Kernels::Builtin => {
            builtin_max_pool2d(input, spec.kernel, spec.stride, [0, 0], [1, 1], false)
        }
        Kernels::Custom => Tensor::from_primitive(TensorPrimitive::Float(B::custom_max_pool2d(
            input.into_primitive().tensor(),
            spec,
        ))),
    }
}

/// `x * weight + bias` for `x [n, inputs]` and `weight [inputs, outputs]` (the layout of
/// Burn's `Linear`, so its parameters can be passed as they are).
pub fn linear<B: ConvKernels>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
    kernels: Kernels,
) -> Tensor<B, 2> {
    match kernels {
        Kernels::Builtin => builtin_linear(x, weight, bias),
        Kernels::Custom => Tensor::from_primitive(TensorPrimitive::Float(B::custom_linear(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
        ))),
    }
}
