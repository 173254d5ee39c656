//! Committees (`--restarts K --ensemble`): every run's model is kept, the committee is scored by
//! the members' averaged probabilities, and an interrupted session resumes to the same
//! committee.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use burn_ndarray::NdArray;
use mnist_data::{Mnist, MnistDataset, bundled_data_dir};
use model::{SCORING_BATCH, load_members, score_committee, score_set};
use training::TrainingReport;
use workbench_io::names::{COMMITTEE_FILE, REPORT_FILE, RUN_SUMMARY_FILE};

use super::common::{self, wait_for_epochs};
use super::failures::{assert_ok, tiny, training, wait_with_limit};
use crate::programs::assert_clean_failure;

/// The options of the committee runs: two LeNet-5s of 4 epochs on 8,000 images: the second
/// run's last three epochs take about 1.5 s on 2 cores, time enough to kill it in them.
fn committee_args(artifacts: &Path) -> Vec<String> {
    let mut args = tiny(artifacts, "4", "8000");
    args.extend(["--restarts", "2", "--ensemble"].map(String::from));
    args
}

fn report(artifacts: &Path) -> TrainingReport {
    let text = std::fs::read_to_string(artifacts.join(REPORT_FILE)).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn a_committee_scores_the_mean_of_its_members_probabilities_and_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let straight = dir.path().join("straight");
    assert_ok(&training().args(committee_args(&straight)).output().unwrap());
    let straight_report = report(&straight);
    let committee = straight_report
        .committee
        .clone()
        .expect("--ensemble reports the committee");
    assert_eq!(committee.members, 2);
    assert_eq!(straight_report.restart_tests.len(), 2);
    assert!(straight.join(COMMITTEE_FILE).is_file());

    // The committee's probabilities are the mean of its members', on real test images.
    let device = Default::default();
    let members = load_members::<NdArray>(&straight, &device).unwrap();
    assert_eq!(members.len(), 2, "the folder's model is the committee");
    let networks: Vec<_> = members.into_iter().map(|(network, _)| network).collect();
    let test = MnistDataset::all(Mnist::load_test(&bundled_data_dir()).unwrap()).take(200);
    let scores = score_committee(&networks, &test, SCORING_BATCH, &device);
    let alone: Vec<_> = networks
        .iter()
        .map(|n| score_set(n, &test, SCORING_BATCH, &device))
        .collect();
    for (image, got) in scores.committee.probabilities.iter().enumerate() {
        for (digit, &value) in got.iter().enumerate() {
            let mean = (alone[0].probabilities[image][digit] as f64
                + alone[1].probabilities[image][digit] as f64)
                / 2.0;
            // Within 1e-6, and in fact the f64 mean rounded once, as documented.
            assert!(
                (value as f64 - mean).abs() <= 1e-6 && value == mean as f32,
                "image {image}, digit {digit}: {value} against the mean {mean}"
            );
        }
    }
    assert_eq!(
        scores.committee.correct(),
        committee.test.correct,
        "the report scores the same committee"
    );
    for (member, reported) in alone.iter().zip(&straight_report.restart_tests) {
        assert_eq!(member.correct(), reported.correct);
    }

    // Killed during the second run and resumed: the same members and the same committee.
    let resumed = dir.path().join("resumed");
    let mut child = training()
        .args(committee_args(&resumed))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_epochs(&resumed.join("restart-2"), 1);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !resumed.join("restart-2").join(RUN_SUMMARY_FILE).exists(),
        "killed before the second run ended"
    );
    let child = training()
        .args(["--resume", "--plain", "--artifacts"])
        .arg(&resumed)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let output = wait_with_limit(child, Duration::from_secs(300));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let resumed_report = report(&resumed);
    assert_eq!(resumed_report.committee, straight_report.committee);
    assert_eq!(resumed_report.restart_tests, straight_report.restart_tests);
    for run in ["restart-1", "restart-2"] {
        assert!(
            common::weight_bits(&straight.join(run)) == common::weight_bits(&resumed.join(run)),
            "{run}'s weights differ after the resume"
        );
    }
    assert_eq!(
        std::fs::read(straight.join(COMMITTEE_FILE)).unwrap(),
        std::fs::read(resumed.join(COMMITTEE_FILE)).unwrap()
    );
}

#[test]
fn ensemble_needs_several_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = tiny(&dir.path().join("run"), "1", "100");
    args.push("--ensemble".into());
    let stderr = assert_clean_failure(&training().args(&args).output().unwrap());
    assert!(
        stderr.contains("--ensemble averages the models of several runs"),
        "{stderr}"
    );
}
