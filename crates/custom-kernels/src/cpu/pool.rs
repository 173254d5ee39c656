//! Pooling: max-pooling forward (with the argmax the backward pass needs) and backward, and
//! average pooling forward and backward (global average pooling is its window covering the
//! whole plane, `PoolSpec::global`).

use rayon::prelude::*;

use crate::spec::PoolSpec;

/// Sizes of a pooling over `[n, c, h, w]`.
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
            .unwrap_or_else(|| panic!("pool2d: window {spec:?} does not fit input {input:?}"));
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
    assert_eq!(input.len(), g.planes * h * w, "max_pool2d: input length");
    let mut output = vec![0.0f32; g.planes * oh * ow];
    let mut argmax = vec![0i32; g.planes * oh * ow];
    output
        .par_chunks_mut(oh * ow)
        .zip(argmax.par_chunks_mut(oh * ow))
        .zip(input.par_chunks(h * w))
        .for_each(|((out, arg), plane)| pool_plane(plane, g, out, arg));
    (output, argmax)
}

/// Max-pools one `h x w` plane into `out` and records each maximum's flat in-plane index in
/// `arg`.
pub(super) fn pool_plane(plane: &[f32], g: &PoolGeometry, out: &mut [f32], arg: &mut [i32]) {
    let [_, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.spec.kernel;
    let [sh, sw] = g.spec.stride;
    if g.spec == PoolSpec::TWO_BY_TWO {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked here).
            return unsafe { pool_two_by_two_avx512(plane, w, out, arg) };
        }
        pool_two_by_two(plane, w, out, arg);
        return;
    }
    for oy in 0..oh {
        for ox in 0..ow {
            let (y0, x0) = (oy * sh, ox * sw);
            let mut best = (f32::NEG_INFINITY, y0 * w + x0);
            for y in y0..y0 + kh {
                for x in x0..x0 + kw {
                    best = better(best, (plane[y * w + x], y * w + x));
                }
            }
            out[oy * ow + ox] = best.0;
            arg[oy * ow + ox] = best.1 as i32;
        }
    }
}

/// The running maximum after seeing `candidate` (value, index): a larger value wins, ties keep
/// the first maximum, and a NaN wins (so NaNs propagate, as in PyTorch's max-pool; Burn 0.21's
/// ndarray max-pool skips them). The CubeCL kernel does the same.
/// Branch-free (`|` and selects rather than `||` and jumps): on real activations the winner
/// is unpredictable and mispredicted branches would cost more than the pooling itself.
#[inline(always)]
fn better(best: (f32, usize), candidate: (f32, usize)) -> (f32, usize) {
    let take = (candidate.0 > best.0) | candidate.0.is_nan();
    (
        if take { candidate.0 } else { best.0 },
        if take { candidate.1 } else { best.1 },
    )
}

/// The 2x2 stride-2 case every network here uses, with the window unrolled; same results as
/// the general loop. Written with `f32`/`i32` selects over whole rows so that it can
/// vectorise on long rows (AVX-512 CPUs take `pool_two_by_two_avx512`): the window's winner
/// is tracked as an offset (0, 1, w, w + 1) from its top-left corner.
fn pool_two_by_two(plane: &[f32], w: usize, out: &mut [f32], arg: &mut [i32]) {
    let ow = w / 2;
    let (right, below, diagonal) = (1, w as i32, w as i32 + 1);
    for (oy, (out_row, arg_row)) in out
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let top = 2 * oy * w;
        let (upper, lower) = (&plane[top..top + 2 * ow], &plane[top + w..top + w + 2 * ow]);
        let windows = upper.chunks_exact(2).zip(lower.chunks_exact(2));
        for (ox, ((o, a), (up, low))) in out_row
            .iter_mut()
            .zip(arg_row.iter_mut())
            .zip(windows)
            .enumerate()
        {
            let (mut best, mut at) = (up[0], 0i32);
            for (value, offset) in [(up[1], right), (low[0], below), (low[1], diagonal)] {
                let take = (value > best) | value.is_nan();
                best = if take { value } else { best };
                at = if take { offset } else { at };
            }
            *o = best;
            *a = (top + 2 * ox) as i32 + at;
        }
    }
}

