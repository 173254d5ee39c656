//! What happens when things go wrong around a run: two processes on one folder, a full disk,
//! damaged or missing checkpoints, a closed or full standard output, options that are invalid
//! or do not apply. Each ends with a clear message (never a panic or a hang) and loses no data.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use burn::record::Recorder;
use training::epoch_log::read_metrics_csv;

use super::common::{self, wait_for_epochs};
use crate::programs::{assert_clean_failure, text};
use workbench_io::names::{CHECKPOINT_DIR, METRICS_FILE, REPORT_FILE, RUN_SUMMARY_FILE};

type B = burn_ndarray::NdArray;

pub(super) fn training() -> Command {
    let mut command = Command::new(crate::programs::program("training"));
    command.env("MNIST_DIR", mnist_data::bundled_data_dir());
    command
}

/// A run of a few seconds per epoch on a few images, plain output.
pub(super) fn tiny(artifacts: &Path, epochs: &str, train_limit: &str) -> Vec<String> {
    [
        "--epochs",
        epochs,
        "--train-limit",
        train_limit,
        "--valid-size",
        "500",
        "--test-limit",
        "200",
        "--plain",
        "--artifacts",
        artifacts.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

pub(super) fn assert_ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed:\n{}\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    text(&output.stdout)
}

/// Every file below `dir`.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_below(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Waits for the child to end within `limit`, or kills it and fails.
pub(super) fn wait_with_limit(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().ok();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_live_run_folder_is_refused_to_a_second_run_and_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut first = training()
        .args(tiny(&artifacts, "50", "3000"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_epochs(&artifacts, 1);
    let second = training()
        .args(tiny(&artifacts, "1", "500"))
        .output()
        .unwrap();
    let resume = training()
        .args(["--resume", "--artifacts", artifacts.to_str().unwrap()])
        .output()
        .unwrap();
    first.kill().unwrap();
    first.wait().unwrap();
    for output in [second, resume] {
        let stderr = assert_clean_failure(&output);
        assert!(
            stderr.contains("in use by another training run"),
            "{stderr}"
        );
    }
}

#[test]
fn temporaries_left_by_a_killed_run_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let stale = [
        artifacts.join(".model.mpk.999999.partial"),
        artifacts
            .join(CHECKPOINT_DIR)
            .join(".model-1.mpk.999999.partial"),
    ];
    for path in &stale {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"half a record").unwrap();
    }
    let stdout = assert_ok(
        &training()
            .args(tiny(&artifacts, "1", "500"))
            .output()
            .unwrap(),
    );
    assert!(stdout.contains("removed 1 unfinished file"), "{stdout}");
    for path in &stale {
        assert!(!path.exists(), "{} is still there", path.display());
    }
}

#[test]
fn a_full_disk_stops_the_run_with_the_cause_and_leaves_no_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut command = training();
    command
        .args(tiny(&artifacts, "2", "500"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Files may not grow past 150 kB (a LeNet-5 record is 247 kB): as a full disk, writes fail
    // (SIGXFSZ left at its default, which kills a program that does not ignore it).
    // SAFETY: between fork and exec only an async-signal-safe call (setrlimit) is made.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 150_000,
                rlim_max: 150_000,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = wait_with_limit(command.spawn().unwrap(), Duration::from_secs(300));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("File too large") && stderr.contains(".mpk"),
        "names the file and the cause:\n{stderr}"
    );
    for file in files_below(&artifacts) {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "{} left", file.display());
        if name.ends_with(".mpk") {
            let mut path = file.clone();
            Recorder::<B>::load_item::<serde::de::IgnoredAny>(&model::DurableRecorder, &mut path)
                .unwrap_or_else(|e| panic!("{} is damaged: {e:?}", file.display()));
        }
    }
}

/// A finished 3-epoch run made to look interrupted after its last epoch (no run summary).
pub(super) fn interrupted_run(dir: &Path) -> PathBuf {
    let artifacts = dir.join("run");
    assert_ok(
        &training()
            .args(tiny(&artifacts, "3", "500"))
            .output()
            .unwrap(),
    );
    for file in [RUN_SUMMARY_FILE, REPORT_FILE] {
        std::fs::remove_file(artifacts.join(file)).unwrap();
    }
    artifacts
}

