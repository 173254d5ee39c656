//! `infer eval` (text, JSON and pictures), `infer filters` and `infer import` on real MNIST.

use super::common::{infer, model_dir, test_idx, test_labels};
use burn::prelude::*;
use infer::{Classifier, DefaultBackend};
use workbench_io::names::{CONFUSION_FILE, MISTAKES_FILE};

fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn eval_reports_accuracy_confusion_and_worst_mistakes_with_pictures() {
    let model = model_dir().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("report");
    let (images, labels) = (test_idx(), test_labels());
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--model",
            &model,
            "--images",
            &images,
            "--labels",
            &labels,
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        infer(&args)
    };
    let out = eval(&["--json"]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["images"], 10_000);
    let accuracy = report["accuracy"].as_f64().unwrap();
    assert!(accuracy > 90.0, "{report}");
    let confusion: Vec<Vec<u64>> = serde_json::from_value(report["confusion"].clone()).unwrap();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 10_000);
    let errors = 10_000 - (0..10).map(|d| confusion[d][d]).sum::<u64>();

    let mistakes = report["worst_mistakes"].as_array().unwrap();
    assert_eq!(mistakes.len() as u64, errors.min(32));
    let confidences: Vec<f64> = mistakes
        .iter()
        .map(|m| m["confidence"].as_f64().unwrap())
        .collect();
    assert!(
        confidences.windows(2).all(|w| w[0] >= w[1]),
        "{confidences:?}"
    );
    let labels = mnist_data::read_labels(std::path::Path::new(&test_labels())).unwrap();
    for m in mistakes {
        let index = m["index"].as_u64().unwrap() as usize;
        assert_eq!(m["truth"].as_u64().unwrap() as u8, labels[index]);
        assert_ne!(m["truth"], m["predicted"]);
    }

    let confusion_png = image::open(out_dir.join(CONFUSION_FILE)).unwrap();
    assert!(confusion_png.width() > 500 && confusion_png.height() > 500);
    let mistakes_png = image::open(out_dir.join(MISTAKES_FILE)).unwrap();
    assert_eq!(mistakes_png.width(), 8 + 8 * (84 + 8), "8 tiles per row");

    let text = eval(&["--kernels", "builtin"]);
    assert_success(&text);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("confusion matrix") && text.contains("precision"),
        "{text}"
    );
    assert!(text.contains(&format!("accuracy {accuracy:.2}%")), "{text}");
}

#[test]
fn filters_draws_kernels_and_feature_maps() {
    let model = model_dir().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("filters.png");
    let out = infer(&[
        "filters",
        "--model",
        &model,
        "--out",
        png.to_str().unwrap(),
        "--idx",
        &test_idx(),
        "--index",
        "3",
    ]);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("6 first-layer kernels"), "{stdout}");
    assert!(stdout.contains("conv1, conv2"), "{stdout}");
    let picture = image::open(&png).unwrap().to_rgb8();
    assert!(picture.height() > 300, "{:?}", picture.dimensions());
    // Kernels are drawn in blue and red: both signs must appear in a trained LeNet-5.
    let reddish = picture.pixels().any(|p| p[0] > 200 && p[2] < 150);
    let bluish = picture.pixels().any(|p| p[2] > 200 && p[0] < 150);
    assert!(reddish && bluish);

    let library = Classifier::<DefaultBackend>::load(model_dir()).unwrap();
    let kernels = infer::features::first_layer_kernels(&library).unwrap();
    assert_eq!((kernels.channels, kernels.height, kernels.width), (6, 5, 5));
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let pixels: [u8; 784] = test.image(3).try_into().unwrap();
    let maps = infer::features::conv_feature_maps(&library, &pixels);
    let shapes: Vec<_> = maps
        .iter()
        .map(|m| (m.channels, m.height, m.width))
        .collect();
    assert_eq!(shapes, [(6, 28, 28), (16, 10, 10)]);
    assert!(
        maps.iter().all(|m| m.values.iter().all(|&v| v >= 0.0)),
        "after ReLU"
    );
}

/// Writes the trained model's weights as a PyTorch-layout state dict (`.safetensors`, names
/// `conv1.weight` ..., Linear weights transposed to `[out, in]`) with the `safetensors` crate,
/// imports it, and checks the imported model predicts exactly like the original.
#[test]
fn pytorch_state_dict_round_trip() {
    let original = Classifier::<DefaultBackend>::load(model_dir()).unwrap();
    let model::Network::Lenet5(net) = original.network() else {
        panic!("the test model is a LeNet-5");
    };
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut add = |name: &str, dims: Vec<usize>, data: TensorData| {
        tensors.push((name.into(), dims, data.to_vec::<f32>().unwrap()));
    };
    for (name, conv) in [("conv1", &net.conv1), ("conv2", &net.conv2)] {
        let w = conv.weight.val();
        add(&format!("{name}.weight"), w.dims().to_vec(), w.into_data());
        let b = conv.bias.as_ref().unwrap().val();
        add(&format!("{name}.bias"), b.dims().to_vec(), b.into_data());
    }
    for (name, fc) in [("fc1", &net.fc1), ("fc2", &net.fc2), ("fc3", &net.fc3)] {
        let w = fc.weight.val().transpose(); // Burn [in, out] -> PyTorch [out, in]
        add(&format!("{name}.weight"), w.dims().to_vec(), w.into_data());
        let b = fc.bias.as_ref().unwrap().val();
        add(&format!("{name}.bias"), b.dims().to_vec(), b.into_data());
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, d, v)| (n, d, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(n, d, b)| {
            let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, d.clone(), b)
                .unwrap();
            (n.clone(), view)
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lenet5.safetensors");
    safetensors::serialize_to_file(views, None, &file).unwrap();

    let imported_dir = dir.path().join("imported");
    let out = infer(&[
        "import",
        "--from",
        file.to_str().unwrap(),
        "--kind",
        "lenet5",
        "--out",
        imported_dir.to_str().unwrap(),
    ]);
    assert_success(&out);
    let imported = Classifier::<DefaultBackend>::load(&imported_dir).unwrap();
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let images: Vec<[u8; 784]> = (0..200)
        .map(|i| test.image(i).try_into().unwrap())
        .collect();
    assert_eq!(
        imported.classify_pixels(&images),
        original.classify_pixels(&images),
        "identical predictions and probabilities"
    );

    // The same file is not a ConvNet: a clear error naming the file and the mismatch.
    let wrong = infer(&[
        "import",
        "--from",
        file.to_str().unwrap(),
        "--kind",
        "convnet",
        "--out",
        dir.path().join("wrong").to_str().unwrap(),
    ]);
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        stderr.contains("lenet5.safetensors") && stderr.contains("convnet"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let missing = infer(&[
        "import",
        "--from",
        "no-such-file.pt",
        "--kind",
        "lenet5",
        "--out",
        dir.path().join("none").to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-file.pt"));
}
