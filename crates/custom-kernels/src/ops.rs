//! The tensor-level entry points models call: conv, pool (max, average, global average) and
//! fully connected layer, each with either the custom kernels or Burn's built-in ops, and the
//! softmax cross-entropy.

use burn::tensor::{Int, Tensor, TensorPrimitive};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::backend::KernelBackend;
use crate::spec::{ConvSpec, PoolSpec};

/// Which implementation of the layers a model uses: conv (with its bias and ReLU), pooling
/// and the fully connected layer; the training tool also uses it to pick Adam (the fused
/// [`crate::FusedAdam`] with `Custom`, Burn's `Adam` with `Builtin`). The loss is the
/// project's [`cross_entropy`] either way (Burn's loss is not reproducible, see
/// [`crate::loss`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum KernelChoice {
    /// Burn's own `conv2d`, `relu`, `max_pool2d`, `avg_pool2d` (`adaptive_avg_pool2d` for
    /// global pooling) and `linear` (and Burn's Adam in training).
    #[value(alias = "burn")]
    Builtin,
    /// This crate's hand-written kernels.
    #[default]
    Custom,
}

crate::value_enum_text!(KernelChoice, "kernels");

/// Which pooling a conv block ends with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    /// The maximum of each window (the networks' default).
    #[default]
    Max,
    /// The mean of each window (LeNet-5's original subsampling was a trainable average).
    #[value(alias = "average")]
    Avg,
}

crate::value_enum_text!(PoolKind, "pooling");

/// `relu?(conv2d(input, weight) + bias)` on `[n, c, h, w]` with weights `[k, c, kh, kw]`.
pub fn conv2d<B: KernelBackend>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    spec: ConvSpec,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kernels {
        KernelChoice::Builtin => Tensor::from_primitive(TensorPrimitive::Float(B::builtin_conv2d(
            input.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            spec,
        ))),
        KernelChoice::Custom => custom::conv2d(input, weight, bias, spec),
    }
}

/// `max_pool(relu?(conv2d(input, weight) + bias))`: a conv block as one op. The custom
/// kernels fuse it (on the CPU the pool runs while each image's conv output is in cache, and
/// the backward needs only the pooled output and the argmax); the built-in path is Burn's
/// `conv2d`, `relu` and `max_pool2d` in turn.
pub fn conv2d_pool<B: KernelBackend>(
    input: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    conv: ConvSpec,
    pool: PoolSpec,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kernels {
        KernelChoice::Builtin => {
            max_pool2d(conv2d(input, weight, bias, conv, kernels), pool, kernels)
        }
        KernelChoice::Custom => custom::conv2d_pool(input, weight, bias, conv, pool),
    }
}

/// Max-pooling without padding.
pub fn max_pool2d<B: KernelBackend>(
    input: Tensor<B, 4>,
    spec: PoolSpec,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kernels {
        KernelChoice::Builtin => Tensor::from_primitive(TensorPrimitive::Float(
            B::builtin_max_pool2d(input.into_primitive().tensor(), spec),
        )),
        KernelChoice::Custom => custom::max_pool2d(input, spec),
    }
}

/// Average pooling without padding: the mean of each window.
pub fn avg_pool2d<B: KernelBackend>(
    input: Tensor<B, 4>,
    spec: PoolSpec,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kernels {
        KernelChoice::Builtin => Tensor::from_primitive(TensorPrimitive::Float(
            B::builtin_avg_pool2d(input.into_primitive().tensor(), spec),
        )),
        KernelChoice::Custom => custom::avg_pool2d(input, spec),
    }
}

/// Global average pooling: the mean of each plane, `[n, c, h, w]` to `[n, c, 1, 1]`.
pub fn global_avg_pool2d<B: KernelBackend>(
    input: Tensor<B, 4>,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kernels {
        KernelChoice::Builtin => crate::builtin::global_avg_pool2d(input),
        KernelChoice::Custom => custom::global_avg_pool2d(input),
    }
}

/// Max or average pooling, as `kind` says.
pub fn pool2d<B: KernelBackend>(
    input: Tensor<B, 4>,
    kind: PoolKind,
    spec: PoolSpec,
    kernels: KernelChoice,
) -> Tensor<B, 4> {
    match kind {
        PoolKind::Max => max_pool2d(input, spec, kernels),
        PoolKind::Avg => avg_pool2d(input, spec, kernels),
    }
}

/// `x * weight + bias` for `x [n, inputs]` and `weight [inputs, outputs]` (the layout of
/// Burn's `Linear`, so its parameters can be passed as they are).
pub fn linear<B: KernelBackend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
    kernels: KernelChoice,
) -> Tensor<B, 2> {
    match kernels {
        KernelChoice::Builtin => Tensor::from_primitive(TensorPrimitive::Float(B::builtin_linear(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
        ))),
        KernelChoice::Custom => custom::linear(x, weight, bias),
    }
}

