//! Pooling a small matrix through the project's pooling kernels, the way a lecture works
//! examples by hand: `infer pool --kind max|avg|global --size N --stride S MATRIX.txt`.

use clap::ValueEnum;
use custom_kernels::{
    KernelBackend, KernelChoice, PoolSpec, avg_pool2d, global_avg_pool2d, max_pool2d,
};

use crate::matrix::Matrix;

/// Which pooling `infer pool` applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PoolChoice {
    /// The maximum of each window.
    Max,
    /// The mean of each window.
    Avg,
    /// The mean of the whole matrix (global average pooling: one value).
    Global,
}

/// `input` pooled by `kind` with a `size x size` window moving by `stride` (both ignored by
/// global pooling), no padding, through the project's kernels on backend `B` (its default
/// device). Errors if the size or the stride is 0 or the window does not fit the matrix.
pub fn pool<B: KernelBackend>(
    input: &Matrix,
    kind: PoolChoice,
    size: usize,
    stride: usize,
) -> Result<Matrix, String> {
    if input.values.is_empty() {
        return Err("the matrix must hold at least one value".into());
    }
    let spec = match kind {
        PoolChoice::Global => PoolSpec::global([input.rows, input.cols]),
        PoolChoice::Max | PoolChoice::Avg => {
            if size == 0 || stride == 0 {
                return Err(format!(
                    "the window size and the stride must be at least 1 (got size {size}, stride {stride})"
                ));
            }
            PoolSpec::square(size, stride)
        }
    };
    spec.output_size([input.rows, input.cols]).ok_or_else(|| {
        format!(
            "a {}x{} window does not fit a {}x{} matrix",
            spec.kernel[0], spec.kernel[1], input.rows, input.cols
        )
    })?;
    let x = input.to_tensor::<B>(&Default::default());
    let pooled = match kind {
        PoolChoice::Max => max_pool2d(x, spec, KernelChoice::Custom),
        PoolChoice::Avg => avg_pool2d(x, spec, KernelChoice::Custom),
        PoolChoice::Global => global_avg_pool2d(x, KernelChoice::Custom),
    };
    Ok(Matrix::from_tensor(pooled))
}
