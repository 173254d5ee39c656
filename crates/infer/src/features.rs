//! What a network has learned, as numbers ready to draw: its first-layer kernels and the
//! feature maps one image produces after each conv layer.

use burn::prelude::*;
use custom_kernels::KernelBackend;
use mnist_data::IMAGE_PIXELS;
use model::{LayerEvent, LayerOutput};

use crate::classifier::{Classifier, Prediction};
use crate::render::FeatureMaps;

/// The first conv layer's kernels (first input channel of each filter), or `None` for a
/// network without convolutions (the MLP).
pub fn first_layer_kernels<B: KernelBackend>(classifier: &Classifier<B>) -> Option<FeatureMaps> {
    let weights = classifier.network().first_conv_weights()?;
    let [filters, _channels, height, width] = weights.dims();
    let first_channel = weights.slice([0..filters, 0..1, 0..height, 0..width]);
    Some(FeatureMaps {
        title: format!("conv1 kernels: {filters} filters {height}x{width} (blue < 0 < red)"),
        channels: filters,
        height,
        width,
        values: to_vec(first_channel.into_data()),
    })
}

/// The output of every conv layer (after its ReLU) for one MNIST-style image.
pub fn conv_feature_maps<B: KernelBackend>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
) -> Vec<FeatureMaps> {
    classify_with_feature_maps(classifier, pixels).1
}

/// The prediction for one MNIST-style image and the output of every conv layer (after its
/// ReLU), from one forward pass (a committee: its prediction, and its first member's layers).
pub fn classify_with_feature_maps<B: KernelBackend>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
) -> (Prediction, Vec<FeatureMaps>) {
    let mut layers = Vec::new();
    let mut observe = |event: LayerEvent<'_, B>| {
        if let (true, LayerOutput::Maps(maps)) = (event.name.starts_with("conv"), &event.output) {
            let [_, channels, height, width] = maps.dims();
            layers.push(FeatureMaps {
                title: format!("{}: {}", event.name, event.description),
                channels,
                height,
                width,
                values: to_vec((*maps).clone().into_data()),
            });
        }
    };
    let input = classifier.input_tensor(&[*pixels]);
    let logits = classifier
        .network()
        .forward_observed(input.clone(), &mut observe);
    let prediction = classifier.predictions(input, logits).remove(0);
    (prediction, layers)
}

fn to_vec(data: TensorData) -> Vec<f32> {
    data.convert::<f32>().to_vec().expect("f32 values")
}
