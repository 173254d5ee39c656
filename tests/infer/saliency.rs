//! What a network looks at (issue 36, part 3): the saliency and occlusion maps of
//! `infer::saliency`, in the library and over real HTTP (`POST /api/saliency`).

use burn_ndarray::NdArray;
use infer::Classifier;
use infer::saliency::{OCCLUSION_PATCH, attention};
use mnist_data::{IMAGE_PIXELS, IMAGE_SIDE, Mnist, bundled_data_dir};
use model::{ModelConfig, ModelKind};

use super::common::{committee_dir, model_dir};
use super::serve::{Server, floats, pixels_json, post, probabilities};

/// Test images the properties are checked on.
const IMAGES: [usize; 6] = [0, 1, 2, 3, 4, 18];

/// The predicted class's mean saliency on the stroke over that off it, at least.
const MIN_STROKE_RATIO: f64 = 1.25;

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / count as f64
}

/// Over HTTP: the answer's shapes and ranges, the prediction `/api/predict` gives, the class
/// asked for (the predicted digit by default); the saliency of the predicted class larger on
/// the stroke than off it; a corner hidden changes nothing; and bad requests get a 4xx naming
/// the problem.
#[test]
fn served_saliency_and_occlusion_maps() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let server = Server::start(&[model_dir()]);
    let url = server.url("/api/saliency");
    let mut corners_checked = 0;
    for index in IMAGES {
        let pixels = test.image(index);
        let body = pixels_json(pixels);
        let (status, answer) = post(&url, "application/json", &body);
        assert_eq!(status, 200, "{answer}");
        let (status, predicted) = post(&server.url("/api/predict"), "application/json", &body);
        assert_eq!(status, 200, "{predicted}");
        assert_eq!(answer["digit"], predicted["digit"], "image {index}");
        assert_eq!(
            answer["class"], predicted["digit"],
            "image {index}: default class"
        );
        assert_eq!(probabilities(&answer), probabilities(&predicted));
        let saliency = floats(&answer["saliency"]);
        let occlusion = floats(&answer["occlusion"]);
        assert_eq!(
            (saliency.len(), occlusion.len()),
            (IMAGE_PIXELS, IMAGE_PIXELS)
        );
        assert!(
            saliency.iter().all(|s| (0.0..=1.0).contains(s)),
            "image {index}"
        );
        assert_eq!(saliency.iter().cloned().fold(0.0, f64::max), 1.0);
        assert!(
            occlusion.iter().all(|p| (0.0..=1.0).contains(p)),
            "image {index}"
        );
        assert_eq!(answer["occlusion_patch"], OCCLUSION_PATCH);

        // On the stroke (ink over half) against the background (no ink).
        let on_stroke = mean(
            (0..IMAGE_PIXELS)
                .filter(|&p| pixels[p] > 127)
                .map(|p| saliency[p]),
        );
        let off_stroke = mean(
            (0..IMAGE_PIXELS)
                .filter(|&p| pixels[p] == 0)
                .map(|p| saliency[p]),
        );
        println!(
            "image {index}: mean saliency on the stroke {on_stroke:.3}, off it {off_stroke:.3}"
        );
        // Measured 1.43-1.65 times on these images (the gradient spreads to the stroke's edges).
        assert!(
            on_stroke > MIN_STROKE_RATIO * off_stroke,
            "image {index}: saliency on the stroke {on_stroke}, off it {off_stroke}"
        );
        // The top-left pixel is hidden by the first square only: where that square holds no
        // ink, the class's probability is the one without hiding.
        let corner = (0..OCCLUSION_PATCH)
            .flat_map(|row| (0..OCCLUSION_PATCH).map(move |col| row * IMAGE_SIDE + col));
        if corner.clone().all(|p| pixels[p] == 0) {
            corners_checked += 1;
            let class = answer["class"].as_u64().unwrap() as usize;
            assert!(
                (occlusion[0] - probabilities(&answer)[class]).abs() <= 1e-6,
                "image {index}: {} vs {}",
                occlusion[0],
                probabilities(&answer)[class]
            );
        }
    }
    assert!(
        corners_checked >= IMAGES.len() / 2,
        "{corners_checked} blank corners"
    );

    let body = pixels_json(test.image(0));
    let (status, answer) = post(
        &server.url("/api/saliency?class=3&dx=2"),
        "application/json",
        &body,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["class"], 3);
    let input: Vec<u8> = serde_json::from_value(answer["input"].clone()).unwrap();
    assert_eq!(
        input[2..IMAGE_SIDE],
        test.image(0)[..IMAGE_SIDE - 2],
        "shifted by 2"
    );
    for (path, expected_status, expected) in [
        ("/api/saliency?class=10", 400, "class = 10"),
        ("/api/saliency?dy=-9", 400, "dy = -9"),
        (
            "/api/saliency?model=nothing",
            404,
            "unknown model 'nothing'",
        ),
    ] {
        let (status, answer) = post(&server.url(path), "application/json", &body);
        assert_eq!(status, expected_status, "{path}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(expected), "{path}: {error}");
    }
    let (status, answer) = post(&url, "application/json", &pixels_json(&[0; IMAGE_PIXELS]));
    assert_eq!(status, 422, "a blank image: {answer}");
}

/// A committee's maps are the means of its members' (probabilities average, so occlusion does
/// exactly; saliency is defined so).
#[test]
fn a_committees_maps_are_its_members_means() {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let committee = Classifier::<NdArray>::load(committee_dir()).unwrap();
    let members: Vec<_> = model::committee::committee_members(committee_dir())
        .unwrap()
        .expect("a committee")
        .iter()
        .map(|dir| Classifier::<NdArray>::load(dir).unwrap())
        .collect();
    assert_eq!(members.len(), 2);
    let pixels = test.image(7).try_into().unwrap();
    let whole = attention(&committee, &pixels, 4);
    let parts: Vec<_> = members.iter().map(|m| attention(m, &pixels, 4)).collect();
    for p in 0..IMAGE_PIXELS {
        for (what, got, a, b) in [
            (
                "saliency",
                whole.saliency[p],
                parts[0].saliency[p],
                parts[1].saliency[p],
            ),
            (
                "occlusion",
                whole.occlusion[p],
                parts[0].occlusion[p],
                parts[1].occlusion[p],
            ),
        ] {
            assert!(
                (got - (a + b) / 2.0).abs() <= 1e-6,
                "{what} at {p}: {got} vs {a}, {b}"
            );
        }
    }
}

/// The ConvNet's dropout is off in its maps: the same request gives the same maps (dropout
/// would draw new masks each time on the autodiff backend the gradients need).
#[test]
fn a_convnets_saliency_is_the_same_twice() {
    let dir = tempfile::tempdir().unwrap();
    let config = ModelConfig::new().with_kind(ModelKind::Convnet);
    let network = config.init::<NdArray>(&Default::default());
    model::save_model(&network, &config, dir.path()).unwrap();
    let convnet = Classifier::<NdArray>::load(dir.path()).unwrap();
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let pixels = test.image(0).try_into().unwrap();
    let first = attention(&convnet, &pixels, 7);
    assert!(first.saliency.iter().any(|&s| s > 0.0));
    assert_eq!(first, attention(&convnet, &pixels, 7));
}
