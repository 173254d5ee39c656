//! CubeCL pooling kernels: max-pool forward (with argmax) and backward, average-pool forward
//! and backward. Each computes one output element per thread (a pool reads each input a
//! handful of times and does no arithmetic to speak of: it is bound by memory, not worth
//! tiling); geometry comes from the tensor shapes and the comptime window and stride.

use cubecl::prelude::*;

/// Max over each window; `argmax` gets the flat in-plane index `y * w + x` of the maximum.
#[cube(launch)]
pub fn max_pool2d_forward_kernel<F: Float, I: Int>(
    input: &Tensor<F>,
    output: &mut Tensor<F>,
    argmax: &mut Tensor<I>,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= output.len() {
        terminate!();
    }
    let out_w = output.shape(3);
    let out_h = output.shape(2);
    let ox = pos % out_w;
    let oy = (pos / out_w) % out_h;
    let plane = pos / (out_w * out_h);
    let in_h = input.shape(2);
    let in_w = input.shape(3);
    let base = plane * in_h * in_w;
    let y0 = oy * stride_h as usize;
    let x0 = ox * stride_w as usize;
    let mut best = input[base + y0 * in_w + x0];
    let mut best_index = y0 * in_w + x0;
    for dy in 0..kernel_h as usize {
        for dx in 0..kernel_w as usize {
            let index = (y0 + dy) * in_w + x0 + dx;
            let value = input[base + index];
            // A NaN wins, so NaNs propagate as on the CPU (see `cpu::pool`).
            if value > best || bool::cast_from(F::is_nan(value)) {
                best = value;
                best_index = index;
            }
        }
    }
    output[pos] = best;
    argmax[pos] = I::cast_from(best_index as u32);
}

/// `input_grad[plane, y, x] = sum of dy over the windows whose maximum was (y, x)`.
#[cube(launch)]
pub fn max_pool2d_backward_kernel<F: Float, I: Int>(
    grad: &Tensor<F>,
    argmax: &Tensor<I>,
    input_grad: &mut Tensor<F>,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= input_grad.len() {
        terminate!();
    }
    // Without the ReLU's mask `pooled` is not read: `grad` stands in for it.
    input_grad[pos] = routed_grad(
        grad, grad, argmax, input_grad, pos, kernel_h, kernel_w, stride_h, stride_w, false,
    );
}

/// The same, for a max-pool after a ReLU, with the ReLU's backward applied on the way: a
/// window's gradient passes only where its maximum (`pooled`) is positive (the default
/// composition multiplies by `sign(pooled)` first, a launch more).
#[cube(launch)]
pub fn max_pool2d_relu_backward_kernel<F: Float, I: Int>(
    grad: &Tensor<F>,
    pooled: &Tensor<F>,
    argmax: &Tensor<I>,
    input_grad: &mut Tensor<F>,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let pos = ABSOLUTE_POS;
    if pos >= input_grad.len() {
        terminate!();
    }
    input_grad[pos] = routed_grad(
        grad, pooled, argmax, input_grad, pos, kernel_h, kernel_w, stride_h, stride_w, true,
    );
}

/// The sum of `grad` over the windows whose maximum was input position `pos` (of
/// `input_grad`'s shape), each counted only where its `pooled` value is positive when
/// `relu_mask` is set.
#[cube]
#[allow(clippy::too_many_arguments)]
fn routed_grad<F: Float, I: Int>(
    grad: &Tensor<F>,
    pooled: &Tensor<F>,
    argmax: &Tensor<I>,
    input_grad: &Tensor<F>,
    pos: usize,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[comptime] relu_mask: bool,
) -> F {
    let in_w = input_grad.shape(3);
    let in_h = input_grad.shape(2);
    let x = pos % in_w;
    let y = (pos / in_w) % in_h;
    let plane = pos / (in_w * in_h);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);
    let here = (y * in_w + x) as u32;
    let mut sum = F::new(0.0);
    let oy_end = end_window(y, stride_h, out_h);
    let ox_end = end_window(x, stride_w, out_w);
    for oy in first_window(y, kernel_h, stride_h)..oy_end {
        for ox in first_window(x, kernel_w, stride_w)..ox_end {
            let out_index = (plane * out_h + oy) * out_w + ox;
            if u32::cast_from(argmax[out_index]) == here {
                if relu_mask {
                    if pooled[out_index] > F::new(0.0) {
                        sum += grad[out_index];
                    }
                } else {
                    sum += grad[out_index];
                }
            }
        }
    }
    sum
}

/// Along one axis, the first output position whose window (`o * stride .. o * stride +
/// kernel`) contains input position `i`.
#[cube]
fn first_window(i: usize, #[comptime] kernel: u32, #[comptime] stride: u32) -> usize {
    let mut first = 0;
    if i + 1 > kernel as usize {
        first = (i + 1 - kernel as usize).div_ceil(stride as usize);
    }
    first
}

/// Along one axis, one past the last output position (of `outputs`) whose window contains
/// input position `i`.
#[cube]
fn end_window(i: usize, #[comptime] stride: u32, outputs: usize) -> usize {
    let mut end = i / stride as usize + 1;
    if end > outputs {
        end = outputs;
    }
    end
}

/// Mean of each window: the sum in row-major order times `1 / (kernel_h * kernel_w)`, as on
/// the CPU.
#[cube(launch)]
pub fn avg_pool2d_forward_kernel<F: Float>(
    input: &Tensor<F>,
    output: &mut Tensor<F>,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= output.len() {
        terminate!();
    }
    let out_w = output.shape(3);
    let out_h = output.shape(2);
    let ox = pos % out_w;
    let oy = (pos / out_w) % out_h;
    let plane = pos / (out_w * out_h);
    let in_h = input.shape(2);
    let in_w = input.shape(3);
    let base = plane * in_h * in_w;
    let y0 = oy * stride_h as usize;
    let x0 = ox * stride_w as usize;
    let mut sum = F::new(0.0);
    for dy in 0..kernel_h as usize {
        for dx in 0..kernel_w as usize {
            sum += input[base + (y0 + dy) * in_w + x0 + dx];
        }
    }
    let scale = comptime!(1.0f32 / (kernel_h * kernel_w) as f32);
    output[pos] = sum * F::new(scale);
}

/// `input_grad[plane, y, x] = sum of dy over the windows containing (y, x), times
/// 1 / (kernel_h * kernel_w)`.
#[cube(launch)]
pub fn avg_pool2d_backward_kernel<F: Float>(
    grad: &Tensor<F>,
    input_grad: &mut Tensor<F>,
    #[comptime] kernel_h: u32,
    #[comptime] kernel_w: u32,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= input_grad.len() {
        terminate!();
    }
    let in_w = input_grad.shape(3);
    let in_h = input_grad.shape(2);
    let x = pos % in_w;
    let y = (pos / in_w) % in_h;
    let plane = pos / (in_w * in_h);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);
    let mut sum = F::new(0.0);
    let oy_end = end_window(y, stride_h, out_h);
    let ox_end = end_window(x, stride_w, out_w);
    for oy in first_window(y, kernel_h, stride_h)..oy_end {
        for ox in first_window(x, kernel_w, stride_w)..ox_end {
            sum += grad[(plane * out_h + oy) * out_w + ox];
        }
    }
    let scale = comptime!(1.0f32 / (kernel_h * kernel_w) as f32);
    input_grad[pos] = sum * F::new(scale);
}
