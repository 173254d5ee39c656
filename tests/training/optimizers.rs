//! Each optimizer lowers the loss and clearly beats chance on a few thousand real MNIST images.

use super::common;
use model::files::METRICS_FILE;

#[test]
fn adam_rmsprop_and_sgd_all_learn() {
    for (optimizer, lr) in [("adam", "0.001"), ("rmsprop", "0.001"), ("sgd", "0.005")] {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(&[
            "--optimizer",
            optimizer,
            "--lr",
            lr,
            "--epochs",
            "3",
            "--train-limit",
            "5000",
            "--valid-size",
            "1000",
            "--test-limit",
            "1000",
        ]);
        let report = common::train(config, dir.path(), false);
        let run = &report.runs[0];
        let best = run.best.clone();
        let metrics = std::fs::read_to_string(dir.path().join(METRICS_FILE)).unwrap();
        let history: Vec<_> = metrics
            .lines()
            .skip(1)
            .map(|l| training::epoch_log::EpochRecord::parse_csv_row(l).unwrap())
            .collect();
        assert_eq!(history.len(), 3, "{optimizer}: {metrics}");
        assert!(
            history[2].train_loss < history[0].train_loss / 2.0,
            "{optimizer}: training loss did not fall: {metrics}"
        );
        // Chance is 10% accuracy and a loss of ln(10) = 2.30.
        assert!(
            history[2].train_loss < 0.5,
            "{optimizer}: loss stayed high ({metrics})"
        );
        assert!(
            best.valid_accuracy > 85.0,
            "{optimizer}: validation accuracy {}",
            best.valid_accuracy
        );
        assert!(
            report.test.accuracy > 85.0,
            "{optimizer}: test accuracy {}",
            report.test.accuracy
        );
        assert_eq!(report.test.images, 1000);
    }
}
