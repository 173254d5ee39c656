//! Classic image-processing kernels applied through the project's `conv2d`, the way a course
//! introduces convolution. Like every deep-learning framework, `conv2d` computes a
//! cross-correlation (the kernel is not flipped); for the symmetric kernels below this is the
//! same thing, for Sobel and emboss it fixes which side counts as positive.

use custom_kernels::{ConvSpec, KernelBackend, KernelChoice, conv2d};
pub use model::layer_math::Padding;
use model::layer_math::same_padding;

use crate::matrix::MAX_MATRIX_VALUES;
pub use crate::matrix::Matrix;

/// Most multiply-adds of one convolution (seconds on a CPU): a large kernel over a large
/// padded picture is refused rather than left to run for hours.
pub const MAX_CONVOLVE_MACS: usize = 1 << 32;

/// The kernels `infer convolve --kernel NAME` knows, with their 3x3 weights.
pub const NAMED_KERNELS: [(&str, [f32; 9]); 7] = [
    (
        "blur",
        [
            1.0 / 16.0,
            2.0 / 16.0,
            1.0 / 16.0,
            2.0 / 16.0,
            4.0 / 16.0,
            2.0 / 16.0,
            1.0 / 16.0,
            2.0 / 16.0,
            1.0 / 16.0,
        ],
    ),
    ("sharpen", [0.0, -1.0, 0.0, -1.0, 5.0, -1.0, 0.0, -1.0, 0.0]),
    (
        "edge",
        [-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, -1.0],
    ),
    ("emboss", [-2.0, -1.0, 0.0, -1.0, 1.0, 1.0, 0.0, 1.0, 2.0]),
    ("laplacian", [0.0, 1.0, 0.0, 1.0, -4.0, 1.0, 0.0, 1.0, 0.0]),
    ("sobel-x", [-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0]),
    ("sobel-y", [-1.0, -2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 1.0]),
];

/// The named kernel `name` (see [`NAMED_KERNELS`]).
pub fn named_kernel(name: &str) -> Option<Matrix> {
    NAMED_KERNELS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, w)| Matrix {
            rows: 3,
            cols: 3,
            values: w.to_vec(),
        })
}

/// `--padding`: `same` (TensorFlow's `SAME`, as in [`model::layer_math`]: enough zeros for
/// `ceil(W / S)` output positions, the smaller half before; for an odd kernel at stride 1,
/// `(k - 1) / 2` on each side, so the size is kept), `valid` (none) or a number of zeros on
/// each side.
pub fn parse_padding(s: &str) -> Result<Padding, String> {
    match s.to_ascii_lowercase().as_str() {
        "same" => Ok(Padding::Same),
        "valid" => Ok(Padding::Valid),
        n => n
            .parse()
            .map(Padding::Explicit)
            .map_err(|_| format!("padding '{s}': expected same, valid or a number")),
    }
}

/// The zeros `padding` adds `[before, after]` along an axis of `input` values for a kernel of
/// `kernel`.
fn zeros(padding: Padding, input: usize, kernel: usize, stride: usize) -> [usize; 2] {
    match padding {
        Padding::Same => same_padding(input, kernel, stride),
        Padding::Valid => [0, 0],
        Padding::Explicit(p) => [p, p],
    }
}

impl Matrix {
    /// The matrix inside a frame of zeros: `rows` `[above, below]`, `cols` `[left, right]`.
    fn padded(&self, rows: [usize; 2], cols: [usize; 2]) -> Matrix {
        let width = cols[0] + self.cols + cols[1];
        let height = rows[0] + self.rows + rows[1];
        let mut values = vec![0.0; width * height];
        for (r, row) in self.values.chunks_exact(self.cols).enumerate() {
            let start = (rows[0] + r) * width + cols[0];
            values[start..start + self.cols].copy_from_slice(row);
        }
        Matrix {
            rows: height,
            cols: width,
            values,
        }
    }
}

