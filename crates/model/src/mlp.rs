//! The fully connected baseline a CNN is compared against: 784-1200-1200-1200-10,
//! 3,836,410 trainable parameters.

use burn::nn::Linear;
use burn::prelude::*;

use crate::init::InitScheme;
use crate::layers::{dense, dense_description, dense_relu, flatten, linear};
use crate::trace::{LayerObserver, emit_features};
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
        let x = dense_relu(&self.fc1, x, self.kernels);
        emit_features(
            observer,
            "fc1",
            || dense_description(&self.fc1, " + ReLU"),
            self.fc1.num_params(),
            &x,
        );
        let x = dense_relu(&self.fc2, x, self.kernels);
        emit_features(
            observer,
            "fc2",
            || dense_description(&self.fc2, " + ReLU"),
            self.fc2.num_params(),
            &x,
        );
        let x = dense_relu(&self.fc3, x, self.kernels);
        emit_features(
            observer,
            "fc3",
            || dense_description(&self.fc3, " + ReLU"),
            self.fc3.num_params(),
            &x,
        );
        let x = dense(&self.fc4, x, self.kernels);
        emit_features(
            observer,
            "fc4",
            || dense_description(&self.fc4, " (logits)"),
            self.fc4.num_params(),
            &x,
        );
        x
    }
}
