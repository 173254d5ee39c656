//! Training on the custom kernels reaches the accuracy of training on Burn's built-in ops
//! (same seed; the two differ only in float rounding, which grows slowly with training).

use super::common;

#[test]
fn custom_and_builtin_kernels_train_alike() {
    let train = |kernels: &str| {
        let dir = tempfile::tempdir().unwrap();
        let config = common::config(&[
            "--kernels",
            kernels,
            "--epochs",
            "2",
            "--train-limit",
            "1000",
            "--valid-size",
            "1000",
            "--test-limit",
            "1000",
        ]);
        common::train(config, dir.path(), false)
    };
    let custom = train("custom");
    let builtin = train("builtin");
    let (c, b) = (&custom.runs[0].best, &builtin.runs[0].best);
    // Chance is 10%; two epochs on 1,000 images reach about 77%.
    assert!(
        c.valid_accuracy > 70.0,
        "custom kernels: {}",
        c.valid_accuracy
    );
    assert!(
        (c.valid_accuracy - b.valid_accuracy).abs() <= 1.0,
        "validation accuracy: custom {} vs builtin {}",
        c.valid_accuracy,
        b.valid_accuracy
    );
    assert!(
        (c.train_loss - b.train_loss).abs() <= 0.02 * b.train_loss,
        "training loss: custom {} vs builtin {}",
        c.train_loss,
        b.train_loss
    );
    assert!((custom.test.accuracy - builtin.test.accuracy).abs() <= 1.0);
}
