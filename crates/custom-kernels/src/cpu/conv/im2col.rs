//! im2col and col2im: the patches of one image as the columns of a matrix (so a convolution
//! is one GEMM with the weights), and the scatter of that matrix's gradient back onto the
//! image. The path every convolution can take, whatever its stride and CPU.

use std::cell::RefCell;

use super::super::geometry::ConvGeometry;

thread_local! {
    /// Per-thread im2col buffer, reused across calls (no allocation in the steady state).
    pub(super) static COL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// Per-thread buffer for the gradient of the im2col matrix.
    pub(super) static DCOL: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The output columns `ox` whose input column `x0 + ox * stride` lies inside `0..width`, as a
/// range `lo..hi` (empty when none does). Outside it the input is zero padding.
fn inside_columns(x0: isize, stride: usize, outputs: usize, width: usize) -> (usize, usize) {
    let stride = stride as isize;
    let lo = if x0 < 0 {
        (-x0 + stride - 1) / stride
    } else {
        0
    };
    let last = width as isize - 1 - x0;
    let hi = if last < 0 { 0 } else { last / stride + 1 };
    let hi = (hi as usize).min(outputs);
    let lo = (lo as usize).min(hi);
    (lo, hi)
}

/// Fills `col` (`patch_len x positions`, row-major) with the patches of one image.
pub(super) fn im2col(image: &[f32], g: &ConvGeometry, col: &mut [f32]) {
    let [h, w] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    let [sh, sw] = g.spec.stride;
    let [ph, pw] = g.spec.padding;
    let mut rows = col.chunks_exact_mut(oh * ow);
    for plane in image.chunks_exact(h * w).take(g.channels) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("im2col row");
                let x0 = kx as isize - pw as isize;
                let (lo, hi) = inside_columns(x0, sw, ow, w);
                for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
                    let y = (oy * sh + ky) as isize - ph as isize;
                    if y < 0 || y >= h as isize {
                        out.fill(0.0);
                        continue;
                    }
                    let line = &plane[y as usize * w..(y as usize + 1) * w];
                    out[..lo].fill(0.0);
                    out[hi..].fill(0.0);
                    let first = (x0 + (lo * sw) as isize) as usize;
                    if sw == 1 {
                        out[lo..hi].copy_from_slice(&line[first..first + hi - lo]);
                    } else {
                        for (value, &x) in
                            out[lo..hi].iter_mut().zip(line[first..].iter().step_by(sw))
                        {
                            *value = x;
                        }
                    }
                }
            }
        }
    }
}

/// Adds the columns of `dcol` back onto the image gradient (the adjoint of [`im2col`]).
pub(super) fn col2im(dcol: &[f32], g: &ConvGeometry, image_grad: &mut [f32]) {
    let [h, w] = g.input;
    let [kh, kw] = g.kernel;
    let [oh, ow] = g.output;
    let [sh, sw] = g.spec.stride;
    let [ph, pw] = g.spec.padding;
    let mut rows = dcol.chunks_exact(oh * ow);
    for plane in image_grad.chunks_exact_mut(h * w).take(g.channels) {
        for ky in 0..kh {
            for kx in 0..kw {
                let row = rows.next().expect("col2im row");
                let x0 = kx as isize - pw as isize;
                let (lo, hi) = inside_columns(x0, sw, ow, w);
                for (oy, src) in row.chunks_exact(ow).enumerate() {
                    let y = (oy * sh + ky) as isize - ph as isize;
                    if y < 0 || y >= h as isize {
                        continue;
                    }
                    let line = &mut plane[y as usize * w..(y as usize + 1) * w];
                    let first = (x0 + (lo * sw) as isize) as usize;
                    let src = &src[lo..hi];
                    if sw == 1 {
                        for (dst, s) in line[first..first + src.len()].iter_mut().zip(src) {
                            *dst += s;
                        }
                    } else {
                        for (dst, s) in line[first..].iter_mut().step_by(sw).zip(src) {
                            *dst += s;
                        }
                    }
                }
            }
        }
    }
}
