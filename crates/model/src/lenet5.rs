//! LeNet-5 (LeCun et al., 1998) as commonly taught: ReLU and max-pooling instead of the
//! original sigmoid and sub-sampling (a trainable average; `pool: avg` gives a plain
//! average), 61,706 trainable parameters.

use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use crate::init::InitScheme;
use crate::layers::{
    ConvBlockShape, DenseEnd, conv, conv_block, dense_block, flat_features, flatten, linear,
};
use crate::trace::LayerObserver;
use custom_kernels::{KernelBackend, KernelChoice, PoolKind};
use mnist_data::{CLASSES, IMAGE_SIDE};

/// LeNet-5's conv blocks: 5x5 convs with 6 and 16 filters, each followed by the 2x2 pool.
pub const LENET5_CONV_BLOCKS: [ConvBlockShape; 2] = [
    ConvBlockShape {
        conv: "conv1",
        pool: "pool1",
        in_channels: 1,
        filters: 6,
        kernel: 5,
        padding: 2,
        input_side: IMAGE_SIDE,
    },
    ConvBlockShape {
        conv: "conv2",
        pool: "pool2",
        in_channels: 6,
        filters: 16,
        kernel: 5,
        padding: 0,
        input_side: IMAGE_SIDE / 2,
    },
];

/// LeNet-5 on `[batch, 1, 28, 28]`:
///
/// | layer | output | parameters |
/// |---|---|---|
/// | conv1 5x5 pad 2, 6 filters + ReLU | 6x28x28 | 156 |
/// | pool1 2x2/2 | 6x14x14 | 0 |
/// | conv2 5x5 valid, 16 filters + ReLU | 16x10x10 | 2,416 |
/// | pool2 2x2/2 | 16x5x5 | 0 |
/// | fc1 400 -> 120 + ReLU | 120 | 48,120 |
/// | fc2 120 -> 84 + ReLU | 84 | 10,164 |
/// | fc3 84 -> 10 (logits) | 10 | 850 |
#[derive(Module, Debug)]
pub struct LeNet5<B: KernelBackend> {
    /// First convolution, 1 -> 6 channels, 5x5, padding 2.
    pub conv1: Conv2d<B>,
    /// Second convolution, 6 -> 16 channels, 5x5, no padding.
    pub conv2: Conv2d<B>,
    /// 400 -> 120.
    pub fc1: Linear<B>,
    /// 120 -> 84.
    pub fc2: Linear<B>,
    /// 84 -> 10 logits.
    pub fc3: Linear<B>,
    /// Max or average pooling after each conv (saved in the model's config, not with the
    /// weights).
    #[module(skip)]
    pub pool: PoolKind,
    /// Custom or built-in conv, pool and linear kernels (not saved with the weights).
    #[module(skip)]
    pub kernels: KernelChoice,
}

impl<B: KernelBackend> LeNet5<B> {
    /// A freshly initialised LeNet-5 with `pool` pooling, running on `kernels`.
    pub fn new(
        init: InitScheme,
        pool: PoolKind,
        kernels: KernelChoice,
        device: &B::Device,
    ) -> Self {
        Self {
            conv1: conv(&LENET5_CONV_BLOCKS[0], init, device),
            conv2: conv(&LENET5_CONV_BLOCKS[1], init, device),
            fc1: linear(flat_features(&LENET5_CONV_BLOCKS[1]), 120, init, device),
            fc2: linear(120, 84, init, device),
            fc3: linear(84, CLASSES, init, device),
            pool,
            kernels,
        }
    }

    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`, reporting each layer to `observer`.
    pub fn forward_observed(
        &self,
        images: Tensor<B, 4>,
        observer: &mut impl LayerObserver<B>,
    ) -> Tensor<B, 2> {
        let [block1, block2] = &LENET5_CONV_BLOCKS;
        let x = conv_block(
            &self.conv1,
            block1,
            images,
            self.pool,
            self.kernels,
            observer,
        );
        let x = conv_block(&self.conv2, block2, x, self.pool, self.kernels, observer);
        let x = flatten(x);
        let k = self.kernels;
        let x = dense_block(&self.fc1, "fc1", x, DenseEnd::Relu, k, observer);
        let x = dense_block(&self.fc2, "fc2", x, DenseEnd::Relu, k, observer);
        dense_block(&self.fc3, "fc3", x, DenseEnd::Logits, k, observer)
    }
}
