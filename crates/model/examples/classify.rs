//! Classifying MNIST images with a trained model and the `model` crate alone (with Burn's
//! ndarray backend): what a program that imports the model crate for inference looks like,
//! without the training or infer crates.
//!
//! ```sh
//! cargo run --release -p model --example classify -- runs/lenet5 data/mnist/t10k-images-idx3-ubyte.gz 0 1 2
//! ```
//!
//! Prints one line per image: its index, the predicted digit and the ten probabilities. The
//! root end-to-end test checks that they are `infer predict`'s.

use std::path::Path;

use anyhow::{Context, bail};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn_ndarray::NdArray;
use mnist_data::{IMAGE_SIDE, normalize_pixel, read_images};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_dir, images, indices @ ..] = args.as_slice() else {
        bail!("usage: classify MODEL_DIR IDX_IMAGES INDEX...");
    };
    let device = Default::default();
    let (network, _config) = model::load_model::<NdArray>(Path::new(model_dir), &device)?;
    let set = read_images(Path::new(images))?;
    if (set.rows, set.cols) != (IMAGE_SIDE, IMAGE_SIDE) {
        bail!(
            "{images}: images are {}x{}, not MNIST's",
            set.rows,
            set.cols
        );
    }
    for index in indices {
        let i: usize = index
            .parse()
            .with_context(|| format!("image index '{index}'"))?;
        if i >= set.count {
            bail!("{images}: no image {i} ({} images)", set.count);
        }
        // Normalised as in training: [1, 1, 28, 28].
        let pixels: Vec<f32> = set.image(i).iter().map(|&p| normalize_pixel(p)).collect();
        let input = Tensor::<NdArray, 4>::from_data(
            TensorData::new(pixels, [1, 1, IMAGE_SIDE, IMAGE_SIDE]),
            &device,
        );
        let probabilities = softmax(network.forward(input), 1)
            .into_data()
            .to_vec::<f32>()
            .expect("f32 probabilities");
        let digit = (0..probabilities.len())
            .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
            .expect("ten classes");
        let listed: Vec<String> = probabilities.iter().map(|p| p.to_string()).collect();
        println!("{i} {digit} {}", listed.join(" "));
    }
    Ok(())
}
