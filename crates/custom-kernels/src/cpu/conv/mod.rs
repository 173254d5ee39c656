//! Convolution forward (fused bias + ReLU) and backward (input, weight and bias gradients),
//! over the images of a batch on rayon's threads, on the path [`ConvPath`] chooses: the
//! direct kernels ([`super::direct`]) or im2col + GEMM ([`im2col`]).

mod im2col;
mod path;
#[cfg(test)]
mod tests;

use std::cell::RefCell;

use rayon::prelude::*;

use self::im2col::{COL, DCOL, col2im, im2col};
pub use self::path::{CONV_PATH_ENV, ConvPath, Lanes};
use super::direct;
use super::geometry::ConvGeometry;
use super::matmul::Operand::{Plain, Transposed};
use super::matmul::Write::{Add, Overwrite};
use super::matmul::{Threads, matmul};
use super::scratch::with_buffer;

thread_local! {
    /// Per-thread buffer for a chunk's gradients w.r.t. the conv output before the ReLU.
    static DY: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Convolution of `input` (`[n, c, h, w]`) with `weight` (`[k, c, kh, kw]`) plus `bias` (`[k]`),
/// then ReLU if the spec says so. Returns `[n, k, oh, ow]`, contiguous.
pub fn conv2d_forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    conv2d_forward_on(g.path(), input, weight, bias, g)
}

/// [`conv2d_forward`] on a given path (which must be available for `g`).
fn conv2d_forward_on(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
) -> Vec<f32> {
    g.check_operands(input, weight);
    let weights = ForwardWeights::new(path, weight, g);
    let mut output = vec![0.0f32; g.batch * g.output_len()];
    output
        .par_chunks_mut(g.output_len())
        .zip(input.par_chunks(g.input_len()))
        .for_each(|(out, image)| image_forward(image, &weights, bias, g, out));
    output
}

/// Multiply-adds of one image's convolution below which it is not shared out among threads
/// when the batch is smaller than the thread count: handing work to another thread costs
/// some microseconds, more than LeNet-5's layers (0.1-0.3 M multiply-adds) take, while the
/// ConvNet's conv2 (10 M) gains from sharing (docs/kernels.md, tuning constants).
const SPREAD_MIN_MACS: usize = 2_000_000;

/// The forward weights as the chosen path reads them (packed once per call for the direct
/// kernels, else as given), and whether each image's work is spread over the threads.
pub(super) struct ForwardWeights<'a> {
    path: ConvPath,
    weight: &'a [f32],
    packed: Vec<f32>,
    /// Fewer images than threads, each large enough to share: one image per thread would
    /// leave threads idle (batch-1 inference), so each image's filters (direct kernels) or
    /// GEMM is shared out instead.
    spread: bool,
}

impl<'a> ForwardWeights<'a> {
    pub(super) fn new(path: ConvPath, weight: &'a [f32], g: &ConvGeometry) -> Self {
        let packed = match path {
            ConvPath::Direct(..) => direct::pack_forward(weight, g),
            ConvPath::Gemm => Vec::new(),
        };
        Self {
            path,
            weight,
            packed,
            spread: g.batch < rayon::current_num_threads()
                && g.output_len() * g.patch_len() >= SPREAD_MIN_MACS,
        }
    }
}

