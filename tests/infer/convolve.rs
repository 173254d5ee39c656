//! `infer convolve`: worked textbook examples, the named kernels on pictures, and errors.

use super::common::infer;
use burn_ndarray::NdArray;
use image::{GrayImage, Luma};
use infer::convolve::{Matrix, Padding, convolve, named_kernel};
use model::layer_math::{output_size, same_padding};

/// Cross-correlation by the definition, for comparison: `rows` `[above, below]` and `cols`
/// `[left, right]` zeros around the input.
fn naive(
    input: &Matrix,
    kernel: &Matrix,
    stride: usize,
    rows: [usize; 2],
    cols: [usize; 2],
) -> Matrix {
    let out_rows = (input.rows + rows[0] + rows[1] - kernel.rows) / stride + 1;
    let out_cols = (input.cols + cols[0] + cols[1] - kernel.cols) / stride + 1;
    let mut values = Vec::new();
    for oy in 0..out_rows {
        for ox in 0..out_cols {
            let mut sum = 0.0;
            for ky in 0..kernel.rows {
                for kx in 0..kernel.cols {
                    let y = (oy * stride + ky) as isize - rows[0] as isize;
                    let x = (ox * stride + kx) as isize - cols[0] as isize;
                    if y >= 0 && x >= 0 && (y as usize) < input.rows && (x as usize) < input.cols {
                        sum += input.values[y as usize * input.cols + x as usize]
                            * kernel.values[ky * kernel.cols + kx];
                    }
                }
            }
            values.push(sum);
        }
    }
    Matrix {
        rows: out_rows,
        cols: out_cols,
        values,
    }
}

fn assert_close(got: &Matrix, want: &Matrix, what: &str) {
    assert_eq!((got.rows, got.cols), (want.rows, want.cols), "{what}");
    for (g, w) in got.values.iter().zip(&want.values) {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: {g} vs {w}"
        );
    }
}

#[test]
fn vertical_edge_detector_worked_example() {
    // The classic lecture example: a 6x6 image bright on the left, dark on the right, and a
    // vertical edge detector give a 4x4 output whose middle columns light up.
    let input: Matrix = "10 10 10 0 0 0\n".repeat(6).parse().unwrap();
    let kernel: Matrix = "1 0 -1; 1 0 -1; 1 0 -1".parse().unwrap();
    let output = convolve::<NdArray>(&input, &kernel, 1, Padding::Valid).unwrap();
    assert_eq!((output.rows, output.cols), (4, 4));
    assert_eq!(output.to_string(), " 0 30 30  0\n".repeat(4));
}

#[test]
fn stride_and_padding_follow_the_output_size_formula() {
    let input = Matrix {
        rows: 7,
        cols: 5,
        values: (1..=35).map(|v| v as f32).collect(),
    };
    for name in [
        "blur",
        "sharpen",
        "edge",
        "emboss",
        "laplacian",
        "sobel-x",
        "sobel-y",
    ] {
        let kernel = named_kernel(name).unwrap();
        for (stride, padding, pad) in [
            (1, Padding::Same, 1),
            (1, Padding::Valid, 0),
            (2, Padding::Explicit(1), 1),
            (2, Padding::Valid, 0),
            (3, Padding::Explicit(2), 2),
        ] {
            let got = convolve::<NdArray>(&input, &kernel, stride, padding).unwrap();
            let want = naive(&input, &kernel, stride, [pad, pad], [pad, pad]);
            assert_close(&got, &want, &format!("{name} s{stride}"));
        }
    }
}

/// `--padding same` is the SAME of `model::layer_math` (TensorFlow's): `ceil(W / S)` outputs,
/// the smaller half of the zeros before, also where the zeros cannot be split evenly (even
/// kernels, strides above 1).
#[test]
fn same_padding_is_the_layer_math_same() {
    let input = Matrix {
        rows: 7,
        cols: 6,
        values: (1..=42).map(|v| v as f32).collect(),
    };
    for kernel in ["1 2; 3 4", "1 0 -1; 2 0 -2; 1 0 -1", "1 2 3 4; 5 6 7 8"] {
        let kernel: Matrix = kernel.parse().unwrap();
        for stride in 1..=3 {
            let got = convolve::<NdArray>(&input, &kernel, stride, Padding::Same).unwrap();
            let rows = same_padding(input.rows, kernel.rows, stride);
            let cols = same_padding(input.cols, kernel.cols, stride);
            let what = format!("{}x{} kernel, stride {stride}", kernel.rows, kernel.cols);
            assert_eq!(
                (Some(got.rows), Some(got.cols)),
                (
                    output_size(input.rows, kernel.rows, stride, Padding::Same),
                    output_size(input.cols, kernel.cols, stride, Padding::Same)
                ),
                "{what}"
            );
            assert_close(&got, &naive(&input, &kernel, stride, rows, cols), &what);
        }
    }
}

