//! The classic 32/64-filter MNIST ConvNet (TensorFlow's "Deep MNIST for experts"):
//! 3,274,634 trainable parameters.

use burn::nn::conv::Conv2d;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::init::InitScheme;
use crate::layers::{BlockNames, conv, conv_block, dense, flatten, linear};
use crate::trace::{LayerObserver, emit_features};
use custom_kernels::{ConvKernels, Kernels};

/// The 32/64 ConvNet on `[batch, 1, 28, 28]`:
///
/// | layer | output | parameters |
/// |---|---|---|
/// | conv1 5x5 SAME, 32 filters + ReLU | 32x28x28 | 832 |
/// | pool1 2x2/2 | 32x14x14 | 0 |
/// | conv2 5x5 SAME, 64 filters + ReLU | 64x14x14 | 51,264 |
/// | pool2 2x2/2 | 64x7x7 | 0 |
/// | fc1 3136 -> 1024 + ReLU, dropout | 1024 | 3,212,288 |
/// | fc2 1024 -> 10 (logits) | 10 | 10,250 |
#[derive(Module, Debug)]
pub struct ConvNet<B: ConvKernels> {
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
    /// Custom or built-in conv, pool and linear kernels (not saved with the weights).
    #[module(skip)]
    pub kernels: Kernels,
}

impl<B: ConvKernels> ConvNet<B> {
    /// A freshly initialised ConvNet running on `kernels`; `dropout` is the drop probability
    /// (0.25 = keep 0.75).
    pub fn new(init: InitScheme, dropout: f64, kernels: Kernels, device: &B::Device) -> Self {
        Self {
            conv1: conv(1, 32, 5, 2, init, device),
            conv2: conv(32, 64, 5, 2, init, device),
            fc1: linear(64 * 7 * 7, 1024, init, device),
            dropout: DropoutConfig::new(dropout).init(),
            fc2: linear(1024, 10, init, device),
            kernels,
        }
    }

    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`, reporting each layer to `observer`.
    pub fn forward_observed(
        &self,
        images: Tensor<B, 4>,
        observer: &mut impl LayerObserver<B>,
    ) -> Tensor<B, 2> {
        let x = conv_block(
            &self.conv1,
            2,
            images,
            self.kernels,
            observer,
            BlockNames {
                conv: "conv1",
                description: "conv 5x5/1 SAME, 32 filters + ReLU",
                pool: "pool1",
            },
        );
        let x = conv_block(
            &self.conv2,
            2,
            x,
            self.kernels,
            observer,
            BlockNames {
                conv: "conv2",
                description: "conv 5x5/1 SAME, 64 filters + ReLU",
                pool: "pool2",
            },
        );
        let x = relu(dense(&self.fc1, flatten(x), self.kernels));
        let x = self.dropout.forward(x);
        emit_features(
            observer,
            "fc1",
            "fully connected 3136 -> 1024 + ReLU, dropout",
            self.fc1.num_params(),
            &x,
        );
        let x = dense(&self.fc2, x, self.kernels);
        emit_features(
            observer,
            "fc2",
            "fully connected 1024 -> 10 (logits)",
            self.fc2.num_params(),
            &x,
        );
        x
    }
}
