//! Construction helpers and forward steps shared by the three networks.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::init::InitScheme;
use crate::trace::{LayerObserver, emit_maps};
use custom_kernels::linear as linear_op;
use custom_kernels::{ConvKernels, ConvSpec, Kernels, PoolSpec, conv2d, conv2d_pool, max_pool2d};

/// A square `kernel x kernel` convolution with bias, stride 1 and `pad` zeros on every side.
/// Weights follow `init`; biases start at zero.
pub(crate) fn conv<B: Backend>(
    in_channels: usize,
    filters: usize,
    kernel: usize,
    pad: usize,
    init: InitScheme,
    device: &B::Device,
) -> Conv2d<B> {
    let mut layer = Conv2dConfig::new([in_channels, filters], [kernel, kernel])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_initializer(init.initializer())
        .init(device);
    layer.bias = layer.bias.map(zeroed);
    layer
}

/// A fully connected layer; weights follow `init`, biases start at zero.
pub(crate) fn linear<B: Backend>(
    inputs: usize,
    outputs: usize,
    init: InitScheme,
    device: &B::Device,
) -> Linear<B> {
    let mut layer = LinearConfig::new(inputs, outputs)
        .with_initializer(init.initializer())
        .init(device);
    layer.bias = layer.bias.map(zeroed);
    layer
}

/// `relu(conv(x) + bias)` through the chosen kernels; `padding` zeros on every side, stride 1.
pub(crate) fn conv_relu<B: ConvKernels>(
    layer: &Conv2d<B>,
    padding: usize,
    x: Tensor<B, 4>,
    kernels: Kernels,
) -> Tensor<B, 4> {
    let bias = layer.bias.as_ref().map(|b| b.val());
    conv2d(
        x,
        layer.weight.val(),
        bias,
        ConvSpec::relu(padding),
        kernels,
    )
}

/// How a conv block is reported to observers.
pub(crate) struct BlockNames {
    /// Name of the conv layer, e.g. `conv1`.
    pub conv: &'static str,
    /// Its description, e.g. `conv 5x5/1 pad 2, 6 filters + ReLU`.
    pub description: &'static str,
    /// Name of the pool after it, e.g. `pool1`.
    pub pool: &'static str,
}

/// A conv block: `relu(conv(x) + bias)` then 2x2 max-pool. When `observer` looks at layer
/// outputs the two run separately and both are reported; otherwise they run as one fused op.
pub(crate) fn conv_block<B: ConvKernels>(
    layer: &Conv2d<B>,
    padding: usize,
    x: Tensor<B, 4>,
    kernels: Kernels,
    observer: &mut impl LayerObserver<B>,
    names: BlockNames,
) -> Tensor<B, 4> {
    if !observer.wants_outputs() {
        let bias = layer.bias.as_ref().map(|b| b.val());
        let (conv, pool) = (ConvSpec::relu(padding), PoolSpec::TWO_BY_TWO);
        return conv2d_pool(x, layer.weight.val(), bias, conv, pool, kernels);
    }
    let x = conv_relu(layer, padding, x, kernels);
    emit_maps(
        observer,
        names.conv,
        names.description,
        layer.num_params(),
        &x,
    );
    let x = pool2(x, kernels);
    emit_maps(observer, names.pool, "max-pool 2x2/2", 0, &x);
    x
}

/// `x * weight + bias` of a fully connected layer through the chosen kernels.
pub(crate) fn dense<B: ConvKernels>(
    layer: &Linear<B>,
    x: Tensor<B, 2>,
    kernels: Kernels,
) -> Tensor<B, 2> {
    let bias = layer.bias.as_ref().map(|b| b.val());
    linear_op(x, layer.weight.val(), bias, kernels)
}

/// 2x2 max-pooling with stride 2 through the chosen kernels.
pub(crate) fn pool2<B: ConvKernels>(x: Tensor<B, 4>, kernels: Kernels) -> Tensor<B, 4> {
    max_pool2d(x, PoolSpec::TWO_BY_TWO, kernels)
}

/// The same parameter, set to zero. `zeros_like` makes a fresh tensor that does not track
/// gradients, so the flag is set again: without it the bias would never train.
fn zeroed<B: Backend>(param: Param<Tensor<B, 1>>) -> Param<Tensor<B, 1>> {
    param.map(|tensor| tensor.zeros_like().require_grad())
}

/// Flattens `[batch, c, h, w]` to `[batch, c * h * w]` in channel-major (PyTorch) order.
pub(crate) fn flatten<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    x.flatten(1, 3)
}
