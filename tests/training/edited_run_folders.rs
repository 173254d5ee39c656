//! A run folder edited or half-made by hand or by a failure: `--resume` checks `config.json`
//! exactly as the command line's options are checked, refuses checkpoints of another network by
//! name, and a start that failed before its first epoch leaves a folder the same command can
//! start again in. Also the options whose values would size an allocation.

use serde_json::{Value, json};
use workbench_io::names::{CHECKPOINT_DIR, REPORT_FILE, RUN_SUMMARY_FILE, TRAIN_CONFIG_FILE};

use super::failures::{assert_ok, failure, interrupted_run, resume, tiny, training};
use crate::programs::assert_clean_failure;

#[test]
fn resume_checks_an_edited_config_json_as_the_command_line_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = interrupted_run(dir.path());
    let path = artifacts.join(TRAIN_CONFIG_FILE);
    let original: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let cases: [(&str, Value, &str); 11] = [
        (
            "/batch_size",
            json!(0),
            "--batch-size must be between 1 and 60000, got 0",
        ),
        (
            "/epochs",
            json!(0),
            "--epochs must be between 1 and 100000, got 0",
        ),
        (
            "/schedule",
            json!({"name": "exponential", "gamma": -1.0}),
            "--gamma must be in (0, 1], got -1",
        ),
        (
            "/valid_size",
            json!(70000),
            "--valid-size must be between 1 and 59999, got 70000",
        ),
        (
            "/test_limit",
            json!(0),
            "--train-limit and --test-limit must be at least 1",
        ),
        (
            "/optimizer",
            json!({"name": "adam", "beta1": 2.0, "beta2": 0.999, "epsilon": 1e-8}),
            "--beta1 must be in [0, 1), got 2",
        ),
        (
            "/augmentation/shift",
            json!(100),
            "shifts must be below 28 pixels",
        ),
        (
            "/augmentation/rotate",
            json!(1e30),
            "--augment-rotate must be in [0, 180] degrees",
        ),
        (
            "/augmentation/elastic",
            json!({"alpha": 34.0, "sigma": 0.0}),
            "--elastic-sigma must be in [0.5, 28] pixels, got 0",
        ),
        (
            "/restarts",
            json!(1_000_000_000_000_000u64),
            "--restarts must be between 1 and 1000",
        ),
        (
            "/model/kind",
            json!("convnet"),
            "the checkpoint holds a lenet5 network, but config.json names a convnet",
        ),
    ];
    for (pointer, value, said) in cases {
        let mut edited = original.clone();
        *edited.pointer_mut(pointer).unwrap() = value;
        std::fs::write(&path, serde_json::to_vec(&edited).unwrap()).unwrap();
        let stderr = assert_clean_failure(&resume(&artifacts));
        assert!(stderr.contains(said), "{pointer}: {stderr}");
        if pointer != "/model/kind" {
            assert!(
                stderr.contains("config.json is not a valid training config"),
                "{pointer}: {stderr}"
            );
        }
    }
    // Unedited, it resumes.
    std::fs::write(&path, serde_json::to_vec(&original).unwrap()).unwrap();
    assert_ok(&resume(&artifacts));
}

