//! CubeCL kernels of the softmax cross-entropy ([`crate::loss`]): the mean loss in one launch
//! (one cube: each thread a share of the rows, then their partial sums added in thread
//! order), and the gradient `(softmax(logits) - one_hot(targets)) * loss_grad / n` in one
//! launch (one thread per row), instead of about nine tensor ops each way.

use cubecl::prelude::*;

/// Threads of the loss's one cube.
pub const LOSS_THREADS: u32 = 256;

/// `loss[0] = mean over rows of (log(sum_j exp(x_j - max)) - (x_target - max))` for
/// `logits` `[rows, classes]`.
#[cube(launch)]
pub fn cross_entropy_forward_kernel<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    loss: &mut Tensor<F>,
    #[comptime] threads: u32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let unit = UNIT_POS as usize;
    let rows = targets.len();
    let classes = logits.len() / rows;
    let mut partial = F::new(0.0);
    for k in 0..rows.div_ceil(threads as usize) {
        let row = k * threads as usize + unit;
        if row < rows {
            let base = row * classes;
            let max = row_max(logits, base, classes);
            let mut sum = F::new(0.0);
            for j in 0..classes {
                sum += F::exp(logits[base + j] - max);
            }
            let target = usize::cast_from(targets[row]);
            partial += F::ln(sum) - (logits[base + target] - max);
        }
    }
    let mut partials = SharedMemory::<F>::new(threads as usize);
    partials[unit] = partial;
    sync_cube();
    if unit == 0 {
        let mut total = F::new(0.0);
        for t in 0..threads as usize {
            total += partials[t];
        }
        loss[0] = total / F::cast_from(rows);
    }
}

/// `grad[row, j] = (softmax(logits[row])_j - [j == target]) * (loss_grad[0] / rows)`, one
/// thread per row.
#[cube(launch)]
pub fn cross_entropy_backward_kernel<F: Float, I: Int>(
    logits: &Tensor<F>,
    targets: &Tensor<I>,
    loss_grad: &Tensor<F>,
    grad: &mut Tensor<F>,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let row = ABSOLUTE_POS;
    let rows = targets.len();
    if row >= rows {
        terminate!();
    }
    let classes = logits.len() / rows;
    let base = row * classes;
    let max = row_max(logits, base, classes);
    let mut sum = F::new(0.0);
    for j in 0..classes {
        sum += F::exp(logits[base + j] - max);
    }
    let scale = loss_grad[0] / F::cast_from(rows);
    let target = usize::cast_from(targets[row]);
    for j in 0..classes {
        let mut delta = F::exp(logits[base + j] - max) / sum;
        if j == target {
            delta -= F::new(1.0);
        }
        grad[base + j] = delta * scale;
    }
}

/// The largest of `logits[base .. base + classes]`.
#[cube]
fn row_max<F: Float>(logits: &Tensor<F>, base: usize, classes: usize) -> F {
    let mut max = logits[base];
    for j in 1..classes {
        let value = logits[base + j];
        if value > max {
            max = value;
        }
    }
    max
}
