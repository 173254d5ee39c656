//! Weight initialisation schemes selectable from a model config.

use burn::nn::Initializer;
use serde::{Deserialize, Serialize};

/// How the weights of conv and linear layers are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// He / Kaiming normal, `std = sqrt(2 / fan_in)`: the default for ReLU networks.
    #[default]
    #[value(alias = "kaiming")]
    He,
    /// Xavier / Glorot normal, `std = sqrt(2 / (fan_in + fan_out))`.
    #[value(alias = "glorot")]
    Xavier,
}

custom_kernels::value_enum_text!(InitScheme, "init scheme");

impl InitScheme {
    /// The Burn initializer implementing this scheme.
    pub fn initializer(self) -> Initializer {
        match self {
            InitScheme::He => Initializer::KaimingNormal {
                gain: std::f64::consts::SQRT_2,
                fan_out_only: false,
            },
            InitScheme::Xavier => Initializer::XavierNormal { gain: 1.0 },
        }
    }
}
