//! End to end, as a user runs the project: train a small LeNet-5 with the `training` binary,
//! then load the run folder with `infer predict` and `infer eval`, and with a program that
//! depends on the `model` crate alone (`crates/model/examples/classify.rs`). They must agree:
//! `infer eval` scores the MNIST test set exactly as training's report says, and the
//! model-only program predicts what `infer predict` predicts, with the same probabilities.
//!
//! The programs are the ones `cargo test --workspace` builds (see `programs.rs`).

use std::process::{Command, Output};

use serde_json::Value;

use crate::programs::program;
use workbench_io::names::{CONFUSION_FILE, REPORT_FILE};

/// MNIST's test images and labels, as shipped with the repository.
const TEST_IMAGES: &str = "data/mnist/t10k-images-idx3-ubyte.gz";
const TEST_LABELS: &str = "data/mnist/t10k-labels-idx1-ubyte.gz";

/// The test images classified one by one.
const INDICES: [usize; 6] = [0, 1, 2, 3, 4, 9999];

/// Runs a program from the repository root and returns its output, failing with its standard
/// error if it fails.
fn run(relative: &str, args: &[&str]) -> Output {
    let output = Command::new(program(relative))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("the program starts");
    assert!(
        output.status.success(),
        "{relative} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON on standard output")
}

#[test]
fn train_then_predict_and_evaluate_with_infer_and_the_model_crate_alone() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("lenet5");
    let run_path = run_dir.to_str().unwrap();
    run(
        "training",
        &[
            "--model",
            "lenet5",
            "--epochs",
            "1",
            "--train-limit",
            "3000",
            "--valid-size",
            "500",
            "--artifacts",
            run_path,
            "--plain",
            "--schedule",
            "constant",
            "--augment-shift",
            "0",
        ],
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join(REPORT_FILE)).unwrap()).unwrap();
    let trained = &report["test"];
    assert_eq!(trained["images"], 10_000);

    // infer eval scores the whole test set as training did.
    let eval_dir = dir.path().join("eval");
    let eval = json(&run(
        "infer",
        &[
            "eval",
            "--model",
            run_path,
            "--images",
            TEST_IMAGES,
            "--labels",
            TEST_LABELS,
            "--out",
            eval_dir.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(eval["images"], 10_000);
    assert_eq!(
        eval["correct"], trained["correct"],
        "infer eval vs the training report"
    );
    let accuracy = eval["accuracy"].as_f64().unwrap();
    assert!(accuracy > 80.0, "a trained LeNet-5 scores {accuracy}%");
    assert!(eval_dir.join(CONFUSION_FILE).is_file());

    // infer predict and the model-only program classify the same images alike.
    let indices: Vec<String> = INDICES.iter().map(usize::to_string).collect();
    let mut predict_args = vec![
        "predict",
        "--model",
        run_path,
        "--idx",
        TEST_IMAGES,
        "--json",
    ];
    for index in &indices {
        predict_args.extend(["--index", index]);
    }
    let predicted = json(&run("infer", &predict_args));
    let predicted = predicted.as_array().expect("one object per image");
    let mut classify_args = vec![run_path, TEST_IMAGES];
    classify_args.extend(indices.iter().map(String::as_str));
    let classified = run("examples/classify", &classify_args);
    let classified = String::from_utf8(classified.stdout).unwrap();
    let lines: Vec<&str> = classified.lines().collect();
    assert_eq!(lines.len(), INDICES.len(), "{classified}");
    assert_eq!(predicted.len(), INDICES.len());
    for ((line, prediction), index) in lines.iter().zip(predicted).zip(INDICES) {
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[0], index.to_string(), "{line}");
        assert_eq!(fields[1], prediction["digit"].to_string(), "image {index}");
        let probabilities = prediction["probabilities"].as_array().unwrap();
        assert_eq!(fields.len(), 2 + probabilities.len(), "{line}");
        for (field, p) in fields[2..].iter().zip(probabilities) {
            let (ours, infer) = (field.parse::<f64>().unwrap(), p.as_f64().unwrap());
            assert!(
                (ours - infer).abs() <= 1e-6,
                "image {index}: {ours} vs {infer}"
            );
        }
    }
}
