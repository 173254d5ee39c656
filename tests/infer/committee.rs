//! `infer` with a committee: several `--model`s, or a folder written by `training --ensemble`,
//! classify by the members' averaged probabilities; `eval` gives each member's accuracy; the
//! commands that look inside one network refuse a committee; `serve` serves one as a model;
//! a damaged `committee.json` is refused with its problem named.

use std::path::Path;

use serde_json::Value;

use super::common::{committee_dir, infer, test_idx, test_labels};
use super::serve::{Server, get, pixels_json, post, predict_json, probabilities};
use crate::programs::assert_clean_failure;
use workbench_io::names::COMMITTEE_FILE;

fn eval_json(models: &[&Path], out: &Path) -> Value {
    let (idx, labels) = (test_idx(), test_labels());
    let mut args = vec!["eval", "--json", "--images", &idx, "--labels", &labels];
    let out = out.to_str().unwrap();
    args.extend(["--out", out]);
    for model in models {
        args.extend(["--model", model.to_str().unwrap()]);
    }
    let output = infer(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn predict_and_eval_average_the_members() {
    let committee = committee_dir();
    let members = [committee.join("restart-1"), committee.join("restart-2")];
    let out = tempfile::tempdir().unwrap();

    // The committee's folder is the committee: the same report as naming its members.
    let folder = eval_json(&[committee], out.path());
    let named = eval_json(&[&members[0], &members[1]], out.path());
    assert_eq!(folder, named);
    let accuracies: Vec<f64> = serde_json::from_value(folder["member_accuracies"].clone()).unwrap();
    for (member, accuracy) in members.iter().zip(&accuracies) {
        let alone = eval_json(&[member], out.path());
        assert_eq!(alone["accuracy"].as_f64(), Some(*accuracy));
        assert_eq!(alone["member_accuracies"], Value::Array(Vec::new()));
    }
    assert_eq!(accuracies.len(), 2);
    assert_eq!(folder["images"], 10_000);

    // A prediction is the mean of the members' probabilities.
    let idx = test_idx();
    for index in ["0", "1", "8"] {
        let args = ["--idx", idx.as_str(), "--index", index];
        let joint = probabilities(&predict_json(committee, &args));
        let alone: Vec<Vec<f64>> = members
            .iter()
            .map(|m| probabilities(&predict_json(m, &args)))
            .collect();
        for (digit, &value) in joint.iter().enumerate() {
            let mean = (alone[0][digit] + alone[1][digit]) / 2.0;
            assert!(
                (value - mean).abs() <= 1e-6,
                "test image {index}, digit {digit}: {value} against {mean}"
            );
        }
    }
    // The human-readable report names the committee and its members' scores.
    let output = infer(&[
        "eval",
        "--model",
        committee.to_str().unwrap(),
        "--images",
        &idx,
        "--labels",
        &test_labels(),
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("a committee of 2"), "{printed}");
}

#[test]
fn commands_that_look_inside_one_network_refuse_a_committee() {
    let committee = committee_dir();
    let out = tempfile::tempdir().unwrap();
    for args in [
        vec!["export", "--out", "weights.safetensors"],
        vec!["filters", "--out", "filters.png"],
    ] {
        let mut args: Vec<String> = args.into_iter().map(String::from).collect();
        let last = args.len() - 1;
        args[last] = out.path().join(&args[last]).display().to_string();
        args.extend(["--model".into(), committee.display().to_string()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let stderr = assert_clean_failure(&infer(&args));
        assert!(
            stderr.contains("is a committee of 2 networks") && stderr.contains(COMMITTEE_FILE),
            "{stderr}"
        );
    }
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

/// `infer predict --model DIR --idx ...`'s error, which must be a clean failure.
fn predict_error(dir: &Path) -> String {
    assert_clean_failure(&infer(&[
        "predict",
        "--model",
        dir.to_str().unwrap(),
        "--idx",
        &test_idx(),
    ]))
}

#[test]
fn a_damaged_committee_file_is_refused_with_its_problem() {
    let dir = tempfile::tempdir().unwrap();
    let too_many = format!(r#"{{"members": [{}]}}"#, vec![r#""m""#; 65].join(", "));
    let cases: Vec<(&str, &str)> = vec![
        (r#"{"members": ["../elsewhere"]}"#, "is not a folder inside"),
        (r#"{"members": ["/tmp"]}"#, "is not a folder inside"),
        (r#"{"members": []}"#, "a committee has 1 to 64 networks"),
        (&too_many, "a committee has 1 to 64 networks"),
        (r#"{"members": ["a", "b", "a"]}"#, r#"names "a" twice"#),
        (r#"{"members": "restart-1"}"#, "not a valid committee"),
        ("\u{0}\u{1}garbage", "not a valid committee"),
    ];
    for (content, problem) in cases {
        std::fs::write(dir.path().join(COMMITTEE_FILE), content).unwrap();
        let stderr = predict_error(dir.path());
        assert!(
            stderr.contains(problem) && stderr.contains(COMMITTEE_FILE),
            "{content}: {stderr}"
        );
    }

    // A member that is missing is named by its missing file.
    std::fs::write(dir.path().join(COMMITTEE_FILE), r#"{"members": ["gone"]}"#).unwrap();
    let stderr = predict_error(dir.path());
    assert!(
        stderr.contains("gone") && stderr.contains("model.json"),
        "{stderr}"
    );

    // A member that leads outside through a symbolic link, or is a committee itself.
    let committee = committee_dir();
    std::os::unix::fs::symlink(committee.join("restart-1"), dir.path().join("link")).unwrap();
    std::fs::write(dir.path().join(COMMITTEE_FILE), r#"{"members": ["link"]}"#).unwrap();
    let stderr = predict_error(dir.path());
    assert!(stderr.contains("is not a folder inside"), "{stderr}");
    let nested = dir.path().join("nested");
    std::fs::create_dir(&nested).unwrap();
    for file in [COMMITTEE_FILE, "model.json", "model.mpk"] {
        std::fs::copy(committee.join(file), nested.join(file)).unwrap();
    }
    std::fs::write(
        dir.path().join(COMMITTEE_FILE),
        r#"{"members": ["nested"]}"#,
    )
    .unwrap();
    let stderr = predict_error(dir.path());
    assert!(stderr.contains("is a committee itself"), "{stderr}");

    // More than 64 networks in all, from several --model.
    let model = committee.to_str().unwrap();
    let mut args = vec!["predict", "--idx"];
    let idx = test_idx();
    args.push(&idx);
    for _ in 0..33 {
        args.extend(["--model", model]);
    }
    let stderr = assert_clean_failure(&infer(&args));
    assert!(
        stderr.contains("hold 66 networks, more than a committee takes (64)"),
        "{stderr}"
    );
}

#[test]
fn serve_serves_a_committee_as_one_model() {
    let committee = committee_dir();
    let server = Server::start(&[committee]);
    let (status, models) = get(&server.url("/api/models"));
    assert_eq!(status, 200, "{models}");
    assert_eq!(models[0]["members"], 2, "{models}");
    let test = mnist_data::Mnist::load_test(&mnist_data::bundled_data_dir()).unwrap();
    let idx = test_idx();
    for index in [0usize, 7] {
        let (status, served) = post(
            &server.url("/api/predict"),
            "application/json",
            &pixels_json(test.image(index)),
        );
        assert_eq!(status, 200, "{served}");
        let predicted = predict_json(committee, &["--idx", &idx, "--index", &index.to_string()]);
        for (a, b) in probabilities(&served).iter().zip(probabilities(&predicted)) {
            assert!((a - b).abs() <= 1e-6, "test image {index}: {a} vs {b}");
        }
    }
}