#[test]
fn text_matrices_in_and_out_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(
        &input,
        "# a 4x4 input\n1 2 3 4\n5 6 7 8\n9 10 11 12\n13 14 15 16\n",
    )
    .unwrap();
    let kernel = dir.path().join("kernel.txt");
    std::fs::write(&kernel, "1, 0\n0, -1\n").unwrap();
    let out = infer(&[
        "convolve",
        "--kernel",
        kernel.to_str().unwrap(),
        input.to_str().unwrap(),
        "--padding",
        "valid",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "-5 -5 -5\n-5 -5 -5\n-5 -5 -5\n"
    );

    let strided = infer(&[
        "convolve",
        "--kernel",
        "blur",
        input.to_str().unwrap(),
        "--stride",
        "2",
        "--padding",
        "1",
    ]);
    assert!(strided.status.success());
    assert_eq!(String::from_utf8_lossy(&strided.stdout).lines().count(), 2);
}

#[test]
fn named_kernels_filter_pictures() {
    let dir = tempfile::tempdir().unwrap();
    // 40x30: dark left half, bright right half.
    let picture = GrayImage::from_fn(40, 30, |x, _| Luma([if x < 20 { 20 } else { 220 }]));
    let input = dir.path().join("step.png");
    picture.save(&input).unwrap();

    let blurred = dir.path().join("blur.png");
    let out = infer(&[
        "convolve",
        "--kernel",
        "blur",
        input.to_str().unwrap(),
        blurred.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let blurred = image::open(&blurred).unwrap().to_luma8();
    assert_eq!(
        blurred.dimensions(),
        (40, 30),
        "SAME padding keeps the size"
    );
    assert_eq!(
        blurred.get_pixel(5, 15)[0],
        20,
        "flat areas keep their level"
    );
    let edge = blurred.get_pixel(19, 15)[0];
    assert!(edge > 20 && edge < 220, "the step is softened: {edge}");

    let sobel = dir.path().join("sobel.png");
    let out = infer(&[
        "convolve",
        "--kernel",
        "sobel-x",
        input.to_str().unwrap(),
        sobel.to_str().unwrap(),
        "--padding",
        "valid",
        "--stride",
        "2",
    ]);
    assert!(out.status.success());
    let sobel = image::open(&sobel).unwrap().to_luma8();
    assert_eq!(
        sobel.dimensions(),
        (19, 14),
        "(40 - 3) / 2 + 1 by (30 - 3) / 2 + 1"
    );
    // The vertical edge at x = 20 lights up; flat areas are black.
    assert_eq!(sobel.get_pixel(2, 7)[0], 0);
    assert_eq!(sobel.get_pixel(9, 7)[0], 255);
}

#[test]
fn bad_kernels_and_inputs_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ragged = dir.path().join("ragged.txt");
    std::fs::write(&ragged, "1 2 3\n4 5\n").unwrap();
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "1 2\n3 4\n").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["convolve", "--kernel", "glow", input.to_str().unwrap()],
            "glow",
        ),
        (
            &[
                "convolve",
                "--kernel",
                ragged.to_str().unwrap(),
                input.to_str().unwrap(),
            ],
            "rectangular",
        ),
        (
            &[
                "convolve",
                "--kernel",
                "edge",
                input.to_str().unwrap(),
                "--padding",
                "valid",
            ],
            "does not fit",
        ),
        (
            &["convolve", "--kernel", "edge", "missing.png", "out.png"],
            "missing.png",
        ),
    ];
    for (args, expected) in cases {
        let out = infer(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
