//! Convolution (+ bias + ReLU) fused with the max-pool after it. Forward: each image's conv
//! output is pooled while it is still in the thread's cache, and only the pooled maps and the
//! argmax are kept. Backward: the pooled gradient is routed to the maxima (and through the
//! ReLU, which passed exactly where the pooled value is positive) straight into the conv's
//! per-image backward. The full-size conv output and its gradient never exist as tensors.

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::{ForwardWeights, backward_over_images, image_forward};
use super::geometry::ConvGeometry;
use super::pool::{PoolGeometry, pool_plane};

thread_local! {
    /// Per-thread buffer for one image's conv output, reused across calls.
    static CONV_OUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The pool over the conv's output `[n, k, oh, ow]`.
pub fn pool_geometry(conv: &ConvGeometry, pool: crate::spec::PoolSpec) -> PoolGeometry {
    PoolGeometry::new(
        [conv.batch, conv.filters, conv.output[0], conv.output[1]],
        pool,
    )
}

/// `max_pool(relu?(conv2d(input, weight) + bias))`: returns the pooled maps
/// `[n, k, ph, pw]` and the flat in-plane index of each maximum in the conv output.
pub fn conv2d_pool_forward(
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    pool: &PoolGeometry,
) -> (Vec<f32>, Vec<i32>) {
    g.check_operands(input, weight);
    let pooled_len = g.filters * pool.output[0] * pool.output[1];
    let mut pooled = vec![0.0f32; g.batch * pooled_len];
    let mut argmax = vec![0i32; g.batch * pooled_len];
    let weights = ForwardWeights::new(g.path(), weight, g);
    pooled
        .par_chunks_mut(pooled_len)
        .zip(argmax.par_chunks_mut(pooled_len))
        .zip(input.par_chunks(g.input_len()))
        .for_each(|((pooled, argmax), image)| {
            CONV_OUT.with(|cell| {
                let mut conv = cell.borrow_mut();
                conv.resize(g.output_len(), 0.0);
                image_forward(image, &weights, bias, g, &mut conv);
                let planes = conv.chunks_exact(g.positions());
                let outputs = pooled.chunks_exact_mut(pooled_len / g.filters);
                let indices = argmax.chunks_exact_mut(pooled_len / g.filters);
                for ((plane, out), arg) in planes.zip(outputs).zip(indices) {
                    pool_plane(plane, pool, out, arg);
                }
            })
        });
    (pooled, argmax)
}

/// Gradients of [`conv2d_pool_forward`] from the input, the weights, the forward's pooled
/// output and argmax, and the gradient w.r.t. the pooled output: the input gradient (only if
/// `want_input_grad`), the weight and the bias gradients.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_pool_backward(
    input: &[f32],
    weight: &[f32],
    pooled: &[f32],
    argmax: &[i32],
    pooled_grad: &[f32],
    g: &ConvGeometry,
    pool: &PoolGeometry,
    want_input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let pooled_len = g.filters * pool.output[0] * pool.output[1];
    let total = g.batch * pooled_len;
    assert!(
        pooled.len() == total && argmax.len() == total && pooled_grad.len() == total,
        "conv2d+pool backward: pooled output, argmax and gradient must have {total} values"
    );
    let (plane_len, pooled_plane) = (g.positions(), pooled_len / g.filters);
    backward_over_images(g.path(), input, weight, g, want_input_grad, |i, dy| {
        dy.fill(0.0);
        let range = i * pooled_len..(i + 1) * pooled_len;
        let planes = dy.chunks_exact_mut(plane_len);
        let grads = pooled_grad[range.clone()].chunks_exact(pooled_plane);
        let values = pooled[range.clone()].chunks_exact(pooled_plane);
        let indices = argmax[range].chunks_exact(pooled_plane);
        for (((plane, grads), values), indices) in planes.zip(grads).zip(values).zip(indices) {
            for ((&d, &v), &at) in grads.iter().zip(values).zip(indices) {
                // With ReLU, the maximum passed the ReLU only if it is positive.
                if !g.spec.relu || v > 0.0 {
                    plane[at as usize] += d;
                }
            }
        }
    })
}
