//! Construction helpers and forward steps shared by the three networks.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Dropout, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;

use crate::init::InitScheme;
use crate::layer_math::Window;
use crate::trace::{LayerObserver, emit_features, emit_maps};
use custom_kernels::{
    ConvSpec, KernelBackend, KernelChoice, PoolKind, PoolSpec, conv2d, conv2d_pool, pool2d,
};
use custom_kernels::{linear as linear_op, linear_relu};

/// A conv block of a network: a square convolution with bias (stride 1, `padding` zeros on
/// every side) and ReLU, then the 2x2 pool (max or average, a choice of the network). Each
/// network lists its blocks as constants; they build the layers, run them, describe them in
/// the summary, and give the bench its cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvBlockShape {
    /// Name of the conv layer, e.g. `conv1`.
    pub conv: &'static str,
    /// Name of the pool after it, e.g. `pool1`.
    pub pool: &'static str,
    /// Channels of the block's input.
    pub in_channels: usize,
    /// Filters of the conv (channels of its output).
    pub filters: usize,
    /// Side of the square kernel.
    pub kernel: usize,
    /// Zeros added on every side of the input.
    pub padding: usize,
    /// Side of the block's (square) input for a 28x28 image.
    pub input_side: usize,
}

impl ConvBlockShape {
    /// The pool after every conv of the networks.
    pub const POOL: PoolSpec = PoolSpec::TWO_BY_TWO;

    /// The conv as the kernels run it: stride 1, this padding, ReLU fused.
    pub fn conv_spec(&self) -> ConvSpec {
        ConvSpec::relu(self.padding)
    }

    /// Side of the conv's output (before the pool).
    pub fn conv_output_side(&self) -> usize {
        let side = [self.input_side; 2];
        self.conv_spec()
            .output_size(side, [self.kernel; 2])
            .expect("a network's kernel fits its input")[0]
    }

    /// Side of the block's output (after the pool).
    pub fn output_side(&self) -> usize {
        Self::POOL
            .output_size([self.conv_output_side(); 2])
            .expect("a network's pool fits its conv output")[0]
    }

    /// The conv along one axis, for sizes and receptive fields.
    pub fn conv_window(&self) -> Window {
        Window {
            filter: self.kernel,
            stride: 1,
            padding: self.padding,
        }
    }

    /// The pool after the conv along one axis.
    pub fn pool_window(&self) -> Window {
        Window {
            filter: Self::POOL.kernel[0],
            stride: Self::POOL.stride[0],
            padding: 0,
        }
    }

    /// The conv as the summary describes it, e.g. `conv 5x5/1 pad 2, 6 filters + ReLU`
    /// (`valid` for no padding).
    pub fn description(&self) -> String {
        let padding = match self.padding {
            0 => "valid".to_string(),
            p => format!("pad {p}"),
        };
        let k = self.kernel;
        format!("conv {k}x{k}/1 {padding}, {} filters + ReLU", self.filters)
    }
}

/// Features of `block`'s output flattened for the fully connected layer after it.
pub(crate) fn flat_features(block: &ConvBlockShape) -> usize {
    block.filters * block.output_side() * block.output_side()
}

/// The conv layer of `block`; weights follow `init`, biases start at zero.
pub(crate) fn conv<B: Backend>(
    block: &ConvBlockShape,
    init: InitScheme,
    device: &B::Device,
) -> Conv2d<B> {
    let (k, p) = (block.kernel, block.padding);
    let mut layer = Conv2dConfig::new([block.in_channels, block.filters], [k, k])
        .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
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

/// A conv block (see [`ConvBlockShape`]) on `x`, ending with a `pool_kind` pool. A max-pool
/// block runs as one fused op unless `observer` looks at layer outputs; an average-pool
/// block, or one observed, runs the conv and the pool separately (and reports both to an
/// observer that asks).
pub(crate) fn conv_block<B: KernelBackend>(
    layer: &Conv2d<B>,
    block: &ConvBlockShape,
    x: Tensor<B, 4>,
    pool_kind: PoolKind,
    kernels: KernelChoice,
    observer: &mut impl LayerObserver<B>,
) -> Tensor<B, 4> {
    let bias = layer.bias.as_ref().map(|b| b.val());
    let (conv, pool) = (block.conv_spec(), ConvBlockShape::POOL);
    if pool_kind == PoolKind::Max && !observer.wants_outputs() {
        return conv2d_pool(x, layer.weight.val(), bias, conv, pool, kernels);
    }
    let x = conv2d(x, layer.weight.val(), bias, conv, kernels);
    emit_maps(
        observer,
        block.conv,
        || block.description(),
        layer.num_params(),
        &x,
    );
    let x = pool2d(x, pool_kind, pool, kernels);
    let [k, s] = [pool.kernel[0], pool.stride[0]];
    emit_maps(
        observer,
        block.pool,
        || format!("{pool_kind}-pool {k}x{k}/{s}"),
        0,
        &x,
    );
    x
}

/// What ends a fully connected block after its product and bias.
#[derive(Clone, Copy)]
pub(crate) enum DenseEnd<'a> {
    /// A ReLU (a hidden layer; the custom kernels apply it inside the layer's op).
    Relu,
    /// A ReLU, then dropout (the ConvNet's fc1).
    ReluDropout(&'a Dropout),
    /// Nothing: the network's logits.
    Logits,
}

/// A fully connected block on `x`: the layer `name` through the chosen kernels, ended as
/// `end` says, reported to `observer` (the fully connected counterpart of [`conv_block`]).
pub(crate) fn dense_block<B: KernelBackend>(
    layer: &Linear<B>,
    name: &'static str,
    x: Tensor<B, 2>,
    end: DenseEnd<'_>,
    kernels: KernelChoice,
    observer: &mut impl LayerObserver<B>,
) -> Tensor<B, 2> {
    let bias = layer.bias.as_ref().map(|b| b.val());
    let weight = layer.weight.val();
    let (x, after) = match end {
        DenseEnd::Relu => (linear_relu(x, weight, bias, kernels), " + ReLU"),
        DenseEnd::ReluDropout(dropout) => (
            dropout.forward(linear_relu(x, weight, bias, kernels)),
            " + ReLU, dropout",
        ),
        DenseEnd::Logits => (linear_op(x, weight, bias, kernels), " (logits)"),
    };
    emit_features(
        observer,
        name,
        || {
            let [inputs, outputs] = layer.weight.dims();
            format!("fully connected {inputs} -> {outputs}{after}")
        },
        layer.num_params(),
        &x,
    );
    x
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
