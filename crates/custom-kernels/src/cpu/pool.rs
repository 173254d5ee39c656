//! Max-pooling forward (with the argmax the backward pass needs) and backward.

use rayon::prelude::*;

use crate::spec::PoolSpec;

/// Sizes of a max-pool over `[n, c, h, w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    /// `n * c`: planes pooled independently.
    pub planes: usize,
    /// Input height and width.
    pub input: [usize; 2],
    /// Output height and width.
    pub output: [usize; 2],
    /// Window and stride.
    pub spec: PoolSpec,
}

impl PoolGeometry {
    /// Geometry of pooling input `[n, c, h, w]`.
    ///
    /// # Panics
    /// If the window is larger than the input or a stride is zero.
    pub fn new(input: [usize; 4], spec: PoolSpec) -> Self {
        let output = spec
            .output_size([input[2], input[3]])
            .unwrap_or_else(|| panic!("max_pool2d: window {spec:?} does not fit input {input:?}"));
        Self {
            planes: input[0] * input[1],
            input: [input[2], input[3]],
            output,
            spec,
        }
    }
}

/// Max-pools every plane; returns the output and, per output element, the flat index
/// (`y * w + x`) of the maximum inside its input plane. Ties go to the first maximum.
pub fn max_pool2d_forward(input: &[f32], g: &PoolGeometry) -> (Vec<f32>, Vec<i32>) {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.spec.kernel;
    let [sh, sw] = g.spec.stride;
    assert_eq!(input.len(), g.planes * h * w, "max_pool2d: input length");
    let mut output = vec![0.0f32; g.planes * oh * ow];
    let mut argmax = vec![0i32; g.planes * oh * ow];
    output
        .par_chunks_mut(oh * ow)
        .zip(argmax.par_chunks_mut(oh * ow))
        .zip(input.par_chunks(h * w))
        .for_each(|((out, arg), plane)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y0, x0) = (oy * sh, ox * sw);
                    let mut best = f32::NEG_INFINITY;
                    let mut best_index = y0 * w + x0;
                    for y in y0..y0 + kh {
                        for x in x0..x0 + kw {
                            let v = plane[y * w + x];
                            if v > best || v.is_nan() {
                                best = v;
                                best_index = y * w + x;
                            }
                        }
                    }
                    out[oy * ow + ox] = best;
                    arg[oy * ow + ox] = best_index as i32;
                }
            }
        });
    (output, argmax)
}

/// Routes each output gradient to the input element that was the maximum.
pub fn max_pool2d_backward(output_grad: &[f32], argmax: &[i32], g: &PoolGeometry) -> Vec<f32> {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    assert_eq!(
        output_grad.len(),
        g.planes * oh * ow,
        "max_pool2d backward: gradient length"
    );
    let mut input_grad = vec![0.0f32; g.planes * h * w];
    input_grad
        .par_chunks_mut(h * w)
        .zip(
            output_grad
                .par_chunks(oh * ow)
                .zip(argmax.par_chunks(oh * ow)),
        )
        .for_each(|(dx, (dy, arg))| {
            for (&d, &i) in dy.iter().zip(arg) {
                dx[i as usize] += d;
            }
        });
    input_grad
}
