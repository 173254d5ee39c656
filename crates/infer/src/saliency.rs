//! What a network looks at in one image, for one class: the saliency map (how strongly the
//! class's score moves with each input pixel: the gradient of its logit with respect to the
//! input, through Burn's autodiff and the project's own backward kernels) and the occlusion
//! map (the class's probability while a patch of the image is hidden, as the patch slides over
//! it). The first says which pixels the score is most sensitive to; the second, which parts of
//! the digit the answer needs.

use burn::backend::Autodiff;
use burn::module::AutodiffModule;
use burn::prelude::*;
use custom_kernels::RawKernels;
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE};
use model::Network;
use serde::Serialize;

use crate::classifier::Classifier;

/// Side of the square the occlusion map hides, pixels (about a stroke's width and a half).
pub const OCCLUSION_PATCH: usize = 6;
/// Step between two positions of the hidden square, pixels: every pixel is hidden by
/// `(OCCLUSION_PATCH / OCCLUSION_STRIDE)^2` positions, away from the borders.
pub const OCCLUSION_STRIDE: usize = 2;

/// Both maps of one image for one class, row-major 28x28.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attention {
    /// The class the maps are for.
    pub class: u8,
    /// `|d logit / d pixel|` of the network's (normalised) input, scaled so that the largest
    /// is 1; a committee's is the mean of its members' scaled maps.
    pub saliency: Vec<f32>,
    /// The class's probability (a committee's averaged one) with the pixel hidden: the mean
    /// over the positions of the hidden square that cover it.
    pub occlusion: Vec<f32>,
    /// [`OCCLUSION_PATCH`].
    pub occlusion_patch: usize,
    /// [`OCCLUSION_STRIDE`].
    pub occlusion_stride: usize,
}

/// The saliency and occlusion maps of `pixels` (MNIST-style, 0 = background) for `class`.
///
/// # Panics
/// If `class` is not a digit (0-9).
pub fn attention<B: RawKernels>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
    class: usize,
) -> Attention {
    assert!(class < mnist_data::CLASSES, "class {class} is not a digit");
    let input = classifier.input_tensor(&[*pixels]);
    let members = classifier.members();
    let mut saliency = vec![0f32; IMAGE_PIXELS];
    for network in members {
        for (sum, value) in saliency
            .iter_mut()
            .zip(saliency_of(network, input.clone(), class))
        {
            *sum += value / members.len() as f32;
        }
    }
    Attention {
        class: class as u8,
        saliency,
        occlusion: occlusion(classifier, pixels, class),
        occlusion_patch: OCCLUSION_PATCH,
        occlusion_stride: OCCLUSION_STRIDE,
    }
}

/// One network's `|d logit[class] / d input|` for one image `[1, 1, 28, 28]`, scaled to a
/// largest value of 1 (all 0 where the gradient is 0 everywhere).
fn saliency_of<B: RawKernels>(network: &Network<B>, input: Tensor<B, 4>, class: usize) -> Vec<f32> {
    // Dropout would draw masks on an autodiff backend: off, as at inference.
    let network = Network::<Autodiff<B>>::from_inner(network.clone().without_dropout());
    let input = Tensor::<Autodiff<B>, 4>::from_inner(input).require_grad();
    let logits = network.forward(input.clone());
    let grads = logits.slice([0..1, class..class + 1]).sum().backward();
    let gradient = input
        .grad(&grads)
        .expect("the input requires its gradient, so the backward pass gives it");
    let mut values: Vec<f32> = gradient
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 gradient");
    let largest = values.iter().fold(0f32, |max, v| max.max(v.abs()));
    for value in &mut values {
        *value = if largest > 0.0 {
            value.abs() / largest
        } else {
            0.0
        };
    }
    values
}

/// The class's probability with each pixel hidden ([`Attention::occlusion`]): every position of
/// the hidden square is one image of one batch.
fn occlusion<B: RawKernels>(
    classifier: &Classifier<B>,
    pixels: &[u8; IMAGE_PIXELS],
    class: usize,
) -> Vec<f32> {
    let starts: Vec<usize> = (0..=IMAGE_SIDE - OCCLUSION_PATCH)
        .step_by(OCCLUSION_STRIDE)
        .collect();
    let squares: Vec<(usize, usize)> = starts
        .iter()
        .flat_map(|&top| starts.iter().map(move |&left| (top, left)))
        .collect();
    let covered = |(top, left): (usize, usize)| {
        (top..top + OCCLUSION_PATCH).flat_map(move |row| {
            (left..left + OCCLUSION_PATCH).map(move |col| row * IMAGE_SIDE + col)
        })
    };
    let hidden: Vec<[u8; IMAGE_PIXELS]> = squares
        .iter()
        .map(|&square| {
            let mut image = *pixels;
            for pixel in covered(square) {
                image[pixel] = 0;
            }
            image
        })
        .collect();
    let predictions = classifier.classify_pixels(&hidden);
    let mut sum = vec![0f32; IMAGE_PIXELS];
    let mut count = vec![0u32; IMAGE_PIXELS];
    for (&square, prediction) in squares.iter().zip(&predictions) {
        for pixel in covered(square) {
            sum[pixel] += prediction.probabilities[class];
            count[pixel] += 1;
        }
    }
    // The last square starts at IMAGE_SIDE - OCCLUSION_PATCH (22 = 0 + 11 strides): every
    // pixel is covered at least once.
    sum.iter()
        .zip(&count)
        .map(|(s, &n)| s / n.max(1) as f32)
        .collect()
}