/// [`pool_two_by_two`] with AVX-512, 16 windows at a time: the two input rows' 32 values
/// split into their even and odd columns (two permutes each), then the same four-way chain
/// of compares and selects as the scalar loop, on whole vectors, so the results are the
/// same (ties to the first maximum, NaNs propagating). The scalar loop does not vectorise
/// on the networks' short rows (7 or 14 windows; docs/performance.md).
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn pool_two_by_two_avx512(plane: &[f32], w: usize, out: &mut [f32], arg: &mut [i32]) {
    use super::simd::{Avx512, Simd};
    use std::arch::x86_64::*;
    const LANES: usize = Avx512::LANES;
    let ow = w / 2;
    assert!(
        out.len() == arg.len()
            && out.len().is_multiple_of(ow)
            && plane.len() >= 2 * w * (out.len() / ow),
        "2x2 pool: operand lengths"
    );
    let (right, below, diagonal) = (
        _mm512_set1_epi32(1),
        _mm512_set1_epi32(w as i32),
        _mm512_set1_epi32(w as i32 + 1),
    );
    // Lane i takes column 2i (even) or 2i + 1 (odd) of the 32 loaded: its window's columns.
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_add_epi32(even, right);
    for (oy, (out_row, arg_row)) in out
        .chunks_exact_mut(ow)
        .zip(arg.chunks_exact_mut(ow))
        .enumerate()
    {
        let top = 2 * oy * w;
        for ox0 in (0..ow).step_by(LANES) {
            let windows = (ow - ox0).min(LANES);
            // SAFETY: the CPU has AVX-512F (the caller's contract).
            let [first_half, second_half, store] = unsafe {
                [2 * windows, (2 * windows).saturating_sub(LANES), windows].map(|l| Avx512::mask(l))
            };
            // SAFETY: the CPU has AVX-512F. `up` and `low` point into rows `2 * oy` and
            // `2 * oy + 1` of the plane (inside it, checked above). The masked loads read
            // columns `2 * ox0..2 * (ox0 + windows) <= 2 * ow <= w` of those rows and no
            // others; the second half's address is formed with `wrapping_add`, as it lies
            // past the plane when no lane of it is read. The masked stores write windows
            // `ox0..ox0 + windows <= ow` of this output row.
            unsafe {
                let up = plane.as_ptr().add(top + 2 * ox0);
                let low = up.add(w);
                let (up_a, up_b) = (
                    _mm512_maskz_loadu_ps(first_half, up),
                    _mm512_maskz_loadu_ps(second_half, up.wrapping_add(LANES)),
                );
                let (low_a, low_b) = (
                    _mm512_maskz_loadu_ps(first_half, low),
                    _mm512_maskz_loadu_ps(second_half, low.wrapping_add(LANES)),
                );
                let mut best = _mm512_permutex2var_ps(up_a, even, up_b);
                let mut at = _mm512_setzero_si512();
                for (value, offset) in [
                    (_mm512_permutex2var_ps(up_a, odd, up_b), right),
                    (_mm512_permutex2var_ps(low_a, even, low_b), below),
                    (_mm512_permutex2var_ps(low_a, odd, low_b), diagonal),
                ] {
                    let take = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(value, best)
                        | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(value, value);
                    best = _mm512_mask_blend_ps(take, best, value);
                    at = _mm512_mask_blend_epi32(take, at, offset);
                }
                // The window's top-left corner: `top + 2 * (ox0 + lane)`.
                let corner = _mm512_add_epi32(_mm512_set1_epi32((top + 2 * ox0) as i32), even);
                _mm512_mask_storeu_ps(out_row.as_mut_ptr().add(ox0), store, best);
                _mm512_mask_storeu_epi32(
                    arg_row.as_mut_ptr().add(ox0).cast(),
                    store,
                    _mm512_add_epi32(corner, at),
                );
            }
        }
    }
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

/// Averages every window of every plane: the sum in row-major order of the window times
/// `1 / (window height * width)` (the CubeCL kernel's order too, so the two agree to the bit).
pub fn avg_pool2d_forward(input: &[f32], g: &PoolGeometry) -> Vec<f32> {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.spec.kernel;
    let [sh, sw] = g.spec.stride;
    assert_eq!(input.len(), g.planes * h * w, "avg_pool2d: input length");
    let scale = 1.0 / g.spec.window_len() as f32;
    let mut output = vec![0.0f32; g.planes * oh * ow];
    output
        .par_chunks_mut(oh * ow)
        .zip(input.par_chunks(h * w))
        .for_each(|(out, plane)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    let (y0, x0) = (oy * sh, ox * sw);
                    let mut sum = 0.0f32;
                    for y in y0..y0 + kh {
                        for &value in &plane[y * w + x0..y * w + x0 + kw] {
                            sum += value;
                        }
                    }
                    out[oy * ow + ox] = sum * scale;
                }
            }
        });
    output
}

