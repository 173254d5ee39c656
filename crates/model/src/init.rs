//! Weight initialisation schemes selectable from a model config.

use burn::nn::Initializer;
use serde::{Deserialize, Serialize};

/// How the weights of conv and linear layers are drawn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InitScheme {
    /// He / Kaiming normal, `std = sqrt(2 / fan_in)`: the default for ReLU networks.
    #[default]
    He,
    /// Xavier / Glorot normal, `std = sqrt(2 / (fan_in + fan_out))`.
    Xavier,
}

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

impl std::str::FromStr for InitScheme {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "he" | "kaiming" => Ok(InitScheme::He),
            "xavier" | "glorot" => Ok(InitScheme::Xavier),
            other => Err(format!(
                "unknown init scheme '{other}' (expected he or xavier)"
            )),
        }
    }
}

impl std::fmt::Display for InitScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InitScheme::He => "he",
            InitScheme::Xavier => "xavier",
        })
    }
}
