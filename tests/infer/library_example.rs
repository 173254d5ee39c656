//! The `infer` library's front-page example (`crates/infer/src/lib.rs` shows this file): load
//! a saved model and classify a picture. The test at the end runs it on a LeNet-5 saved for
//! the purpose; it lives here rather than in a doc test so that `cargo test` compiles it once,
//! in the workspace's test binary.

use std::error::Error;
use std::path::Path;

use infer::{Classifier, DefaultBackend, Prediction};
use model::{ModelConfig, save_model};

/// What the model saved in `model_dir` (a training run folder such as `runs/lenet5`) makes of a
/// picture: any size, dark ink on a light background or the reverse.
pub fn classify_a_drawn_bar(model_dir: &Path) -> Result<Prediction, Box<dyn Error>> {
    let classifier = Classifier::<DefaultBackend>::load(model_dir)?;

    // Any picture of a digit: here a dark vertical bar on white, 60x80 pixels.
    let picture = image::GrayImage::from_fn(60, 80, |x, y| {
        let ink = (25..35).contains(&x) && (10..70).contains(&y);
        image::Luma([if ink { 0 } else { 255 }])
    });
    let prediction = classifier.classify(&image::DynamicImage::ImageLuma8(picture))?;
    println!(
        "{} ({:.1}%)",
        prediction.digit,
        100.0 * prediction.probabilities[prediction.digit as usize]
    );
    Ok(prediction)
}

#[test]
fn the_front_page_example_classifies_a_picture() {
    // An untrained LeNet-5 with seeded weights, saved as training saves a model.
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig::new();
    let network = crate::model::seeded::<DefaultBackend>(&config, &Default::default());
    save_model(&network, &config, dir.path()).unwrap();

    let prediction = classify_a_drawn_bar(dir.path()).unwrap();
    assert!(prediction.digit < 10);
    assert!((prediction.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(
        prediction.digit as usize,
        (0..10)
            .max_by(|&a, &b| prediction.probabilities[a].total_cmp(&prediction.probabilities[b]))
            .unwrap()
    );
}
