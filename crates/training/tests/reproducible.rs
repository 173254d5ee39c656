//! The same seed gives the same training run, bit for bit (custom kernels, augmentation and
//! the multi-threaded CPU kernels included): two runs in one process must log identical
//! metrics and score identically on the test set.

use crate::common;

#[test]
fn same_seed_same_metrics() {
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(&[
            "--epochs",
            "2",
            "--train-limit",
            "2000",
            "--valid-size",
            "500",
            "--test-limit",
            "500",
            "--augment-shift",
            "2",
            "--jitter",
            "0.1",
        ]);
        let report = common::train(config, dir.path(), false);
        let history =
            training::epoch_log::read_metrics_csv(&dir.path().join("metrics.csv")).unwrap();
        let losses: Vec<(f64, f64)> = history
            .iter()
            .map(|r| (r.train_loss, r.valid_loss))
            .collect();
        (losses, report.test.correct)
    };
    let (first, first_correct) = run();
    let (second, second_correct) = run();
    assert_eq!(first.len(), 2);
    assert_eq!(first, second, "train/valid losses per epoch");
    assert_eq!(first_correct, second_correct, "correct test predictions");
}
