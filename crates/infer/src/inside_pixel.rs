//! Inside one pixel of a feature map, the lecture's worked example on the learner's own digit
//! and the network's own weights: which input pixels the pixel sees (its receptive field,
//! growing through the pools and convs), every layer's output size with its formula filled in
//! and, for the first conv layer, the window of the input, the kernel and the sum of products
//! plus bias that gives the map's value.

use custom_kernels::KernelBackend;
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE, normalize_pixel};
use model::ConvBlockShape;
use model::layer_math::{Window, receptive_field};
use serde::Serialize;

use crate::classifier::Classifier;
use crate::features::classify_with_feature_maps;

/// Which pixel: a conv layer's output (after its ReLU), as the page's feature maps show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapPixel {
    /// The conv layer, 1 for `conv1`.
    pub layer: usize,
    /// Its filter (the map).
    pub channel: usize,
    /// Column.
    pub x: usize,
    /// Row.
    pub y: usize,
}

/// The input pixels a map pixel sees: inclusive bounds, clipped to the 28x28 input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    pub left: usize,
    pub top: usize,
    pub right: usize,
    pub bottom: usize,
    /// The side before clipping (the part past the border is the convs' zero padding).
    pub side: usize,
}

/// One layer's output side with the formula that gives it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSize {
    /// `conv1`, `pool1`, ...
    pub layer: String,
    /// `(W - F + 2P)/S + 1 = out`, filled in.
    pub formula: String,
}

/// The first conv layer's arithmetic for one output pixel: `sum(window * kernel) + bias`, then
/// the ReLU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Products {
    /// The input under the kernel, row-major `F x F`, normalised as the network gets it (the
    /// padding is 0).
    pub window: Vec<f32>,
    /// The filter's weights, row-major `F x F`.
    pub kernel: Vec<f32>,
    /// The filter's bias.
    pub bias: f32,
    /// `sum(window * kernel) + bias`, before the ReLU.
    pub sum: f32,
}

/// Everything the page shows about one map pixel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PixelStory {
    /// `conv1`, `conv2`, ...
    pub layer_name: String,
    /// The map's value at the pixel (after the ReLU).
    pub value: f32,
    /// What it sees of the input.
    pub field: Field,
    /// Every conv and pool layer's output side, in forward order, up to this one's pool.
    pub sizes: Vec<LayerSize>,
    /// The arithmetic, for the first conv layer only.
    pub products: Option<Products>,
}

/// The story of `pixel` of the first network of `classifier` (a committee's first member's
/// layers, as the page's maps) for `pixels` (MNIST-style, 0 = background); an error message
/// naming the value out of range.
pub fn inside_pixel<B: KernelBackend>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
    pixel: MapPixel,
) -> Result<PixelStory, String> {
    let kind = classifier.config().kind;
    let blocks = kind.conv_blocks();
    if blocks.is_empty() {
        return Err(format!(
            "a {kind} has no convolution layers: it sees 784 separate pixels"
        ));
    }
    let block = pixel
        .layer
        .checked_sub(1)
        .and_then(|index| blocks.get(index))
        .ok_or_else(|| {
            format!(
                "layer = {}: a {kind} has conv layers 1 to {}",
                pixel.layer,
                blocks.len()
            )
        })?;
    let side = block.conv_output_side();
    if pixel.channel >= block.filters {
        return Err(format!(
            "channel = {}: {} has filters 0 to {}",
            pixel.channel,
            block.conv,
            block.filters - 1
        ));
    }
    for (axis, value) in [("x", pixel.x), ("y", pixel.y)] {
        if value >= side {
            return Err(format!(
                "{axis} = {value}: {}'s maps are {side}x{side}",
                block.conv
            ));
        }
    }
    let (_, maps) = classify_with_feature_maps(classifier, pixels);
    let map = &maps[pixel.layer - 1];
    let value = map.values[(pixel.channel * side + pixel.y) * side + pixel.x];

    let windows = windows_to(blocks, pixel.layer);
    let ([left, right], [top, bottom]) = (
        clip(receptive_field(&windows, pixel.x)),
        clip(receptive_field(&windows, pixel.y)),
    );
    let (first, last) = receptive_field(&windows, 0);
    let products = (pixel.layer == 1)
        .then(|| products(classifier, pixels, block, pixel))
        .transpose()?;
    Ok(PixelStory {
        layer_name: block.conv.to_string(),
        value,
        field: Field {
            left,
            top,
            right,
            bottom,
            side: (last - first + 1) as usize,
        },
        sizes: sizes(blocks),
        products,
    })
}

/// The windows from the input to the conv of layer `layer` (1-based), in forward order.
fn windows_to(blocks: &[ConvBlockShape], layer: usize) -> Vec<Window> {
    let mut windows = Vec::new();
    for block in &blocks[..layer - 1] {
        windows.push(block.conv_window());
        windows.push(block.pool_window());
    }
    windows.push(blocks[layer - 1].conv_window());
    windows
}

/// `[first, last]` clipped to the input.
fn clip((first, last): (isize, isize)) -> [usize; 2] {
    let edge = IMAGE_SIDE as isize - 1;
    [first.clamp(0, edge) as usize, last.clamp(0, edge) as usize]
}

/// Every conv and pool layer's output side with its formula.
fn sizes(blocks: &[ConvBlockShape]) -> Vec<LayerSize> {
    let mut sizes = Vec::new();
    for block in blocks {
        let conv_side = block.conv_output_side();
        for (layer, window, input) in [
            (block.conv, block.conv_window(), block.input_side),
            (block.pool, block.pool_window(), conv_side),
        ] {
            sizes.push(LayerSize {
                layer: layer.to_string(),
                formula: window
                    .output_size_formula(input)
                    .unwrap_or_else(|| format!("the window does not fit {input}")),
            });
        }
    }
    sizes
}

/// The first conv layer's arithmetic at `pixel`.
fn products<B: KernelBackend>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
    block: &ConvBlockShape,
    pixel: MapPixel,
) -> Result<Products, String> {
    let network = classifier.network();
    let (Some(weights), Some(biases)) = (network.first_conv_weights(), network.first_conv_bias())
    else {
        return Err("the first conv layer has no weights or no biases".to_string());
    };
    let f = block.kernel;
    let kernel: Vec<f32> = weights
        .slice([pixel.channel..pixel.channel + 1, 0..1, 0..f, 0..f])
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|error| format!("the kernel: {error:?}"))?;
    let biases: Vec<f32> = biases
        .into_data()
        .convert::<f32>()
        .to_vec()
        .map_err(|error| format!("the biases: {error:?}"))?;
    let bias = biases[pixel.channel];
    let padding = block.padding as isize;
    let mut window = Vec::with_capacity(f * f);
    for row in 0..f as isize {
        for col in 0..f as isize {
            let (y, x) = (
                pixel.y as isize + row - padding,
                pixel.x as isize + col - padding,
            );
            let inside =
                (0..IMAGE_SIDE as isize).contains(&y) && (0..IMAGE_SIDE as isize).contains(&x);
            window.push(if inside {
                normalize_pixel(pixels[y as usize * IMAGE_SIDE + x as usize])
            } else {
                0.0
            });
        }
    }
    let sum = window.iter().zip(&kernel).map(|(v, w)| v * w).sum::<f32>() + bias;
    Ok(Products {
        window,
        kernel,
        bias,
        sum,
    })
}
