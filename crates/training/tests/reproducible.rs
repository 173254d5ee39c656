//! The same seed gives the same training run (custom kernels included), up to float rounding:
//! some of Burn's CPU reductions are multi-threaded, so the last digits may differ.

mod common;

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
    for ((a_train, a_valid), (b_train, b_valid)) in first.iter().zip(&second) {
        assert!(
            (a_train - b_train).abs() <= 1e-3 * a_train,
            "{first:?} vs {second:?}"
        );
        assert!(
            (a_valid - b_valid).abs() <= 1e-3 * a_valid,
            "{first:?} vs {second:?}"
        );
    }
    assert!(
        first_correct.abs_diff(second_correct) <= 2,
        "{first_correct} vs {second_correct}"
    );
}
