//! The classic 32/64-filter MNIST ConvNet (TensorFlow's "Deep MNIST for experts"):
//! 3,274,634 trainable parameters.

use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;

use crate::init::InitScheme;
use crate::layers::{
    ConvBlockShape, DenseEnd, conv, conv_block, dense_block, flat_features, flatten, linear,
};
use crate::trace::LayerObserver;
use custom_kernels::{KernelBackend, KernelChoice, PoolKind};
use mnist_data::{CLASSES, IMAGE_SIDE};

/// The ConvNet's conv blocks: 5x5 SAME convs (padding 2) with 32 and 64 filters, each followed
/// by the 2x2 pool.
pub const CONVNET_CONV_BLOCKS: [ConvBlockShape; 2] = [
    ConvBlockShape {
        conv: "conv1",
        pool: "pool1",
        in_channels: 1,
        filters: 32,
        kernel: 5,
        padding: 2,
        input_side: IMAGE_SIDE,
    },
    ConvBlockShape {
        conv: "conv2",
        pool: "pool2",
        in_channels: 32,
        filters: 64,
        kernel: 5,
        padding: 2,
        input_side: IMAGE_SIDE / 2,
    },
];

/// The 32/64 ConvNet on `[batch, 1, 28, 28]`:
///
/// | layer | output | parameters |
/// |---|---|---|
/// | conv1 5x5 pad 2 (SAME), 32 filters + ReLU | 32x28x28 | 832 |
/// | pool1 2x2/2 | 32x14x14 | 0 |
/// | conv2 5x5 pad 2 (SAME), 64 filters + ReLU | 64x14x14 | 51,264 |
/// | pool2 2x2/2 | 64x7x7 | 0 |
/// | fc1 3136 -> 1024 + ReLU, dropout | 1024 | 3,212,288 |
/// | fc2 1024 -> 10 (logits) | 10 | 10,250 |
#[derive(Module, Debug)]
pub struct ConvNet<B: KernelBackend> {
    /// 1 -> 32 channels, 5x5, SAME (padding 2).
    pub conv1: Conv2d<B>,
    /// 32 -> 64 channels, 5x5, SAME (padding 2).
    pub conv2: Conv2d<B>,
    /// 3136 -> 1024.
    pub fc1: Linear<B>,
    /// Dropout after fc1 (active only on autodiff backends, i.e. in training).
    pub dropout: Dropout,
    /// 1024 -> 10 logits.
    pub fc2: Linear<B>,
    /// Max or average pooling after each conv (saved in the model's config, not with the
    /// weights).
    #[module(skip)]
    pub pool: PoolKind,
    /// Custom or built-in conv, pool and linear kernels (not saved with the weights).
    #[module(skip)]
    pub kernels: KernelChoice,
}

impl<B: KernelBackend> ConvNet<B> {
    /// A freshly initialised ConvNet with `pool` pooling, running on `kernels`; `dropout` is
    /// the drop probability (0.25 = keep 0.75).
    pub fn new(
        init: InitScheme,
        dropout: f64,
        pool: PoolKind,
        kernels: KernelChoice,
        device: &B::Device,
    ) -> Self {
        Self {
            conv1: conv(&CONVNET_CONV_BLOCKS[0], init, device),
            conv2: conv(&CONVNET_CONV_BLOCKS[1], init, device),
            fc1: linear(flat_features(&CONVNET_CONV_BLOCKS[1]), 1024, init, device),
            dropout: DropoutConfig::new(dropout).init(),
            fc2: linear(1024, CLASSES, init, device),
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
        let [block1, block2] = &CONVNET_CONV_BLOCKS;
        let x = conv_block(
            &self.conv1,
            block1,
            images,
            self.pool,
            self.kernels,
            observer,
        );
        let x = conv_block(&self.conv2, block2, x, self.pool, self.kernels, observer);
        let (k, dropout) = (self.kernels, DenseEnd::ReluDropout(&self.dropout));
        let x = dense_block(&self.fc1, "fc1", flatten(x), dropout, k, observer);
        dense_block(&self.fc2, "fc2", x, DenseEnd::Logits, k, observer)
    }
}
