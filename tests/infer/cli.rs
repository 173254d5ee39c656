//! The `infer` binary and library on real MNIST images and generated pictures, and its errors.

use super::common::{infer, model_dir, test_idx};

use image::{GrayImage, Luma};
use infer::{Classifier, DefaultBackend};
use mnist_data::{Mnist, bundled_data_dir};
use workbench_io::names::{MODEL_CONFIG_FILE, WEIGHTS_FILE};

#[test]
fn predict_on_idx_images_prints_json() {
    let model = model_dir().display().to_string();
    let out = infer(&[
        "predict",
        "--model",
        &model,
        "--idx",
        &test_idx(),
        "--index",
        "0",
        "--index",
        "1",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let digits: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["digit"].as_u64().unwrap())
        .collect();
    assert_eq!(
        digits,
        vec![7, 2],
        "the first two test digits are a 7 and a 2"
    );
    let top3 = rows[0]["top3"].as_array().unwrap();
    assert_eq!(top3.len(), 3);
    let total: f64 = rows[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .sum();
    assert!((total - 1.0).abs() < 1e-4);
}

/// Renders MNIST test digit `index` in a few of the ways a user's picture may come.
fn variants(test: &mnist_data::LabelledImages, index: usize) -> Vec<(&'static str, GrayImage)> {
    let digit = GrayImage::from_raw(28, 28, test.image(index).to_vec()).unwrap();
    let mut inverted = digit.clone();
    image::imageops::invert(&mut inverted);
    let mut off_centre = GrayImage::from_pixel(60, 45, Luma([0]));
    image::imageops::overlay(&mut off_centre, &digit, 29, 3);
    let mut large_on_paper =
        image::imageops::resize(&digit, 84, 84, image::imageops::FilterType::Triangle);
    image::imageops::invert(&mut large_on_paper);
    vec![
        ("white on black", digit),
        ("black on white", inverted),
        ("off-centre", off_centre),
        ("large, black on white", large_on_paper),
    ]
}

#[test]
fn pictures_of_any_polarity_position_and_size_are_preprocessed_like_mnist() {
    let classifier = Classifier::<DefaultBackend>::load(model_dir()).unwrap();
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let samples = 30;
    let mut correct = std::collections::HashMap::<&str, usize>::new();
    for index in 0..samples {
        for (name, picture) in variants(&test, index) {
            let path = dir
                .path()
                .join(format!("{index}-{}.png", name.replace([' ', ','], "_")));
            picture.save(&path).unwrap();
            let prediction = classifier.classify_file(&path).unwrap();
            if prediction.digit == test.label(index) {
                *correct.entry(name).or_default() += 1;
            }
        }
    }
    for (name, count) in &correct {
        assert!(
            *count >= samples * 8 / 10,
            "{name}: {count} / {samples} correct"
        );
    }
    assert_eq!(correct.len(), 4, "{correct:?}");
    // The CLI on two of the files.
    let model = model_dir().display().to_string();
    let file = dir
        .path()
        .join("0-black_on_white.png")
        .display()
        .to_string();
    let out = infer(&["predict", "--model", &model, &file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(": 7") && stdout.contains("top 3"),
        "{stdout}"
    );
}

#[test]
fn clear_errors_for_bad_models_and_images() {
    let dir = tempfile::tempdir().unwrap();
    let err = |args: &[&str]| {
        let out = infer(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    };
    let missing = dir.path().join("missing").display().to_string();
    assert!(err(&["predict", "--model", &missing, "x.png"]).contains("model not found"));

    // A corrupt weights file.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    std::fs::copy(
        model_dir().join(MODEL_CONFIG_FILE),
        corrupt.join(MODEL_CONFIG_FILE),
    )
    .unwrap();
    std::fs::write(corrupt.join(WEIGHTS_FILE), b"not a model").unwrap();
    let message = err(&[
        "predict",
        "--model",
        corrupt.to_str().unwrap(),
        "--idx",
        &test_idx(),
    ]);
    assert!(
        message.contains("cannot load the weights") && message.contains(WEIGHTS_FILE),
        "{message}"
    );

    // LeNet-5 weights described as a ConvNet.
    let wrong = dir.path().join("wrong");
    std::fs::create_dir_all(&wrong).unwrap();
    std::fs::copy(model_dir().join(WEIGHTS_FILE), wrong.join(WEIGHTS_FILE)).unwrap();
    let json = std::fs::read_to_string(model_dir().join(MODEL_CONFIG_FILE))
        .unwrap()
        .replace("lenet5", "convnet");
    std::fs::write(wrong.join(MODEL_CONFIG_FILE), json).unwrap();
    let message = err(&[
        "predict",
        "--model",
        wrong.to_str().unwrap(),
        "--idx",
        &test_idx(),
    ]);
    assert!(message.contains("not those of a convnet"), "{message}");

    // An unreadable image.
    let fake = dir.path().join("fake.png");
    std::fs::write(&fake, b"hello").unwrap();
    let model = model_dir().display().to_string();
    let message = err(&["predict", "--model", &model, fake.to_str().unwrap()]);
    assert!(
        message.contains("cannot read image") && message.contains("fake.png"),
        "{message}"
    );
    let blank = dir.path().join("blank.png");
    GrayImage::from_pixel(30, 30, Luma([255]))
        .save(&blank)
        .unwrap();
    assert!(
        err(&["predict", "--model", &model, blank.to_str().unwrap()]).contains("no digit found")
    );
    assert!(
        err(&[
            "predict",
            "--model",
            &model,
            "--idx",
            &test_idx(),
            "--index",
            "10000"
        ])
        .contains("out of range")
    );
}