pub(super) fn resume(artifacts: &Path) -> Output {
    training()
        .args([
            "--resume",
            "--plain",
            "--artifacts",
            artifacts.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

#[test]
fn resume_says_which_checkpoint_it_uses_and_why_a_newer_one_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = interrupted_run(dir.path());
    let checkpoints = artifacts.join(CHECKPOINT_DIR);

    // A truncated model checkpoint: skipped with the reason, the one before is used.
    let model_3 = checkpoints.join("model-3.mpk");
    let bytes = std::fs::read(&model_3).unwrap();
    std::fs::write(&model_3, &bytes[..bytes.len() / 2]).unwrap();
    let output = resume(&artifacts);
    let stdout = assert_ok(&output);
    assert!(!text(&output.stderr).contains("panicked"));
    assert!(
        stdout.contains("model-3.mpk: the file is truncated or corrupt")
            && stdout.contains("resuming after epoch 2 of 3"),
        "{stdout}"
    );
    let epochs: Vec<usize> = read_metrics_csv(&artifacts.join(METRICS_FILE))
        .unwrap()
        .iter()
        .map(|r| r.epoch)
        .collect();
    assert_eq!(epochs, [1, 2, 3]);

    // A missing optimizer checkpoint: the same, named.
    for file in [RUN_SUMMARY_FILE, REPORT_FILE] {
        std::fs::remove_file(artifacts.join(file)).unwrap();
    }
    std::fs::remove_file(checkpoints.join("optim-3.mpk")).unwrap();
    let stdout = assert_ok(&resume(&artifacts));
    assert!(
        stdout.contains("optim-3.mpk is missing") && stdout.contains("resuming after epoch 2 of 3"),
        "{stdout}"
    );

    // Garbage everywhere (MessagePack, but not Burn records): said, and trained from the start.
    for file in [RUN_SUMMARY_FILE, REPORT_FILE] {
        std::fs::remove_file(artifacts.join(file)).unwrap();
    }
    for file in files_below(&checkpoints) {
        std::fs::write(&file, b"\x93garbage").unwrap();
    }
    let stdout = assert_ok(&resume(&artifacts));
    assert!(
        stdout.contains("no usable checkpoint") && stdout.contains("training again from epoch 1"),
        "{stdout}"
    );
    let epochs = read_metrics_csv(&artifacts.join(METRICS_FILE))
        .unwrap()
        .len();
    assert_eq!(epochs, 3);
}

#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let output = training()
        .args(tiny(&dir.path().join("run"), "1", "500"))
        .stdout(std::fs::File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    let stderr = assert_clean_failure(&output);
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
}

#[test]
fn a_reader_that_goes_away_mid_run_ends_it_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("run");
    let mut child = training()
        .args(tiny(&artifacts, "20", "3000"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read up to the line printed before training starts (as `| head` would), then hang up:
    // the next line is an epoch's, printed from Burn's event thread.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.starts_with("backend") {
        line.clear();
    }
    drop(stdout);
    let output = wait_with_limit(child, Duration::from_secs(120));
    let stderr = assert_clean_failure(&output);
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
    let epochs = read_metrics_csv(&artifacts.join(METRICS_FILE))
        .unwrap()
        .len();
    assert!(epochs <= 2, "went on for {epochs} epochs");
}

pub(super) fn failure(args: &[&str]) -> String {
    assert_clean_failure(&training().args(args).output().unwrap())
}

#[test]
fn invalid_values_are_refused_and_options_that_do_not_apply_are_named() {
    for (args, expected) in [
        (
            &["--weight-decay", "-1"][..],
            "--weight-decay must be finite and >= 0, got -1",
        ),
        (&["--weight-decay", "nan"], "--weight-decay must be finite"),
        (
            &["--epsilon", "inf"],
            "--epsilon must be positive and finite",
        ),
        (&["--lr", "-1"], "--lr must be in (0, 1], got -1"),
        (
            &["--jitter", "-0.5"],
            "--jitter must be a finite sigma >= 0",
        ),
        (
            &["--augment-rotate", "200"],
            "--augment-rotate must be in [0, 180] degrees, got 200",
        ),
        (
            &["--augment-scale", "1"],
            "--augment-scale is a fraction in [0, 1), got 1",
        ),
        (
            &["--augment-elastic", "nan"],
            "--augment-elastic must be a strength in [0, 1000] pixels, got NaN",
        ),
        (
            &["--augment-elastic", "34", "--elastic-sigma", "0"],
            "--elastic-sigma must be in [0.5, 28] pixels, got 0",
        ),
        (
            &["--augment-elastic", "34", "--elastic-sigma", "1e9"],
            "--elastic-sigma must be in [0.5, 28] pixels, got 1000000000",
        ),
        (
            &["--test-noise", "0.2,-0.1"],
            "--test-noise must be a finite sigma >= 0, got -0.1",
        ),
    ] {
        let stderr = failure(args);
        assert!(stderr.contains(expected), "{args:?}:\n{stderr}");
    }
    // Each option that does not apply is named, before the (here deliberate) error.
    let stderr = failure(&[
        "--nesterov",
        "--momentum",
        "0.5",
        "--gamma",
        "0.5",
        "--model",
        "mlp",
        "--pool",
        "avg",
        "--elastic-sigma",
        "3",
        "--epochs",
        "0",
    ]);
    for expected in [
        "warning: --elastic-sigma applies to --augment-elastic only: ignored with no elastic distortion",
        "warning: --pool applies to LeNet-5 and the ConvNet only: ignored with mlp",
        "warning: --nesterov applies to SGD only: ignored with adam",
        "warning: --momentum applies to SGD and RMSProp only",
        "warning: --gamma applies to the exponential schedule only",
    ] {
        assert!(stderr.contains(expected), "{stderr}");
    }
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none");
    let stderr = failure(&[
        "--resume",
        "--artifacts",
        missing.to_str().unwrap(),
        "--lr",
        "0.1",
    ]);
    assert!(
        stderr.contains("ignoring --lr") && stderr.contains("cannot resume"),
        "{stderr}"
    );
    // --artifacts naming a file.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let stderr = failure(
        &tiny(&file, "1", "500")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert!(stderr.contains("is a file, not a folder"), "{stderr}");
}

#[test]
fn killed_twice_and_resumed_gives_the_weights_of_an_uninterrupted_run_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    // The ConvNet (dropout) with shift and jitter augmentation: every random stream is in use.
    let args = |artifacts: &Path| {
        let mut args = tiny(artifacts, "3", "400");
        args.extend(
            [
                "--model",
                "convnet",
                "--augment-shift",
                "2",
                "--jitter",
                "0.1",
            ]
            .map(String::from),
        );
        args
    };
    let straight = dir.path().join("straight");
    assert_ok(&training().args(args(&straight)).output().unwrap());

    let resumed = dir.path().join("resumed");
    let mut child = training()
        .args(args(&resumed))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for epochs_done in [1, 2] {
        wait_for_epochs(&resumed, epochs_done);
        std::thread::sleep(Duration::from_millis(300)); // into the next epoch
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        child = training()
            .args([
                "--resume",
                "--plain",
                "--artifacts",
                resumed.to_str().unwrap(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    }
    let output = wait_with_limit(child, Duration::from_secs(300));
    assert!(output.status.success(), "{}", text(&output.stderr));

    let weights = common::weight_bits(&straight);
    assert!(weights.len() > 3_000_000, "{} weights", weights.len());
    assert!(
        weights == common::weight_bits(&resumed),
        "the resumed run's weights differ from the uninterrupted run's"
    );
    let metrics = |artifacts: &Path| {
        read_metrics_csv(&artifacts.join(METRICS_FILE))
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.epoch,
                    r.train_loss,
                    r.train_accuracy,
                    r.valid_loss,
                    r.valid_accuracy,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(metrics(&straight), metrics(&resumed));
}
