//! The per-layer table a course prints for a network: output shape and parameters per layer.

use std::fmt;

use burn::prelude::*;

use crate::network::Network;
use crate::trace::LayerEvent;
use custom_kernels::KernelBackend;
use mnist_data::IMAGE_SIDE;

/// One row of a [`ModelSummary`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LayerSummary {
    /// Short layer name (`conv1`, `pool1`, `fc1`, ...).
    pub name: String,
    /// What the layer does.
    pub description: String,
    /// Output shape for one image (batch dimension dropped), e.g. `[6, 28, 28]`.
    pub output_shape: Vec<usize>,
    /// Trainable parameters of the layer.
    pub params: usize,
}

/// Per-layer summary of a network, measured by running one blank image through it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ModelSummary {
    /// Architecture name.
    pub model: String,
    /// Layers in forward order.
    pub layers: Vec<LayerSummary>,
    /// Total trainable parameters (the module's own count).
    pub total_params: usize,
}

impl ModelSummary {
    /// Runs a single zero image through `network` and records every layer.
    pub fn of<B: KernelBackend>(network: &Network<B>) -> Self {
        let device = network.devices().into_iter().next().unwrap_or_default();
        let input = Tensor::<B, 4>::zeros([1, 1, IMAGE_SIDE, IMAGE_SIDE], &device);
        let mut layers = vec![LayerSummary {
            name: "input".into(),
            description: "grayscale image".into(),
            output_shape: vec![1, IMAGE_SIDE, IMAGE_SIDE],
            params: 0,
        }];
        network.forward_observed(input, &mut |event: LayerEvent<'_, B>| {
            layers.push(LayerSummary {
                name: event.name.to_string(),
                description: event.description.to_string(),
                output_shape: event.output.dims()[1..].to_vec(),
                params: event.params,
            });
        });
        Self {
            model: network.kind().to_string(),
            layers,
            total_params: network.num_params(),
        }
    }
}

impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shape = |dims: &[usize]| {
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        writeln!(f, "{}", self.model)?;
        writeln!(
            f,
            "{:<6} {:<46} {:>10} {:>12}",
            "layer", "", "output", "parameters"
        )?;
        for layer in &self.layers {
            writeln!(
                f,
                "{:<6} {:<46} {:>10} {:>12}",
                layer.name,
                layer.description,
                shape(&layer.output_shape),
                group_thousands(layer.params)
            )?;
        }
        write!(
            f,
            "{:<6} {:<46} {:>10} {:>12}",
            "total",
            "",
            "",
            group_thousands(self.total_params)
        )
    }
}

/// `61706` -> `61,706`.
pub fn group_thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