/// Spreads each output gradient evenly over its window: every input element gets the sum of
/// the output gradients of the windows that contain it (in row-major order of the windows)
/// times `1 / (window height * width)`, as the CubeCL kernel computes it.
pub fn avg_pool2d_backward(output_grad: &[f32], g: &PoolGeometry) -> Vec<f32> {
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let [kh, kw] = g.spec.kernel;
    let [sh, sw] = g.spec.stride;
    assert_eq!(
        output_grad.len(),
        g.planes * oh * ow,
        "avg_pool2d backward: gradient length"
    );
    let scale = 1.0 / g.spec.window_len() as f32;
    let mut input_grad = vec![0.0f32; g.planes * h * w];
    input_grad
        .par_chunks_mut(h * w)
        .zip(output_grad.par_chunks(oh * ow))
        .for_each(|(dx, dy)| {
            for oy in 0..oh {
                for ox in 0..ow {
                    let grad = dy[oy * ow + ox];
                    let (y0, x0) = (oy * sh, ox * sw);
                    for y in y0..y0 + kh {
                        dx[y * w + x0..y * w + x0 + kw]
                            .iter_mut()
                            .for_each(|d| *d += grad);
                    }
                }
            }
            dx.iter_mut().for_each(|d| *d *= scale);
        });
    input_grad
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX-512 2x2 pool against the scalar one, bit for bit, maxima and argmax: widths
    /// that end in a partial vector, one vector and two (windows 1..=20 per row), odd sides,
    /// values drawn from a few levels so that windows hold ties, and NaNs.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_two_by_two_pool_equals_the_scalar_one() {
        if !std::arch::is_x86_feature_detected!("avx512f") {
            eprintln!("SKIPPED: this CPU has no AVX-512F; the scalar 2x2 pool is the only one");
            return;
        }
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed >> 8
        };
        for (h, w) in [
            (2, 2),
            (3, 5),
            (7, 9),
            (14, 14),
            (28, 28),
            (5, 31),
            (4, 32),
            (6, 41),
        ] {
            let plane: Vec<f32> = (0..h * w)
                .map(|_| match next() % 10 {
                    0 => f32::NAN,
                    level => level as f32 - 5.0,
                })
                .collect();
            let windows = (h / 2) * (w / 2);
            let (mut want, mut want_at) = (vec![0.0; windows], vec![0; windows]);
            pool_two_by_two(&plane, w, &mut want, &mut want_at);
            let (mut got, mut got_at) = (vec![0.0; windows], vec![0; windows]);
            // SAFETY: the CPU has AVX-512F (checked above).
            unsafe { pool_two_by_two_avx512(&plane, w, &mut got, &mut got_at) };
            assert_eq!(got_at, want_at, "{h}x{w}: argmax");
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{h}x{w}: maxima");
        }
    }
}