#[test]
fn altered_renamed_or_out_of_range_checkpoints_are_skipped_for_a_sound_one() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = interrupted_run(dir.path());
    let checkpoints = artifacts.join(CHECKPOINT_DIR);
    let pristine: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&checkpoints)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    // The interrupted run again, as it was before the last case resumed it.
    let unfinish = || {
        for file in [RUN_SUMMARY_FILE, REPORT_FILE] {
            std::fs::remove_file(artifacts.join(file)).unwrap();
        }
        std::fs::remove_dir_all(&checkpoints).unwrap();
        std::fs::create_dir(&checkpoints).unwrap();
        for (path, bytes) in &pristine {
            std::fs::write(path, bytes).unwrap();
        }
    };

    // One byte changed in the middle of the newest model checkpoint: a complete record still,
    // but not the one written.
    assert!(checkpoints.join("model-2.mpk").is_file());
    let model_3 = checkpoints.join("model-3.mpk");
    let sound = std::fs::read(&model_3).unwrap();
    let mut altered = sound.clone();
    altered[sound.len() / 2] ^= 0x40;
    std::fs::write(&model_3, &altered).unwrap();
    let stdout = assert_ok(&resume(&artifacts));
    assert!(
        stdout.contains("model-3.mpk: the checkpoint does not match its checksum")
            && stdout.contains("resuming after epoch 2 of 3"),
        "{stdout}"
    );

    // Epoch 2's checkpoint renamed to epoch 3's.
    unfinish();
    for part in ["model", "optim", "scheduler"] {
        std::fs::copy(
            checkpoints.join(format!("{part}-2.mpk")),
            checkpoints.join(format!("{part}-3.mpk")),
        )
        .unwrap();
    }
    let stdout = assert_ok(&resume(&artifacts));
    assert!(
        stdout.contains("-3.mpk: the checkpoint does not match its checksum")
            && stdout.contains("resuming after epoch 2 of 3"),
        "{stdout}"
    );

    // Checkpoints of epochs that metrics.csv does not have: skipped, named.
    unfinish();
    for epoch in [0, 9] {
        for part in ["model", "optim", "scheduler"] {
            std::fs::copy(
                checkpoints.join(format!("{part}-2.mpk")),
                checkpoints.join(format!("{part}-{epoch}.mpk")),
            )
            .unwrap();
        }
    }
    let stdout = assert_ok(&resume(&artifacts));
    assert!(
        stdout.contains("model-9.mpk: epoch 9 is not one of the 3 epochs in metrics.csv")
            && stdout.contains("resuming after epoch 3 of 3"),
        "{stdout}"
    );
}

#[test]
fn a_start_that_failed_before_training_can_be_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let args = tiny(&artifacts, "1", "500");
    let empty = dir.path().join("no-mnist");
    std::fs::create_dir(&empty).unwrap();
    let stderr = assert_clean_failure(
        &training()
            .env("MNIST_DIR", &empty)
            .args(&args)
            .output()
            .unwrap(),
    );
    assert!(stderr.contains("not found"), "{stderr}");
    // A start that failed later (its config.json written, no epoch recorded) is no run either.
    std::fs::create_dir_all(&artifacts).unwrap();
    std::fs::write(artifacts.join(TRAIN_CONFIG_FILE), b"{}").unwrap();
    assert_ok(&training().args(&args).output().unwrap());
    // Once an epoch is recorded, the folder holds a run.
    let stderr = assert_clean_failure(&training().args(&args).output().unwrap());
    assert!(stderr.contains("already holds a training run"), "{stderr}");
}

#[test]
fn numbers_that_would_size_an_allocation_are_refused_as_options() {
    for (args, said) in [
        (
            &["--batch-size", "1000000000000"][..],
            "--batch-size must be between 1 and 60000",
        ),
        (
            &["--batch-size", "18446744073709551615"],
            "--batch-size must be between 1 and 60000",
        ),
        (
            &["--restarts", "1000000000000000"],
            "--restarts must be between 1 and 1000",
        ),
        (
            &["--epochs", "18446744073709551615"],
            "--epochs must be between 1 and 100000",
        ),
    ] {
        let stderr = failure(args);
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
    let stderr = failure(&["--model", "mlp", "--dropout", "0.5", "--epochs", "0"]);
    assert!(
        stderr.contains("warning: --dropout applies to the ConvNet only: ignored with mlp"),
        "{stderr}"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

    /// What a resumed session re-reads from `run.json` is the value that was written, to the
    /// last bit: its report is then the uninterrupted one's (accuracies such as 95.48333333333333
    /// came back one unit in the last place off).
    #[test]
    fn run_json_gives_back_every_float_to_the_last_bit(
        correct in 0u32..60_000,
        total in 1u32..60_000,
        loss in 0.0f64..10.0,
    ) {
        let record = training::epoch_log::EpochRecord {
            epoch: 1,
            train_loss: loss,
            train_accuracy: 100.0 * f64::from(correct % (total + 1)) / f64::from(total),
            valid_loss: loss / 3.0,
            valid_accuracy: f64::from(correct) / f64::from(total) * 100.0,
            learning_rate: 1e-3 * loss,
            seconds: loss * 7.0,
            step_seconds: Some(loss * 5.0),
            valid_seconds: None,
        };
        let json = serde_json::to_string(&record).unwrap();
        let back: training::epoch_log::EpochRecord = serde_json::from_str(&json).unwrap();
        proptest::prop_assert_eq!(back, record);
    }
}
