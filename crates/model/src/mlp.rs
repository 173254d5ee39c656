//! The fully connected baseline a CNN is compared against: 784-1200-1200-1200-10,
//! 3,836,410 trainable parameters.

use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::relu;

use crate::init::InitScheme;
use crate::layers::{flatten, linear};
use crate::trace::{LayerObserver, emit_features};

/// Multi-layer perceptron on flattened `[batch, 1, 28, 28]` images.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// 784 -> 1200.
    pub fc1: Linear<B>,
    /// 1200 -> 1200.
    pub fc2: Linear<B>,
    /// 1200 -> 1200.
    pub fc3: Linear<B>,
    /// 1200 -> 10 logits.
    pub fc4: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// A freshly initialised MLP.
    pub fn new(init: InitScheme, device: &B::Device) -> Self {
        Self {
            fc1: linear(28 * 28, 1200, init, device),
            fc2: linear(1200, 1200, init, device),
            fc3: linear(1200, 1200, init, device),
            fc4: linear(1200, 10, init, device),
        }
    }

    /// Logits `[batch, 10]` for images `[batch, 1, 28, 28]`, reporting each layer to `observer`.
    pub fn forward_observed(
        &self,
        images: Tensor<B, 4>,
        observer: &mut impl LayerObserver<B>,
    ) -> Tensor<B, 2> {
        let x = flatten(images);
        let x = relu(self.fc1.forward(x));
        emit_features(
            observer,
            "fc1",
            "fully connected 784 -> 1200 + ReLU",
            self.fc1.num_params(),
            &x,
        );
        let x = relu(self.fc2.forward(x));
        emit_features(
            observer,
            "fc2",
            "fully connected 1200 -> 1200 + ReLU",
            self.fc2.num_params(),
            &x,
        );
        let x = relu(self.fc3.forward(x));
        emit_features(
            observer,
            "fc3",
            "fully connected 1200 -> 1200 + ReLU",
            self.fc3.num_params(),
            &x,
        );
        let x = self.fc4.forward(x);
        emit_features(
            observer,
            "fc4",
            "fully connected 1200 -> 10 (logits)",
            self.fc4.num_params(),
            &x,
        );
        x
    }
}
