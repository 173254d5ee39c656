//! CubeCL kernels around the fully connected layer's GEMMs (which stay Burn's matmul, a tuned
//! GPU GEMM): the bias and ReLU applied to the product in place, one launch instead of three
//! (add, compare, fill); and, backward, the ReLU's mask and the bias gradient in one pass,
//! one launch instead of three (compare, fill, sum).

use cubecl::prelude::*;

/// `output[row, col] = relu?(output[row, col] + bias[col])`, in place, one thread per element
/// of the contiguous `[rows, cols]` product. The ReLU sends `x <= 0` to zero and keeps NaN,
/// as Burn's `relu`.
#[cube(launch)]
pub fn bias_relu_kernel<F: Float>(
    output: &mut Tensor<F>,
    bias: &Tensor<F>,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= output.len() {
        terminate!();
    }
    let value = output[pos] + bias[pos % bias.len()];
    if relu && value <= F::new(0.0) {
        output[pos] = F::new(0.0);
    } else {
        output[pos] = value;
    }
}

/// The bias gradient, `bias_grad[col] = sum over rows of grad[row, col]`, one thread per
/// column, the rows summed in order.
#[cube(launch)]
pub fn bias_grad_kernel<F: Float>(
    grad: &Tensor<F>,
    bias_grad: &mut Tensor<F>,
    #[define(F)] _dtype: StorageType,
) {
    let col = ABSOLUTE_POS;
    let cols = bias_grad.len();
    if col >= cols {
        terminate!();
    }
    let rows = grad.len() / cols;
    let mut sum = F::new(0.0);
    for row in 0..rows {
        sum += grad[row * cols + col];
    }
    bias_grad[col] = sum;
}

/// The ReLU's backward and the bias gradient in one pass: `masked = grad` where the layer's
/// output is positive, else 0 (Burn's `relu_backward`), and `bias_grad[col]` the sum of
/// `masked` over the rows, one thread per column.
#[cube(launch)]
pub fn relu_bias_grad_kernel<F: Float>(
    grad: &Tensor<F>,
    output: &Tensor<F>,
    masked: &mut Tensor<F>,
    bias_grad: &mut Tensor<F>,
    #[define(F)] _dtype: StorageType,
) {
    let col = ABSOLUTE_POS;
    let cols = bias_grad.len();
    if col >= cols {
        terminate!();
    }
    let rows = grad.len() / cols;
    let mut sum = F::new(0.0);
    for row in 0..rows {
        let index = row * cols + col;
        let mut value = grad[index];
        if output[index] <= F::new(0.0) {
            value = F::new(0.0);
        }
        masked[index] = value;
        sum += value;
    }
    bias_grad[col] = sum;
}
