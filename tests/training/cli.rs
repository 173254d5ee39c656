//! The binary: artifacts of a run, resume after SIGKILL mid-epoch, clear errors for bad input.

use std::process::{Command, Stdio};
use std::time::Duration;

use training::epoch_log::read_metrics_csv;
use workbench_io::names::{
    CURVES_FILE, LOCK_FILE, METRICS_FILE, MODEL_CONFIG_FILE, REPORT_FILE, TRAIN_CONFIG_FILE,
    WEIGHTS_FILE,
};

fn training() -> Command {
    let mut command = Command::new(crate::programs::program("training"));
    command.env("MNIST_DIR", mnist_data::bundled_data_dir());
    command
}

fn run_ok(args: &[&str]) -> String {
    let output = training().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "training {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

const SMALL: &[&str] = &[
    "--train-limit",
    "1500",
    "--valid-size",
    "500",
    "--test-limit",
    "500",
    "--schedule",
    "constant",
];

/// `--pool avg` trains LeNet-5 with average pooling: the summary shows it, and the saved model
/// and run config record it.
#[test]
fn average_pooling_is_trained_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut args = vec![
        "--pool",
        "avg",
        "--epochs",
        "1",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ];
    args.extend_from_slice(SMALL);
    let stdout = run_ok(&args);
    assert!(stdout.contains("pool1  avg-pool 2x2/2"), "{stdout}");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join(MODEL_CONFIG_FILE)).unwrap())
            .unwrap();
    assert_eq!(model["pool"], "avg", "{model}");
    let config = std::fs::read_to_string(artifacts.join(TRAIN_CONFIG_FILE)).unwrap();
    assert!(config.contains("\"pool\": \"avg\""), "{config}");
}

/// The distortions train and are recorded in `config.json`; `--test-noise` scores the noisy test
/// sets, reported in `report.json` and the summary.
#[test]
fn distortions_are_recorded_and_noisy_test_sets_reported() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut args = vec![
        "--augment-rotate",
        "12",
        "--augment-scale",
        "0.1",
        "--augment-elastic",
        "30",
        "--elastic-sigma",
        "5",
        "--test-noise",
        "0.2,0.4",
        "--test-noise",
        "0",
        "--epochs",
        "1",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ];
    args.extend_from_slice(SMALL);
    let stdout = run_ok(&args);
    let read = |file: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(artifacts.join(file)).unwrap()).unwrap()
    };
    let augmentation = &read(TRAIN_CONFIG_FILE)["augmentation"];
    assert_eq!(augmentation["rotate"], 12.0, "{augmentation}");
    assert_eq!(augmentation["scale"].as_f64().unwrap() as f32, 0.1);
    assert_eq!(augmentation["elastic"]["alpha"], 30.0);
    assert_eq!(augmentation["elastic"]["sigma"], 5.0);
    let report = read(REPORT_FILE);
    let noisy = report["noisy_tests"].as_array().unwrap();
    let sigmas: Vec<f32> = noisy
        .iter()
        .map(|n| n["sigma"].as_f64().unwrap() as f32)
        .collect();
    assert_eq!(sigmas, [0.2, 0.4, 0.0]);
    let accuracy = |v: &serde_json::Value| v["accuracy"].as_f64().unwrap();
    // Sigma 0 is the test set itself; 500 images each.
    assert_eq!(accuracy(&noisy[2]["evaluation"]), accuracy(&report["test"]));
    assert!(noisy.iter().all(|n| n["evaluation"]["images"] == 500));
    assert!(
        stdout.contains(&format!(
            "noisy test (pixel noise): sigma 0.2 {:.2}%, sigma 0.4 {:.2}%, sigma 0 {:.2}%",
            accuracy(&noisy[0]["evaluation"]),
            accuracy(&noisy[1]["evaluation"]),
            accuracy(&noisy[2]["evaluation"])
        )),
        "{stdout}"
    );
}

