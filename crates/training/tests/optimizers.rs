//! Each optimizer lowers the loss and clearly beats chance on a few thousand real MNIST images.

mod common;

#[test]
fn adam_rmsprop_and_sgd_all_learn() {
    for (optimizer, lr) in [("adam", "0.001"), ("rmsprop", "0.001"), ("sgd", "0.02")] {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(&[
            "--optimizer",
            optimizer,
            "--lr",
            lr,
            "--epochs",
            "2",
            "--train-limit",
            "3000",
            "--valid-size",
            "1000",
            "--test-limit",
            "1000",
        ]);
        let report = common::train(config, dir.path(), false);
        let run = &report.runs[0];
        let first = run.best.clone();
        let metrics = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
        let history: Vec<_> = metrics
            .lines()
            .skip(1)
            .map(|l| training::epoch_log::EpochRecord::parse_csv_row(l).unwrap())
            .collect();
        assert_eq!(history.len(), 2, "{optimizer}: {metrics}");
        assert!(
            history[1].train_loss < history[0].train_loss,
            "{optimizer}: training loss did not fall: {metrics}"
        );
        assert!(
            history[0].train_loss < 2.3,
            "{optimizer}: loss never left chance level ({metrics})"
        );
        assert!(
            first.valid_accuracy > 80.0,
            "{optimizer}: validation accuracy {}",
            first.valid_accuracy
        );
        assert!(
            report.test.accuracy > 80.0,
            "{optimizer}: test accuracy {}",
            report.test.accuracy
        );
        assert_eq!(report.test.images, 1000);
    }
}
