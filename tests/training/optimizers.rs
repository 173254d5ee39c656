//! Each optimizer lowers the loss and clearly beats chance on a few thousand real MNIST images;
//! each epoch's time is recorded with its split into training steps, validation and the rest.

use super::common;
use training::epoch_clock::EpochClock;
use training::epoch_log::EpochRecord;
use training::report::RunSummary;
use workbench_io::names::METRICS_FILE;

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
            .map(|l| EpochRecord::parse_csv_row(l).unwrap())
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
        assert_epoch_time_is_split(&history, run);
    }
}

/// Every epoch's time is split into training steps, validation and the rest, each part inside
/// the whole, and the run's summary holds the means.
fn assert_epoch_time_is_split(history: &[EpochRecord], run: &RunSummary) {
    for record in history {
        let (Some(steps), Some(valid)) = (record.step_seconds, record.valid_seconds) else {
            panic!(
                "epoch {} has no split of its time: {record:?}",
                record.epoch
            );
        };
        assert!(steps > 0.0 && valid > 0.0, "{record:?}");
        assert!(steps + valid <= record.seconds, "{record:?}");
    }
    let mean = |time: fn(&EpochRecord) -> Option<f64>| {
        history.iter().map(|r| time(r).unwrap()).sum::<f64>() / history.len() as f64
    };
    let close = |a: f64, b: f64| (a - b).abs() < 0.01 + 1e-3 * b;
    assert!(
        close(run.mean_step_seconds.unwrap(), mean(|r| r.step_seconds)),
        "{run:?}"
    );
    assert!(
        close(run.mean_valid_seconds.unwrap(), mean(|r| r.valid_seconds)),
        "{run:?}"
    );
}

/// A `metrics.csv` row of an earlier version (no split of the epoch's time) still reads, so
/// such a run can be resumed; the split is unknown, not zero.
#[test]
fn a_metrics_row_without_the_split_still_reads() {
    let old = "3,0.101000,97.1000,0.090000,97.3000,1.000000e-3,41.250";
    let record = EpochRecord::parse_csv_row(old).expect("an old row");
    assert_eq!((record.epoch, record.seconds), (3, 41.25));
    assert_eq!((record.step_seconds, record.valid_seconds), (None, None));
    let new = record.csv_row();
    assert_eq!(
        new.split(',').count(),
        EpochRecord::CSV_HEADER.split(',').count()
    );
    assert_eq!(EpochRecord::parse_csv_row(&new), Some(record));
}

/// The clock's parts add up: steps and validation inside the epoch, the rest what remains.
#[test]
fn the_epoch_clock_splits_an_epoch() {
    use std::thread::sleep;
    use std::time::Duration;
    let clock = EpochClock::default();
    assert_eq!(clock.take_epoch(), None);
    clock.start_epoch();
    for _ in 0..3 {
        sleep(Duration::from_millis(2));
        clock.start_step();
        sleep(Duration::from_millis(5));
        clock.end_step();
    }
    clock.start_validation();
    sleep(Duration::from_millis(5));
    clock.end_validation();
    let times = clock.take_epoch().expect("a finished epoch");
    assert!(times.step_seconds >= 0.015, "{times:?}");
    assert!(times.valid_seconds >= 0.005, "{times:?}");
    let other = times.seconds - times.step_seconds - times.valid_seconds;
    assert!(other >= 0.006, "{times:?}");
    assert_eq!(clock.take_epoch(), None, "an epoch is taken once");
}