#[test]
fn a_run_writes_every_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut args = vec!["--epochs", "2", "--artifacts", artifacts.to_str().unwrap()];
    args.extend_from_slice(SMALL);
    let stdout = run_ok(&args);
    assert!(
        stdout.contains("61,706"),
        "prints the model summary:\n{stdout}"
    );
    assert!(
        stdout.contains("epoch   1"),
        "one line per epoch:\n{stdout}"
    );
    assert!(stdout.contains("test accuracy"), "{stdout}");
    for file in [
        TRAIN_CONFIG_FILE,
        METRICS_FILE,
        CURVES_FILE,
        MODEL_CONFIG_FILE,
        WEIGHTS_FILE,
        REPORT_FILE,
    ] {
        assert!(artifacts.join(file).is_file(), "{file} missing");
    }
    let png = std::fs::read(artifacts.join(CURVES_FILE)).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join(REPORT_FILE)).unwrap())
            .unwrap();
    assert!(
        report["test"]["accuracy"].as_f64().unwrap() > 50.0,
        "{report}"
    );
    assert!(report["translated_test"]["accuracy"].is_number());
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&artifacts)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with('.') && name != LOCK_FILE
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The same directory is not silently overwritten.
    let output = training().args(&args).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--resume"));
}

#[test]
fn resume_after_sigkill_mid_epoch_loses_and_repeats_no_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    // Enough images per epoch (seconds of work) to kill the process in the middle of one.
    let mut args = vec![
        "--epochs",
        "3",
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--train-limit",
        "20000",
    ];
    args.extend_from_slice(&SMALL[2..]);
    let mut child = training()
        .args(&args)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    super::common::wait_for_epochs(&artifacts, 1);
    // Kill in the middle of epoch 2 (an epoch takes 0.7 s on the AVX-512 machine, 1.5 s on
    // the AVX2 one).
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = read_metrics_csv(&artifacts.join(METRICS_FILE)).unwrap();
    assert!(
        (1..3).contains(&before.len()),
        "killed after {} epochs",
        before.len()
    );
    assert!(!artifacts.join(REPORT_FILE).exists());

    let stdout = run_ok(&["--resume", "--artifacts", artifacts.to_str().unwrap()]);
    assert!(
        stdout.contains(&format!("resuming after epoch {}", before.len())),
        "{stdout}"
    );
    let after = read_metrics_csv(&artifacts.join(METRICS_FILE)).unwrap();
    let epochs: Vec<usize> = after.iter().map(|r| r.epoch).collect();
    assert_eq!(epochs, vec![1, 2, 3], "every epoch exactly once");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "finished epochs are kept as they were"
    );
    assert!(artifacts.join(REPORT_FILE).is_file());
}

/// What `cargo run --release -p training` does with no options: the README's quick start.
#[test]
fn the_default_run_is_the_documented_recipe() {
    use training::TrainArgs;
    use training::config::{MonitorMetric, ScheduleConfig};
    let config = |words: &[&str]| {
        let mut argv = vec!["training"];
        argv.extend_from_slice(words);
        TrainArgs::try_parse_words(argv)
            .unwrap()
            .to_config()
            .unwrap()
    };
    let default = config(&[]);
    assert_eq!(default.model.kind, model::ModelKind::Lenet5);
    assert_eq!(default.schedule, ScheduleConfig::Cosine { min_lr: 0.0 });
    assert_eq!(default.monitor, MonitorMetric::Accuracy);
    assert_eq!(default.epochs, 15);
    assert_eq!(default.learning_rate, 1e-3);
    assert_eq!(default.augmentation.to_string(), "shift ±3 px");
    assert_eq!(config(&["--model", "mlp"]).epochs, 15);
    assert_eq!(config(&["--model", "convnet"]).epochs, 5);
    assert_eq!(config(&["--model", "convnet", "--epochs", "2"]).epochs, 2);
    let all = config(&[
        "--augment-rotate",
        "10",
        "--augment-scale",
        "0.15",
        "--augment-elastic",
        "34",
        "--jitter",
        "0.5",
    ])
    .augmentation;
    assert_eq!(
        all.to_string(),
        "rotate ±10°, scale ±15%, elastic (alpha 34, sigma 4), shift ±3 px, jitter 0.5"
    );
}

/// `--backend cuda` in the default build (without the `cuda` feature) stops before anything
/// runs, with an error naming the feature to build with; nothing is written.
#[test]
fn cuda_in_a_build_without_it_names_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let output = training()
        .args(["--backend", "cuda", "--epochs", "1", "--train-limit", "64"])
        .arg("--artifacts")
        .arg(&artifacts)
        .output()
        .unwrap();
    let stderr = crate::programs::assert_clean_failure(&output);
    assert!(
        stderr.contains("built without CUDA") && stderr.contains("--features cuda"),
        "{stderr}"
    );
    assert!(!artifacts.join(WEIGHTS_FILE).exists());
}