/// `relu(x * weight + bias)`: a hidden fully connected layer. The custom kernels apply the
/// ReLU to the product's output, and its mask to the gradient before the backward products,
/// instead of two more passes over the layer's output on Burn's generic ops.
pub fn linear_relu<B: KernelBackend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
    kernels: KernelChoice,
) -> Tensor<B, 2> {
    match kernels {
        KernelChoice::Builtin => burn::tensor::activation::relu(linear(x, weight, bias, kernels)),
        KernelChoice::Custom => custom::linear_relu(x, weight, bias),
    }
}

/// The layers on this crate's kernels alone. Calling these instead of the switches above
/// compiles none of Burn's built-in layer ops for the backend (the wgpu tests use them, so
/// their test binary does not build Burn's CubeCL convolutions and matmuls).
pub mod custom {
    use super::*;

    /// [`super::conv2d`] with [`KernelChoice::Custom`].
    pub fn conv2d<B: KernelBackend>(
        input: Tensor<B, 4>,
        weight: Tensor<B, 4>,
        bias: Option<Tensor<B, 1>>,
        spec: ConvSpec,
    ) -> Tensor<B, 4> {
        Tensor::from_primitive(TensorPrimitive::Float(B::custom_conv2d(
            input.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            spec,
        )))
    }

    /// [`super::conv2d_pool`] with [`KernelChoice::Custom`].
    pub fn conv2d_pool<B: KernelBackend>(
        input: Tensor<B, 4>,
        weight: Tensor<B, 4>,
        bias: Option<Tensor<B, 1>>,
        conv: ConvSpec,
        pool: PoolSpec,
    ) -> Tensor<B, 4> {
        Tensor::from_primitive(TensorPrimitive::Float(B::custom_conv2d_pool(
            input.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            conv,
            pool,
        )))
    }

    /// [`super::max_pool2d`] with [`KernelChoice::Custom`].
    pub fn max_pool2d<B: KernelBackend>(input: Tensor<B, 4>, spec: PoolSpec) -> Tensor<B, 4> {
        Tensor::from_primitive(TensorPrimitive::Float(B::custom_max_pool2d(
            input.into_primitive().tensor(),
            spec,
        )))
    }

    /// [`super::avg_pool2d`] with [`KernelChoice::Custom`].
    pub fn avg_pool2d<B: KernelBackend>(input: Tensor<B, 4>, spec: PoolSpec) -> Tensor<B, 4> {
        Tensor::from_primitive(TensorPrimitive::Float(B::custom_avg_pool2d(
            input.into_primitive().tensor(),
            spec,
        )))
    }

    /// [`super::global_avg_pool2d`] with [`KernelChoice::Custom`]: the average pool whose one
    /// window covers the plane.
    pub fn global_avg_pool2d<B: KernelBackend>(input: Tensor<B, 4>) -> Tensor<B, 4> {
        let [_, _, h, w] = input.dims();
        avg_pool2d(input, PoolSpec::global([h, w]))
    }

    /// [`super::linear`] with [`KernelChoice::Custom`].
    pub fn linear<B: KernelBackend>(
        x: Tensor<B, 2>,
        weight: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
    ) -> Tensor<B, 2> {
        fully_connected(x, weight, bias, false)
    }

    /// [`super::linear_relu`] with [`KernelChoice::Custom`].
    pub fn linear_relu<B: KernelBackend>(
        x: Tensor<B, 2>,
        weight: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
    ) -> Tensor<B, 2> {
        fully_connected(x, weight, bias, true)
    }

    fn fully_connected<B: KernelBackend>(
        x: Tensor<B, 2>,
        weight: Tensor<B, 2>,
        bias: Option<Tensor<B, 1>>,
        relu: bool,
    ) -> Tensor<B, 2> {
        Tensor::from_primitive(TensorPrimitive::Float(B::custom_linear(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            bias.map(|b| b.into_primitive().tensor()),
            relu,
        )))
    }
}

/// Mean softmax cross-entropy of `logits` (`[n, classes]`) against class indices `targets`
/// (`[n]`): a one-element tensor. Differentiable on `Autodiff` backends, with the fused
/// gradient described in [`crate::loss`].
pub fn cross_entropy<B: KernelBackend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    Tensor::from_primitive(TensorPrimitive::Float(B::softmax_cross_entropy(
        logits.into_primitive().tensor(),
        targets.into_primitive(),
    )))
}
