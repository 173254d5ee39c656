//! Early stopping stops when validation stops improving and keeps the best epoch, not the last;
//! random restarts keep the best run.

use super::common;

use mnist_data::{Mnist, bundled_data_dir, train_valid_split};
use training::backend::NdarrayTraining;
use training::evaluate::evaluate;
use workbench_io::names::{METRICS_FILE, WEIGHTS_FILE};

type Inner = <NdarrayTraining as burn::tensor::backend::AutodiffBackend>::InnerBackend;

#[test]
fn early_stopping_stops_and_the_best_epoch_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    // 300 training images and a high learning rate: validation loss bottoms out within a few
    // epochs and then rises as the network memorises the training set.
    let config = common::config(&[
        "--epochs",
        "30",
        "--patience",
        "2",
        "--train-limit",
        "300",
        "--valid-size",
        "1000",
        "--lr",
        "0.005",
        "--test-limit",
        "200",
    ]);
    let report = common::train(config, dir.path(), false);
    let run = &report.runs[0];
    assert!(run.stopped_early, "ran all {} epochs", run.epochs_run);
    assert!(run.epochs_run < 30);
    assert_eq!(
        run.epochs_run,
        run.best_epoch + 2,
        "stops `patience` epochs after the best"
    );

    let history = training::epoch_log::read_metrics_csv(&dir.path().join(METRICS_FILE)).unwrap();
    let best = history
        .iter()
        .min_by(|a, b| a.valid_loss.total_cmp(&b.valid_loss))
        .unwrap();
    assert_eq!(best.epoch, run.best_epoch);

    // The saved model is the best epoch's: its validation loss is the recorded best, not the last.
    let device = Default::default();
    let (network, _) = model::load_model::<Inner>(dir.path(), &device).unwrap();
    let mnist = Mnist::load(&bundled_data_dir()).unwrap();
    let (_, valid) = train_valid_split(&mnist.train, 1000, 42);
    let eval = evaluate(&network, &valid, 500, &device);
    // (Burn averages the loss per batch, `evaluate` per image: they differ slightly.)
    let last = history.last().unwrap();
    assert!(
        (eval.loss - best.valid_loss).abs() < 5e-3,
        "saved model's validation loss {} vs best epoch's {} (last epoch's {})",
        eval.loss,
        best.valid_loss,
        last.valid_loss
    );
    assert!(
        (eval.loss - best.valid_loss).abs() < (eval.loss - last.valid_loss).abs(),
        "the saved model looks like the last epoch, not the best"
    );
}

#[test]
fn restarts_report_every_run_and_keep_the_best() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(&[
        "--restarts",
        "3",
        "--epochs",
        "1",
        "--train-limit",
        "1000",
        "--valid-size",
        "1000",
        "--test-limit",
        "200",
    ]);
    let report = common::train(config, dir.path(), false);
    assert_eq!(report.runs.len(), 3);
    let seeds: Vec<u64> = report.runs.iter().map(|r| r.seed).collect();
    assert_eq!(seeds, vec![42, 43, 44]);
    let losses: Vec<f64> = report.runs.iter().map(|r| r.best.valid_loss).collect();
    assert!(
        losses[0] != losses[1] && losses[1] != losses[2],
        "restarts are not independent: {losses:?}"
    );
    let best = (0..3)
        .min_by(|&a, &b| losses[a].total_cmp(&losses[b]))
        .unwrap();
    assert_eq!(report.chosen_run, best + 1, "{losses:?}");
    let kept = std::fs::read(dir.path().join(WEIGHTS_FILE)).unwrap();
    let chosen = std::fs::read(
        dir.path()
            .join(format!("restart-{}", best + 1))
            .join(WEIGHTS_FILE),
    )
    .unwrap();
    assert_eq!(kept, chosen, "the session's model is the best run's");
    // Every run's model is scored on the test set; the kept one's score is the report's.
    assert_eq!(report.restart_tests.len(), 3);
    assert_eq!(report.restart_tests[best], report.test);
    assert!(report.restart_tests.iter().all(|t| t.images == 200));
    for k in 1..=3 {
        assert!(
            dir.path()
                .join(format!("restart-{k}/metrics.csv"))
                .is_file()
        );
    }
}
