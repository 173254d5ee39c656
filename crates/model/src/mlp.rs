//! The fully connected baseline a CNN is compared against: 784-1200-1200-1200-10,
//! 3,836,410 trainable parameters.

use burn::nn::Linear;
use burn::prelude::*;

use crate::init::InitScheme;
use crate::layers::{DenseEnd, dense_block, flatten, linear};
use crate::trace::LayerObserver;
use custom_kernels::{KernelBackend, KernelChoice};
use mnist_data::{CLASSES, IMAGE_PIXELS};

/// Multi-layer perceptron on flattened `[batch, 1, 28, 28]` images.
#[derive(Module, Debug)]
pub struct Mlp<B: KernelBackend> {
    /// 784 -> 1200.
    pub fc1: Linear<B>,
    /// 1200 -> 1200.
    pub fc2: Linear<B>,
    /// 1200 -> 1200.
    pub fc3: Linear<B>,
    /// 1200 -> 10 logits.
    pub fc4: Linear<B>,
    /// Custom or built-in linear kernels (not saved with the weights).
    #[module(skip)]
    pub kernels: KernelChoice,
}

impl<B: KernelBackend> Mlp<B> {
    /// A freshly initialised MLP running on `kernels`.
    pub fn new(init: InitScheme, kernels: KernelChoice, device: &B::Device) -> Self {
        Self {
            fc1: linear(IMAGE_PIXELS, 1200, init, device),
            fc2: linear(1200, 1200, init, device),
            fc3: linear(1200, 1200, init, device),
            fc4: linear(1200, CLASSES, init, device),
            kernels,
        }
    }

    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`, reporting each layer to `observer`.
    pub fn forward_observed(
        &self,
        images: Tensor<B, 4>,
        observer: &mut impl LayerObserver<B>,
    ) -> Tensor<B, 2> {
        let x = flatten(images);
        let k = self.kernels;
        let x = dense_block(&self.fc1, "fc1", x, DenseEnd::Relu, k, observer);
        let x = dense_block(&self.fc2, "fc2", x, DenseEnd::Relu, k, observer);
        let x = dense_block(&self.fc3, "fc3", x, DenseEnd::Relu, k, observer);
        dense_block(&self.fc4, "fc4", x, DenseEnd::Logits, k, observer)
    }
}
