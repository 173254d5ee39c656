//! Pooling a small matrix through the project's pooling kernels, the way a lecture works
//! examples by hand: `infer pool --kind max|avg|global --size N --stride S MATRIX.txt`.

use clap::ValueEnum;
use clap::builder::PossibleValue;
use custom_kernels::{KernelBackend, KernelChoice, PoolKind, PoolSpec, global_avg_pool2d, pool2d};

use crate::matrix::Matrix;

/// Which pooling `infer pool` applies: windows pooled as a conv block pools them (a
/// [`PoolKind`], with its names), or the mean of the whole matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Every window pooled by this kind.
    Window(PoolKind),
    /// The mean of the whole matrix (global average pooling: one value).
    Global,
}

impl ValueEnum for Pooling {
    fn value_variants<'a>() -> &'a [Self] {
        &[
            Pooling::Window(PoolKind::Max),
            Pooling::Window(PoolKind::Avg),
            Pooling::Global,
        ]
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Pooling::Window(kind) => kind.to_possible_value(),
            Pooling::Global => Some(
                PossibleValue::new("global")
                    .help("The mean of the whole matrix (global average pooling: one value)"),
            ),
        }
    }
}

/// Why a matrix cannot be pooled as asked.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("the matrix must hold at least one value")]
    Empty,
    #[error("the window size and the stride must be at least 1 (got size {size}, stride {stride})")]
    ZeroWindow { size: usize, stride: usize },
    #[error("a {}x{} window does not fit a {}x{} matrix", .window[0], .window[1], .matrix[0], .matrix[1])]
    WindowTooLarge {
        window: [usize; 2],
        matrix: [usize; 2],
    },
}

/// `input` pooled as `pooling` says, with a `size x size` window moving by `stride` (both
/// ignored by global pooling), no padding, through the project's kernels on backend `B` (its
/// default device).
pub fn pool<B: KernelBackend>(
    input: &Matrix,
    pooling: Pooling,
    size: usize,
    stride: usize,
) -> Result<Matrix, PoolError> {
    if input.values.is_empty() {
        return Err(PoolError::Empty);
    }
    let matrix = [input.rows, input.cols];
    let spec = match pooling {
        Pooling::Global => PoolSpec::global(matrix),
        Pooling::Window(_) if size == 0 || stride == 0 => {
            return Err(PoolError::ZeroWindow { size, stride });
        }
        Pooling::Window(_) => PoolSpec::square(size, stride),
    };
    spec.output_size(matrix).ok_or(PoolError::WindowTooLarge {
        window: spec.kernel,
        matrix,
    })?;
    let x = input.to_tensor::<B>(&Default::default());
    let pooled = match pooling {
        Pooling::Window(kind) => pool2d(x, kind, spec, KernelChoice::Custom),
        Pooling::Global => global_avg_pool2d(x, KernelChoice::Custom),
    };
    Ok(Matrix::from_tensor(pooled))
}
