//! The fused softmax cross-entropy against a plain f64 reference and against Burn's own loss.

use burn::backend::Autodiff;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn_ndarray::NdArray;
use custom_kernels::{KernelBackend, cross_entropy};

type B = Autodiff<NdArray>;

/// Logits of a small batch, spread over [-scale, scale], and their targets.
fn batch(n: usize, classes: usize, scale: f32) -> (Vec<f32>, Vec<i64>) {
    let logits = (0..n * classes)
        .map(|i| ((i * 7919 % 1009) as f32 / 1009.0 * 2.0 - 1.0) * scale)
        .collect();
    let targets = (0..n).map(|i| ((i * 3 + 1) % classes) as i64).collect();
    (logits, targets)
}

/// Loss and gradient w.r.t. the logits, in f64 from the definitions.
fn reference(logits: &[f32], targets: &[i64], classes: usize) -> (f64, Vec<f64>) {
    let n = targets.len();
    let mut loss = 0.0;
    let mut grad = vec![0.0; logits.len()];
    for (row, &target) in targets.iter().enumerate() {
        let z = &logits[row * classes..(row + 1) * classes];
        let max = z.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
        let sum: f64 = z.iter().map(|&v| (v as f64 - max).exp()).sum();
        loss += sum.ln() + max - z[target as usize] as f64;
        for (c, &v) in z.iter().enumerate() {
            let p = (v as f64 - max).exp() / sum;
            let onehot = if c as i64 == target { 1.0 } else { 0.0 };
            grad[row * classes + c] = (p - onehot) / n as f64;
        }
    }
    (loss / n as f64, grad)
}

fn loss_and_grad(
    logits: &[f32],
    targets: &[i64],
    classes: usize,
    burn_loss: bool,
) -> (f32, Vec<f32>) {
    loss_and_grad_on::<B>(logits, targets, classes, burn_loss, &Default::default())
}

fn loss_and_grad_on<AB: AutodiffBackend + KernelBackend>(
    logits: &[f32],
    targets: &[i64],
    classes: usize,
    burn_loss: bool,
    device: &AB::Device,
) -> (f32, Vec<f32>) {
    let n = targets.len();
    let x = Tensor::<AB, 1>::from_floats(logits, device)
        .reshape([n, classes])
        .require_grad();
    let t = Tensor::<AB, 1, Int>::from_ints(targets, device);
    let loss = if burn_loss {
        CrossEntropyLossConfig::new()
            .init(device)
            .forward(x.clone(), t)
    } else {
        cross_entropy(x.clone(), t)
    };
    let grads = loss.backward();
    let grad = x.grad(&grads).unwrap().into_data().to_vec().unwrap();
    (loss.into_data().to_vec::<f32>().unwrap()[0], grad)
}

#[test]
fn matches_the_definition_in_f64() {
    check_against_the_definition::<B>(&Default::default());
}

/// The loss and its gradient on `AB` against the f64 definition, on batches of 1 to 300
/// rows (more rows than the GPU loss's one cube has threads) and logits up to ±80.
pub fn check_against_the_definition<AB: AutodiffBackend + KernelBackend>(device: &AB::Device) {
    for (n, classes, scale) in [
        (1, 10, 1.0),
        (64, 10, 5.0),
        (7, 3, 0.1),
        (32, 10, 80.0),
        (300, 10, 3.0),
    ] {
        let (logits, targets) = batch(n, classes, scale);
        let (loss, grad) = loss_and_grad_on::<AB>(&logits, &targets, classes, false, device);
        let (want_loss, want_grad) = reference(&logits, &targets, classes);
        assert!(
            (loss as f64 - want_loss).abs() <= 1e-5 * (1.0 + want_loss),
            "n={n} scale={scale}: loss {loss} vs {want_loss}"
        );
        for (i, (&g, &w)) in grad.iter().zip(&want_grad).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 1e-6,
                "n={n} scale={scale}: grad[{i}] {g} vs {w}"
            );
        }
    }
}

#[test]
fn agrees_with_burns_cross_entropy() {
    let (logits, targets) = batch(64, 10, 4.0);
    let (loss, grad) = loss_and_grad(&logits, &targets, 10, false);
    let (burn_loss, burn_grad) = loss_and_grad(&logits, &targets, 10, true);
    assert!((loss - burn_loss).abs() <= 1e-5 * (1.0 + burn_loss.abs()));
    // Burn's gradient may go through an approximate reciprocal (see the module docs of
    // `custom_kernels::loss`), hence the looser tolerance.
    for (&g, &b) in grad.iter().zip(&burn_grad) {
        assert!((g - b).abs() <= 1e-3 * (1.0 / 64.0), "{g} vs {b}");
    }
}

#[test]
fn large_logits_stay_finite() {
    let (logits, targets) = batch(8, 10, 1.0e4);
    let (loss, grad) = loss_and_grad(&logits, &targets, 10, false);
    assert!(loss.is_finite() && loss > 0.0, "loss {loss}");
    assert!(grad.iter().all(|g| g.is_finite()));
}
