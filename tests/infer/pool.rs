//! `infer pool`: the lecture's worked pooling examples on the command line, and the library
//! function against a plain-loop definition of max, average and global average pooling.

use burn_ndarray::NdArray;
use infer::matrix::Matrix;
use infer::pool::{Pooling, pool};
use model::PoolKind;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::common::infer;

/// The 4x4 matrix of the worked examples.
const LECTURE: &str = "# a 4x4 input\n1 1 2 4\n5 6 7 8\n3 2 1 0\n1 2 3 4\n";

/// Runs `infer pool ARGS... MATRIX` on the lecture's matrix; returns standard output.
fn pool_lecture(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, LECTURE).unwrap();
    let mut all = vec!["pool"];
    all.extend_from_slice(args);
    all.push(input.to_str().unwrap());
    let out = infer(&all);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_lectures_worked_examples_on_the_command_line() {
    // 2x2 windows, stride 2 (the default stride is the window size).
    assert_eq!(pool_lecture(&["--kind", "max"]), "6 8\n3 4\n");
    assert_eq!(
        pool_lecture(&["--kind", "avg", "--size", "2", "--stride", "2"]),
        "3.25 5.25\n   2    2\n"
    );
    // Overlapping 3x3 windows at stride 1.
    assert_eq!(
        pool_lecture(&["--kind", "max", "--size", "3", "--stride", "1"]),
        "7 8\n7 8\n"
    );
    // The mean of all 16 values: 50 / 16.
    assert_eq!(pool_lecture(&["--kind", "global"]), "3.125\n");
}

#[test]
fn bad_windows_are_named_and_the_result_can_be_saved() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, LECTURE).unwrap();
    let input = input.to_str().unwrap();
    let err = infer(&["pool", "--kind", "max", "--size", "5", input]);
    assert!(!err.status.success());
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.contains("input.txt") && stderr.contains("a 5x5 window does not fit a 4x4 matrix"),
        "{stderr}"
    );
    let err = infer(&["pool", "--kind", "avg", "--stride", "0", input]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("at least 1"));
    let err = infer(&["pool", "--kind", "median", input]);
    assert!(String::from_utf8_lossy(&err.stderr).contains("max, avg, global"));

    let output = dir.path().join("pooled.txt");
    let out = infer(&["pool", "--kind", "max", input, output.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "6 8\n3 4\n");
}

/// Pooling by definition: every window of `size x size` at `stride`, reduced by `reduce`.
fn naive(input: &Matrix, size: usize, stride: usize, reduce: fn(&[f32]) -> f32) -> Matrix {
    let rows = (input.rows - size) / stride + 1;
    let cols = (input.cols - size) / stride + 1;
    let mut values = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let window: Vec<f32> = (0..size * size)
                .map(|i| input.values[(r * stride + i / size) * input.cols + c * stride + i % size])
                .collect();
            values.push(reduce(&window));
        }
    }
    Matrix { rows, cols, values }
}

fn max(window: &[f32]) -> f32 {
    window.iter().copied().fold(f32::NEG_INFINITY, f32::max)
}

fn mean(window: &[f32]) -> f32 {
    window.iter().sum::<f32>() / window.len() as f32
}

#[test]
fn the_library_pools_as_the_definition_says() {
    let mut rng = StdRng::seed_from_u64(15);
    for (rows, cols) in [(4, 4), (5, 7), (9, 6), (1, 3)] {
        let input = Matrix {
            rows,
            cols,
            values: (0..rows * cols)
                .map(|_| rng.random_range(-9.0..9.0))
                .collect(),
        };
        for size in 1..=rows.min(cols) {
            for stride in 1..=3 {
                for (kind, reduce) in [
                    (Pooling::Window(PoolKind::Max), max as fn(&[f32]) -> f32),
                    (Pooling::Window(PoolKind::Avg), mean),
                ] {
                    let got = pool::<NdArray>(&input, kind, size, stride).unwrap();
                    let want = naive(&input, size, stride, reduce);
                    assert_eq!((got.rows, got.cols), (want.rows, want.cols));
                    for (g, w) in got.values.iter().zip(&want.values) {
                        assert!(
                            (g - w).abs() <= 1e-5,
                            "{kind:?} {size}/{stride}: {g} vs {w}"
                        );
                    }
                }
            }
        }
        let global = pool::<NdArray>(&input, Pooling::Global, 0, 0).unwrap();
        assert_eq!((global.rows, global.cols), (1, 1));
        assert!((global.values[0] - mean(&input.values)).abs() <= 1e-5);
    }
}
