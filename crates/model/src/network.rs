//! One type for "any of the three networks", chosen at run time from a [`ModelConfig`].

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::convnet::{CONVNET_CONV_BLOCKS, ConvNet};
use crate::init::InitScheme;
use crate::layers::ConvBlockShape;
use crate::lenet5::{LENET5_CONV_BLOCKS, LeNet5};
use crate::mlp::Mlp;
use crate::trace::{LayerObserver, NoObserver};
use custom_kernels::{KernelBackend, KernelChoice, PoolKind};

/// Images per forward pass when a trained network scores a whole set (the test set after
/// training, `infer eval`): bounds the memory of one pass; the results do not depend on it.
pub const SCORING_BATCH: usize = 500;

/// Which architecture to build.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// LeNet-5: 61,706 parameters.
    #[default]
    #[value(alias = "lenet", alias = "lenet-5", alias = "lenet_5")]
    Lenet5,
    /// The 32/64-filter ConvNet: 3,274,634 parameters.
    #[value(alias = "cnn", alias = "conv-net", alias = "conv_net")]
    Convnet,
    /// The fully connected baseline, 784-1200-1200-1200-10: 3,836,410 parameters.
    Mlp,
}

custom_kernels::value_enum_text!(ModelKind, "model");

impl ModelKind {
    /// Every kind, in the order the CLI lists them.
    pub const ALL: [ModelKind; 3] = [ModelKind::Lenet5, ModelKind::Convnet, ModelKind::Mlp];

    /// The conv blocks of this architecture, in forward order (none for the MLP).
    pub fn conv_blocks(self) -> &'static [ConvBlockShape] {
        match self {
            ModelKind::Lenet5 => &LENET5_CONV_BLOCKS,
            ModelKind::Convnet => &CONVNET_CONV_BLOCKS,
            ModelKind::Mlp => &[],
        }
    }
}

/// Hyper-parameters of a network; saved next to trained weights so they can be rebuilt.
#[derive(Config, Debug, PartialEq)]
pub struct ModelConfig {
    /// The architecture.
    #[config(default = "ModelKind::Lenet5")]
    pub kind: ModelKind,
    /// Weight initialisation of conv and linear layers (biases start at zero).
    #[config(default = "InitScheme::He")]
    pub init: InitScheme,
    /// Drop probability of the ConvNet's dropout after fc1 (0.25 = keep 0.75); unused otherwise.
    #[config(default = 0.25)]
    pub dropout: f64,
    /// Conv, pool and linear implementation: the hand-written kernels (default) or Burn's
    /// built-in ops.
    #[config(default = "KernelChoice::Custom")]
    pub kernels: KernelChoice,
    /// Pooling after each conv of LeNet-5 and the ConvNet: max or average. Unset means max,
    /// so configs saved before this was a choice load as they were (see
    /// [`ModelConfig::pool_kind`]).
    pub pool: Option<PoolKind>,
}

impl ModelConfig {
    /// The pooling of the conv blocks: max unless the config says otherwise.
    pub fn pool_kind(&self) -> PoolKind {
        self.pool.unwrap_or_default()
    }

    /// Builds the configured network with fresh weights on `device`.
    pub fn init<B: KernelBackend>(&self, device: &B::Device) -> Network<B> {
        let pool = self.pool_kind();
        match self.kind {
            ModelKind::Lenet5 => {
                Network::Lenet5(LeNet5::new(self.init, pool, self.kernels, device))
            }
            ModelKind::Convnet => Network::Convnet(ConvNet::new(
                self.init,
                self.dropout,
                pool,
                self.kernels,
                device,
            )),
            ModelKind::Mlp => Network::Mlp(Mlp::new(self.init, self.kernels, device)),
        }
    }
}

/// Any of the three networks behind one type, so training and inference code is written once.
// The variants differ in size, but a network is built once and moved rarely: no need to box.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Network<B: KernelBackend> {
    /// LeNet-5.
    Lenet5(LeNet5<B>),
    /// The 32/64-filter ConvNet.
    Convnet(ConvNet<B>),
    /// The MLP baseline.
    Mlp(Mlp<B>),
}

impl<B: KernelBackend> Network<B> {
    /// The same network with its dropout off. Burn's dropout draws masks whenever the backend
    /// records gradients, so gradients through the network outside training (the saliency
    /// maps of `infer`) take this one.
    pub fn without_dropout(self) -> Self {
        match self {
            Network::Convnet(mut convnet) => {
                convnet.dropout.prob = 0.0;
                Network::Convnet(convnet)
            }
            other => other,
        }
    }

    /// Logits `[batch, 10]` for normalised images `[batch, 1, 28, 28]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.forward_observed(images, &mut NoObserver)
    }

    /// Like [`Network::forward`], reporting every layer's output to `observer`.
    pub fn forward_observed(
        &self,
        images: Tensor<B, 4>,
        observer: &mut impl LayerObserver<B>,
    ) -> Tensor<B, 2> {
        match self {
            Network::Lenet5(net) => net.forward_observed(images, observer),
            Network::Convnet(net) => net.forward_observed(images, observer),
            Network::Mlp(net) => net.forward_observed(images, observer),
        }
    }

    /// Weights `[filters, channels, kh, kw]` of the first convolution (none for the MLP).
    pub fn first_conv_weights(&self) -> Option<Tensor<B, 4>> {
        match self {
            Network::Lenet5(net) => Some(net.conv1.weight.val()),
            Network::Convnet(net) => Some(net.conv1.weight.val()),
            Network::Mlp(_) => None,
        }
    }

    /// The first conv layer's biases `[filters]` (`None` for the MLP).
    pub fn first_conv_bias(&self) -> Option<Tensor<B, 1>> {
        let conv1 = match self {
            Network::Lenet5(net) => &net.conv1,
            Network::Convnet(net) => &net.conv1,
            Network::Mlp(_) => return None,
        };
        conv1.bias.as_ref().map(|bias| bias.val())
    }

    /// Which architecture this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            Network::Lenet5(_) => ModelKind::Lenet5,
            Network::Convnet(_) => ModelKind::Convnet,
            Network::Mlp(_) => ModelKind::Mlp,
        }
    }
}
