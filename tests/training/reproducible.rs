//! The same seed gives the same training run, bit for bit (custom kernels, augmentation and
//! the multi-threaded CPU kernels included): two runs in one process must end with the same
//! weights to the last bit, log the same unrounded metrics and score identically on the test
//! set.

use training::TrainingReport;

use super::common;
use workbench_io::names::METRICS_FILE;

#[test]
fn same_seed_same_weights_and_metrics() {
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
        let weights = common::weight_bits(dir.path());
        let per_epoch =
            training::epoch_log::read_metrics_csv(&dir.path().join(METRICS_FILE)).unwrap();
        (report, weights, per_epoch.len())
    };
    let (first, first_weights, epochs) = run();
    let (second, second_weights, _) = run();
    assert_eq!(epochs, 2);
    assert_eq!(first_weights.len(), 61_706, "LeNet-5's parameters");
    assert!(
        first_weights == second_weights,
        "the trained weights differ"
    );
    // The kept epoch's metrics, unrounded (only the wall times may differ).
    let metrics = |report: &TrainingReport| {
        let best = &report.runs[0].best;
        let values = [
            best.train_loss,
            best.train_accuracy,
            best.valid_loss,
            best.valid_accuracy,
            best.learning_rate,
        ];
        (best.epoch, values.map(f64::to_bits))
    };
    assert_eq!(
        metrics(&first),
        metrics(&second),
        "the kept epoch's metrics"
    );
    assert_eq!(
        first.test.correct, second.test.correct,
        "correct test predictions"
    );
    assert_eq!(
        first.test.loss.to_bits(),
        second.test.loss.to_bits(),
        "test loss"
    );
}