/// One image's convolution into `out` (`filters x positions`): bias, product, then ReLU if
/// the spec says so.
pub(super) fn image_forward(
    image: &[f32],
    weights: &ForwardWeights<'_>,
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    out: &mut [f32],
) {
    if let Some(kernels) = weights.path.direct_kernels() {
        return direct::forward_image(
            kernels,
            image,
            &weights.packed,
            bias,
            g,
            weights.spread,
            out,
        );
    }
    let weight = weights.weight;
    let (p, kk) = (g.positions(), g.patch_len());
    if let Some(bias) = bias {
        for (row, &b) in out.chunks_exact_mut(p).zip(bias) {
            row.fill(b);
        }
    }
    let product = [g.filters, p, kk];
    // The bias is already in `out`.
    let write = if bias.is_some() { Add } else { Overwrite };
    let threads = if weights.spread {
        Threads::All
    } else {
        Threads::One
    };
    if g.col_is_input() {
        matmul(out, Plain(weight), Plain(image), product, write, threads);
    } else {
        with_buffer(&COL, kk * p, |col| {
            im2col(image, g, col);
            matmul(out, Plain(weight), Plain(col), product, write, threads);
        });
    }
    if g.spec.relu {
        for v in out.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

/// Images per parallel task in the backward pass. Fixed (not derived from the thread count),
/// so the weight and bias gradients are summed in the same order on every run: training is
/// reproducible for a given seed.
const BACKWARD_CHUNK: usize = 8;

/// Gradients of [`conv2d_forward`]: given the input, the weights, the forward `output` (used
/// for the ReLU mask when the spec has ReLU) and the gradient of the loss w.r.t. the output,
/// returns the gradients w.r.t. the input (only if `want_input_grad`), the weights and the
/// bias.
pub fn conv2d_backward(
    input: &[f32],
    weight: &[f32],
    output: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    conv2d_backward_on(
        g.path(),
        input,
        weight,
        output,
        output_grad,
        g,
        want_input_grad,
    )
}

/// [`conv2d_backward`] on a given path (which must be available for `g`).
fn conv2d_backward_on(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    output: &[f32],
    output_grad: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let out_len = g.output_len();
    assert_eq!(
        output_grad.len(),
        g.batch * out_len,
        "conv2d backward: gradient length"
    );
    assert_eq!(
        output.len(),
        g.batch * out_len,
        "conv2d backward: output length"
    );
    backward_over_images(path, input, weight, g, want_input_grad, |i, dy| {
        let range = i * out_len..(i + 1) * out_len;
        let (grad, out) = (&output_grad[range.clone()], &output[range]);
        if g.spec.relu {
            // The ReLU passes the gradient where the output is positive.
            for ((d, &gr), &o) in dy.iter_mut().zip(grad).zip(out) {
                *d = if o > 0.0 { gr } else { 0.0 };
            }
        } else {
            dy.copy_from_slice(grad);
        }
    })
}

/// The backward pass over the batch, in fixed chunks of images on rayon's pool.
/// `pre_activation_grad(i, dy)` overwrites `dy` with image `i`'s gradient w.r.t. the conv
/// output before the ReLU (`filters x positions`); from it come the input gradient (if
/// wanted) and the weight and bias gradients, summed over the batch.
pub(super) fn backward_over_images(
    path: ConvPath,
    input: &[f32],
    weight: &[f32],
    g: &ConvGeometry,
    want_input_grad: bool,
    pre_activation_grad: impl Fn(usize, &mut [f32]) + Sync,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    g.check_operands(input, weight);
    let (in_len, out_len, p) = (g.input_len(), g.output_len(), g.positions());
    let input_grad_weights = match path {
        ConvPath::Direct(..) if want_input_grad => direct::pack_input_grad(weight, g),
        _ => Vec::new(),
    };
    // One chunk of images starting at `first`: its input gradients into `dx` (if wanted), its
    // partial weight and bias gradients returned.
    let chunk_grads = |first: usize, x: &[f32], dx: Option<&mut [f32]>| {
        let mut dw = vec![0.0f32; g.filters * g.patch_len()];
        let mut db = vec![0.0f32; g.filters];
        let images = x.len() / in_len;
        with_buffer(&DY, images * out_len, |dys| {
            for (i, dy) in dys.chunks_exact_mut(out_len).enumerate() {
                pre_activation_grad(first + i, dy);
                for (sum, row) in db.iter_mut().zip(dy.chunks_exact(p)) {
                    *sum += lane_sum(row);
                }
            }
            if let Some(kernels) = path.direct_kernels() {
                direct::add_weight_grad(kernels, x, dys, g, &mut dw);
                if let Some(dx) = dx {
                    let dx = dx.chunks_exact_mut(in_len);
                    for (dy, dx) in dys.chunks_exact(out_len).zip(dx) {
                        direct::input_grad_image(kernels, dy, &input_grad_weights, g, dx);
                    }
                }
            } else {
                let mut dx = dx.map(|dx| dx.chunks_exact_mut(in_len));
                for (image, dy) in x.chunks_exact(in_len).zip(dys.chunks_exact(out_len)) {
                    let dx = dx.as_mut().and_then(|dx| dx.next());
                    image_backward(image, weight, dy, g, dx, &mut dw);
                }
            }
        });
        (dw, db)
    };
    let chunks = input.par_chunks(BACKWARD_CHUNK * in_len).enumerate();
    let mut input_grad = vec![0.0f32; if want_input_grad { g.batch * in_len } else { 0 }];
    let partials: Vec<(Vec<f32>, Vec<f32>)> = if want_input_grad {
        input_grad
            .par_chunks_mut(BACKWARD_CHUNK * in_len)
            .zip(chunks)
            .map(|(dx, (c, x))| chunk_grads(c * BACKWARD_CHUNK, x, Some(dx)))
            .collect()
    } else {
        chunks
            .map(|(c, x)| chunk_grads(c * BACKWARD_CHUNK, x, None))
            .collect()
    };
    let mut weight_grad = vec![0.0f32; g.filters * g.patch_len()];
    let mut bias_grad = vec![0.0f32; g.filters];
    for (dw, db) in partials {
        weight_grad.iter_mut().zip(&dw).for_each(|(a, b)| *a += b);
        bias_grad.iter_mut().zip(&db).for_each(|(a, b)| *a += b);
    }
    (
        want_input_grad.then_some(input_grad),
        weight_grad,
        bias_grad,
    )
}

/// Sum of `values` in a fixed order that vectorises: 16 running sums (one per lane of an
/// AVX-512 register) over the full chunks, then the lanes and the tail in order. A plain
/// `iter().sum()` is one sequential chain of dependent additions, four cycles each.
fn lane_sum(values: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut lanes = [0.0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().chain(tail).fold(0.0, |sum, &v| sum + v)
}

/// One image's share of the im2col + GEMM backward pass from `dy`, its gradient w.r.t. the
/// conv output before the ReLU: writes its input gradient into `dx` (if given) and adds its
/// weight gradient to `dw`.
fn image_backward(
    image: &[f32],
    weight: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    dx: Option<&mut [f32]>,
    dw: &mut [f32],
) {
    let (p, kk, k) = (g.positions(), g.patch_len(), g.filters);
    if g.col_is_input() {
        matmul(
            dw,
            Plain(dy),
            Transposed(image),
            [k, kk, p],
            Add,
            Threads::One,
        );
        if let Some(dx) = dx {
            matmul(
                dx,
                Transposed(weight),
                Plain(dy),
                [kk, p, k],
                Overwrite,
                Threads::One,
            );
        }
    } else {
        with_buffer(&COL, kk * p, |col| {
            im2col(image, g, col);
            matmul(
                dw,
                Plain(dy),
                Transposed(col),
                [k, kk, p],
                Add,
                Threads::One,
            );
        });
        if let Some(dx) = dx {
            with_buffer(&DCOL, kk * p, |dcol| {
                let product = [kk, p, k];
                let weight = Transposed(weight);
                matmul(dcol, weight, Plain(dy), product, Overwrite, Threads::One);
                col2im(dcol, g, dx);
            });
        }
    }
}
