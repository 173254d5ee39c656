//! CubeCL kernels: conv2d forward (fused bias + ReLU), its input/weight/bias gradients,
//! max-pool forward (with argmax) and backward, and average-pool forward and backward. Every
//! kernel computes one output element per thread; geometry comes from the tensor shapes and
//! the comptime window, stride and padding.

use cubecl::prelude::*;

/// `output[n, k, oy, ox] = relu?(bias[k] + sum_{c, ky, kx} input[n, c, y, x] * weight[k, c, ky, kx])`
/// with `y = oy * stride_h + ky - pad_h`, `x = ox * stride_w + kx - pad_w` (zero outside).
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_forward_kernel<F: Float>(
    input: &Tensor<F>,
    weight: &Tensor<F>,
    bias: &Tensor<F>,
    output: &mut Tensor<F>,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[comptime] pad_h: u32,
    #[comptime] pad_w: u32,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= output.len() {
        terminate!();
    }
    let out_w = output.shape(3);
    let out_h = output.shape(2);
    let filters = output.shape(1);
    let ox = pos % out_w;
    let oy = (pos / out_w) % out_h;
    let k = (pos / (out_w * out_h)) % filters;
    let n = pos / (out_w * out_h * filters);
    let channels = input.shape(1);
    let in_h = input.shape(2);
    let in_w = input.shape(3);
    let kernel_h = weight.shape(2);
    let kernel_w = weight.shape(3);

    let mut sum = bias[k];
    for c in 0..channels {
        for ky in 0..kernel_h {
            let y = (oy * stride_h as usize + ky) as i32 - pad_h as i32;
            if y >= 0 && y < in_h as i32 {
                for kx in 0..kernel_w {
                    let x = (ox * stride_w as usize + kx) as i32 - pad_w as i32;
                    if x >= 0 && x < in_w as i32 {
                        let input_index =
                            ((n * channels + c) * in_h + y as usize) * in_w + x as usize;
                        let weight_index = ((k * channels + c) * kernel_h + ky) * kernel_w + kx;
                        sum += input[input_index] * weight[weight_index];
                    }
                }
            }
        }
    }
    if relu {
        sum = F::max(sum, F::new(0.0));
    }
    output[pos] = sum;
}

/// Gradient at the pre-activation: `grad` where the (ReLU) output is positive, else 0.
/// (`relu` is a comptime branch, so the two `if`s are not collapsed.)
#[cube]
#[allow(clippy::collapsible_if)]
fn masked_grad<F: Float>(
    output: &Tensor<F>,
    grad: &Tensor<F>,
    index: usize,
    #[comptime] relu: bool,
) -> F {
    let mut value = grad[index];
    if relu {
        if output[index] <= F::new(0.0) {
            value = F::new(0.0);
        }
    }
    value
}

/// `input_grad[n, c, y, x] = sum over (k, ky, kx) hitting (y, x) of weight[k, c, ky, kx] * dy[n, k, oy, ox]`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_input_grad_kernel<F: Float>(
    weight: &Tensor<F>,
    output: &Tensor<F>,
    grad: &Tensor<F>,
    input_grad: &mut Tensor<F>,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[comptime] pad_h: u32,
    #[comptime] pad_w: u32,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= input_grad.len() {
        terminate!();
    }
    let in_w = input_grad.shape(3);
    let in_h = input_grad.shape(2);
    let channels = input_grad.shape(1);
    let x = pos % in_w;
    let y = (pos / in_w) % in_h;
    let c = (pos / (in_w * in_h)) % channels;
    let n = pos / (in_w * in_h * channels);
    let filters = grad.shape(1);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);
    let kernel_h = weight.shape(2);
    let kernel_w = weight.shape(3);

    let mut sum = F::new(0.0);
    for ky in 0..kernel_h {
        // oy * stride_h = y + pad_h - ky must be a non-negative multiple of the stride.
        let ty = (y + pad_h as usize) as i32 - ky as i32;
        if ty >= 0 && ty % stride_h as i32 == 0 && ty / (stride_h as i32) < out_h as i32 {
            let oy = ty as usize / stride_h as usize;
            for kx in 0..kernel_w {
                let tx = (x + pad_w as usize) as i32 - kx as i32;
                if tx >= 0 && tx % stride_w as i32 == 0 && tx / (stride_w as i32) < out_w as i32 {
                    let ox = tx as usize / stride_w as usize;
                    for k in 0..filters {
                        let out_index = ((n * filters + k) * out_h + oy) * out_w + ox;
                        let weight_index = ((k * channels + c) * kernel_h + ky) * kernel_w + kx;
                        sum +=
                            weight[weight_index] * masked_grad::<F>(output, grad, out_index, relu);
                    }
                }
            }
        }
    }
    input_grad[pos] = sum;
}

