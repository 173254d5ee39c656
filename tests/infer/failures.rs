//! What `infer` does with damaged models, odd pictures, several inputs of which some are bad,
//! empty data and a standard output that cannot be written: a clear message each, no panic.

use image::{GrayImage, ImageFormat, Luma, LumaA, RgbaImage};
use mnist_data::{Mnist, bundled_data_dir};

use super::common::{infer, model_dir, test_idx};
use crate::programs::{assert_clean_failure, text};
use workbench_io::names::{MODEL_CONFIG_FILE, WEIGHTS_FILE};

/// MNIST test image 0 (a 7) as a white-on-black picture.
fn seven() -> GrayImage {
    let test = Mnist::load_test(&bundled_data_dir()).unwrap();
    assert_eq!(test.label(0), 7);
    GrayImage::from_raw(28, 28, test.image(0).to_vec()).unwrap()
}

#[test]
fn a_truncated_model_is_reported_once_as_truncated() {
    let dir = tempfile::tempdir().unwrap();
    for file in [MODEL_CONFIG_FILE, WEIGHTS_FILE] {
        std::fs::copy(model_dir().join(file), dir.path().join(file)).unwrap();
    }
    let weights = dir.path().join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 2000]).unwrap();
    let stderr = assert_clean_failure(&infer(&[
        "predict",
        "--model",
        dir.path().to_str().unwrap(),
        "--idx",
        &test_idx(),
    ]));
    assert!(
        stderr.contains("the file is truncated or corrupt"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("0.14.0"),
        "Burn's hint misleads here:\n{stderr}"
    );
    assert_eq!(
        stderr.matches(WEIGHTS_FILE).count(),
        1,
        "said once:\n{stderr}"
    );
}

#[test]
fn pictures_are_read_by_content_with_transparency_and_checked_for_a_digit() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir().display().to_string();
    let path = |name: &str| dir.path().join(name).display().to_string();

    // Dark strokes on a transparent canvas (how drawing programs save a sketch).
    let seven = seven();
    let sketch = RgbaImage::from_fn(28, 28, |x, y| {
        image::Rgba([0, 0, 0, seven.get_pixel(x, y).0[0]])
    });
    sketch.save(path("sketch.png")).unwrap();
    // JPEG data in a file named .png.
    let mut jpeg = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(seven.clone())
        .write_to(&mut jpeg, ImageFormat::Jpeg)
        .unwrap();
    std::fs::write(path("really-a-jpeg.png"), jpeg.get_ref()).unwrap();
    // Light strokes on transparency, as a grey+alpha PNG.
    let light =
        image::ImageBuffer::from_fn(28, 28, |x, y| LumaA([255u8, seven.get_pixel(x, y).0[0]]));
    light.save(path("light-sketch.png")).unwrap();
    for name in ["sketch.png", "really-a-jpeg.png", "light-sketch.png"] {
        let output = infer(&["predict", "--model", &model, &path(name)]);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("{name}: 7")),
            "{name}:\n{stdout}\n{}",
            text(&output.stderr)
        );
    }

    // No digit: a flat grey picture, a fully transparent one.
    GrayImage::from_pixel(40, 30, Luma([128]))
        .save(path("grey.png"))
        .unwrap();
    RgbaImage::new(20, 20).save(path("clear.png")).unwrap();
    for name in ["grey.png", "clear.png"] {
        let stderr = assert_clean_failure(&infer(&["predict", "--model", &model, &path(name)]));
        assert!(
            stderr.contains(&format!("{name}: no digit found")),
            "{stderr}"
        );
    }

    // A folder is not a picture.
    let stderr = assert_clean_failure(&infer(&["predict", "--model", &model, &path("")]));
    assert!(stderr.contains("is a folder, not a file"), "{stderr}");
}

#[test]
fn one_bad_picture_among_several_is_reported_and_the_others_classified() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("seven.png");
    seven().save(&good).unwrap();
    let missing = dir.path().join("missing.png");
    let (good, missing) = (good.display().to_string(), missing.display().to_string());
    let model = model_dir().display().to_string();
    let output = infer(&["predict", "--model", &model, &good, &missing, &good]);
    let stderr = assert_clean_failure(&output);
    assert!(
        stderr.contains("missing.png") && stderr.contains("1 of 3 inputs could not be classified"),
        "{stderr}"
    );
    let stdout = text(&output.stdout);
    assert_eq!(stdout.matches("seven.png: 7").count(), 2, "{stdout}");
    // The JSON rows keep the order, with the error in place.
    let output = infer(&["predict", "--json", "--model", &model, &good, &missing]);
    assert_clean_failure(&output);
    let rows: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(rows[0]["digit"], 7);
    assert!(rows[1]["error"].as_str().unwrap().contains("missing.png"));
}

#[test]
fn evaluating_zero_images_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path().join("empty-images");
    let labels = dir.path().join("empty-labels");
    let empty = mnist_data::IdxImages {
        count: 0,
        rows: 28,
        cols: 28,
        pixels: Vec::new(),
    };
    std::fs::write(&images, mnist_data::idx::encode_images(&empty)).unwrap();
    std::fs::write(&labels, mnist_data::idx::encode_labels(&[])).unwrap();
    let stderr = assert_clean_failure(&infer(&[
        "eval",
        "--model",
        model_dir().to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--out",
        dir.path().join("report").to_str().unwrap(),
    ]));
    assert!(stderr.contains("holds no images"), "{stderr}");
}

#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let output = std::process::Command::new(crate::programs::program("infer"))
        .args([
            "predict",
            "--model",
            model_dir().to_str().unwrap(),
            "--idx",
            &test_idx(),
        ])
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&output);
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
}