/// Why a convolution of text matrices was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConvolveError {
    #[error("the stride must be at least 1")]
    ZeroStride,
    #[error("the input and the kernel must each hold at least one value")]
    Empty,
    #[error(
        "padding {}x{} by {rows:?} rows and {cols:?} columns makes more than the \
         {MAX_MATRIX_VALUES} values a matrix may have",
        .input[0], .input[1]
    )]
    PaddedTooLarge {
        input: [usize; 2],
        rows: [usize; 2],
        cols: [usize; 2],
    },
    #[error(
        "a {}x{} kernel over a {}x{} input (padded) is about {macs} multiply-adds, more than \
         the {MAX_CONVOLVE_MACS} this command does",
        .kernel[0], .kernel[1], .input[0], .input[1]
    )]
    TooMuchWork {
        kernel: [usize; 2],
        input: [usize; 2],
        macs: usize,
    },
    #[error(
        "a {}x{} kernel with stride {stride} does not fit a {}x{} input padded to {}x{}",
        .kernel[0], .kernel[1], .input[0], .input[1], .padded[0], .padded[1]
    )]
    KernelTooLarge {
        kernel: [usize; 2],
        stride: usize,
        input: [usize; 2],
        padded: [usize; 2],
    },
}

/// `input` cross-correlated with `kernel` (no bias, no ReLU) by the project's `conv2d` on
/// backend `B` (its default device), after zero-padding the input as `padding` says (the conv
/// itself pads nothing, so uneven `SAME` padding is exact). Errors if the kernel does not fit
/// the padded input or the stride is 0.
pub fn convolve<B: KernelBackend>(
    input: &Matrix,
    kernel: &Matrix,
    stride: usize,
    padding: Padding,
) -> Result<Matrix, ConvolveError> {
    if stride == 0 {
        return Err(ConvolveError::ZeroStride);
    }
    if input.values.is_empty() || kernel.values.is_empty() {
        return Err(ConvolveError::Empty);
    }
    let rows = zeros(padding, input.rows, kernel.rows, stride);
    let cols = zeros(padding, input.cols, kernel.cols, stride);
    let padded_len =
        |size: usize, [before, after]: [usize; 2]| size.checked_add(before)?.checked_add(after);
    let padded_values = padded_len(input.rows, rows)
        .zip(padded_len(input.cols, cols))
        .and_then(|(r, c)| r.checked_mul(c))
        .filter(|&values| values <= MAX_MATRIX_VALUES)
        .ok_or(ConvolveError::PaddedTooLarge {
            input: [input.rows, input.cols],
            rows,
            cols,
        })?;
    let macs = (padded_values / stride.saturating_mul(stride)).saturating_mul(kernel.values.len());
    if macs > MAX_CONVOLVE_MACS {
        return Err(ConvolveError::TooMuchWork {
            kernel: [kernel.rows, kernel.cols],
            input: [input.rows, input.cols],
            macs,
        });
    }
    let padded = input.padded(rows, cols);
    let spec = ConvSpec {
        stride: [stride, stride],
        padding: [0, 0],
        relu: false,
    };
    spec.output_size([padded.rows, padded.cols], [kernel.rows, kernel.cols])
        .ok_or(ConvolveError::KernelTooLarge {
            kernel: [kernel.rows, kernel.cols],
            stride,
            input: [input.rows, input.cols],
            padded: [padded.rows, padded.cols],
        })?;
    let device = Default::default();
    let output = conv2d(
        padded.to_tensor::<B>(&device),
        kernel.to_tensor(&device),
        None,
        spec,
        KernelChoice::Custom,
    );
    Ok(Matrix::from_tensor(output))
}

/// Grey levels 0-255 for a convolved picture: kernels whose weights sum to about 1 (blur,
/// sharpen, emboss) keep the brightness, so values are clamped; zero-sum kernels (edge
/// detectors) show the strength of the response, `|value|` clamped.
pub fn to_grey_levels(output: &Matrix, kernel: &Matrix) -> Vec<u8> {
    let keeps_brightness = (kernel.sum() - 1.0).abs() < 0.05;
    output
        .values
        .iter()
        .map(|&v| {
            let v = if keeps_brightness { v } else { v.abs() };
            v.clamp(0.0, 255.0).round() as u8
        })
        .collect()
}