/// `weight_grad[k, c, ky, kx] = sum_{n, oy, ox} dy[n, k, oy, ox] * input[n, c, y, x]`.
#[cube(launch)]
#[allow(clippy::too_many_arguments)]
pub fn conv2d_weight_grad_kernel<F: Float>(
    input: &Tensor<F>,
    output: &Tensor<F>,
    grad: &Tensor<F>,
    weight_grad: &mut Tensor<F>,
    #[comptime] stride_h: u32,
    #[comptime] stride_w: u32,
    #[comptime] pad_h: u32,
    #[comptime] pad_w: u32,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= weight_grad.len() {
        terminate!();
    }
    let kernel_w = weight_grad.shape(3);
    let kernel_h = weight_grad.shape(2);
    let channels = weight_grad.shape(1);
    let kx = pos % kernel_w;
    let ky = (pos / kernel_w) % kernel_h;
    let c = (pos / (kernel_w * kernel_h)) % channels;
    let k = pos / (kernel_w * kernel_h * channels);
    let batch = input.shape(0);
    let in_h = input.shape(2);
    let in_w = input.shape(3);
    let filters = grad.shape(1);
    let out_h = grad.shape(2);
    let out_w = grad.shape(3);

    let mut sum = F::new(0.0);
    for n in 0..batch {
        for oy in 0..out_h {
            let y = (oy * stride_h as usize + ky) as i32 - pad_h as i32;
            if y >= 0 && y < in_h as i32 {
                for ox in 0..out_w {
                    let x = (ox * stride_w as usize + kx) as i32 - pad_w as i32;
                    if x >= 0 && x < in_w as i32 {
                        let out_index = ((n * filters + k) * out_h + oy) * out_w + ox;
                        let input_index =
                            ((n * channels + c) * in_h + y as usize) * in_w + x as usize;
                        sum += masked_grad::<F>(output, grad, out_index, relu) * input[input_index];
                    }
                }
            }
        }
    }
    weight_grad[pos] = sum;
}

/// `bias_grad[k] = sum_{n, oy, ox} dy[n, k, oy, ox]`.
#[cube(launch)]
pub fn conv2d_bias_grad_kernel<F: Float>(
    output: &Tensor<F>,
    grad: &Tensor<F>,
    bias_grad: &mut Tensor<F>,
    #[comptime] relu: bool,
    #[define(F)] _dtype: StorageType,
) {
    let k = ABSOLUTE_POS;
    if k >= bias_grad.len() {
        terminate!();
    }
    let batch = grad.shape(0);
    let filters = grad.shape(1);
    let positions = grad.shape(2) * grad.shape(3);
    let mut sum = F::new(0.0);
    for n in 0..batch {
        let base = (n * filters + k) * positions;
        for p in 0..positions {
            sum += masked_grad::<F>(output, grad, base + p, relu);
        }
    }
    bias_grad[k] = sum;
}

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
                sum += grad[out_index];
            }
        }
    }
    input_grad[pos] = sum;
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
