//! Construction helpers and forward steps shared by the three networks.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{MaxPool2d, MaxPool2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::init::InitScheme;

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

/// 2x2 max-pooling with stride 2.
pub(crate) fn pool2() -> MaxPool2d {
    MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init()
}

fn zeroed<B: Backend>(param: Param<Tensor<B, 1>>) -> Param<Tensor<B, 1>> {
    param.map(|tensor| tensor.zeros_like())
}

/// Flattens `[batch, c, h, w]` to `[batch, c * h * w]` in channel-major (PyTorch) order.
pub(crate) fn flatten<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 2> {
    x.flatten(1, 3)
}
