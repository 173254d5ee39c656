//! The translation-invariance curves (issue 36, part 4): `GET /api/shifts` over real HTTP, its
//! numbers equal to the library's [`infer::shift_curve`] and, at no shift, to classifying the
//! same test images directly.

use burn_ndarray::NdArray;
use infer::Classifier;
use infer::shift_curve::{MAX_CURVE_SHIFT, shift_curve};
use mnist_data::{IMAGE_PIXELS, Mnist, bundled_data_dir};

use super::common::{committee_dir, model_dir};
use super::serve::{Server, floats, get};

/// Test images of the curves measured here.
const IMAGES: usize = 200;

#[test]
fn served_shift_curves_are_the_libraries_and_fall_with_the_shift() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let server = Server::start(&[model_dir(), committee_dir()]);
    let (status, curves) = get(&server.url(&format!("/api/shifts?images={IMAGES}")));
    assert_eq!(status, 200, "{curves}");
    assert_eq!(curves["images"], IMAGES);
    let shifts: Vec<usize> = serde_json::from_value(curves["shifts"].clone()).unwrap();
    assert_eq!(shifts, (0..=MAX_CURVE_SHIFT).collect::<Vec<_>>());
    let models = curves["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{curves}");
    for (model, dir) in models.iter().zip([model_dir(), committee_dir()]) {
        let served = floats(&model["accuracy"]);
        println!("{}: {served:?}", model["name"]);
        let classifier = Classifier::<NdArray>::load(dir).unwrap();
        assert_eq!(served, shift_curve(&classifier, &test, IMAGES));
        // At no shift: the test images classified as they are.
        let images: Vec<[u8; IMAGE_PIXELS]> = (0..IMAGES)
            .map(|i| test.image(i).try_into().unwrap())
            .collect();
        let correct = classifier
            .classify_pixels(&images)
            .iter()
            .zip(0..IMAGES)
            .filter(|(p, i)| p.digit == test.label(*i))
            .count();
        assert_eq!(served[0], 100.0 * correct as f64 / IMAGES as f64);
        // Moved 8 pixels, a network trained on centred digits loses most of them.
        assert!(
            served[MAX_CURVE_SHIFT] < served[0] - 20.0,
            "{}: {served:?}",
            model["name"]
        );
    }

    for (query, expected) in [
        ("images=0", "images = 0"),
        ("images=2001", "images = 2001"),
        ("images=many", "images"),
    ] {
        let (status, answer) = get(&server.url(&format!("/api/shifts?{query}")));
        assert_eq!(status, 400, "{query}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{query}: {error}");
    }
}
