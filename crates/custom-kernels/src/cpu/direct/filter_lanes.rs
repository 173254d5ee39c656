//! The direct kernels with filters in the vector lanes (where a pass's filter count fills
//! the lanes and its output rows do not): the forward / input-gradient tiles, which scatter
//! their lanes to the filters' planes, and the weight-gradient tiles, which read the output
//! gradients transposed to `[position][filter]`.

use super::super::transpose::transpose_into;
use super::{
    Avx2, Avx512, FILTER_LANE_POSITIONS, FILTER_LANE_VECTORS, GRADS_BY_POSITION, Isa, PassOperands,
    Simd, WEIGHT_GRAD_BY_TAP, WeightGrad, with_buffer,
};

/// [`add_weight_grad`] with the filters in the lanes: the output gradients transposed to
/// `[n][position][filter]`, the filter-lane tiles into a `[c][ky][kx][k]` sum, that sum added
/// to `dw`.
pub(super) fn add_weight_grad_by_filter_lanes(isa: Isa, grad: &WeightGrad<'_>, dw: &mut [f32]) {
    let g = grad.g;
    let (positions, taps) = (g.positions(), g.kernel[0] * g.kernel[1]);
    with_buffer(&GRADS_BY_POSITION, grad.dys.len(), |by_position| {
        for (dy, out) in grad
            .dys
            .chunks_exact(g.output_len())
            .zip(by_position.chunks_exact_mut(g.output_len()))
        {
            transpose_into(dy, [g.filters, positions], out, |o, d| *o = d);
        }
        with_buffer(&WEIGHT_GRAD_BY_TAP, dw.len(), |by_tap| {
            by_tap.fill(0.0);
            let grad = WeightGrad {
                dys: by_position,
                ..*grad
            };
            // SAFETY: the CPU has `isa` (the caller checked); `add_weight_grad` checked the
            // lengths of the padded images and the gradients (transposed here, same length),
            // and `by_tap` has the length of `dw`.
            unsafe { filter_lane_weight_grad_for(isa, &grad, by_tap) };
            transpose_into(by_tap, [g.channels * taps, g.filters], dw, |w, d| *w += d);
        });
    });
}

compiled_per_isa!(
    /// [`filter_lane_weight_grad`] compiled for an instruction set.
    fn filter_lane_weight_grad_for => filter_lane_weight_grad(grad: &WeightGrad<'_>, by_tap: &mut [f32])
);

/// The filter-lane weight-gradient tiles over every image, vector of filters, channel and
/// kernel row, adding to `by_tap` (`[c][ky][kx][k]`); `grad.dys` is `[n][position][filter]`.
///
/// # Safety
/// The CPU must have `S`; the operands must have the lengths [`add_weight_grad`] checks, the
/// filter count must be a multiple of `S::LANES`, and `by_tap` must have `dw`'s length.
#[inline(always)]
unsafe fn filter_lane_weight_grad<S: Simd>(grad: &WeightGrad<'_>, by_tap: &mut [f32]) {
    let WeightGrad {
        padded,
        pass,
        dys,
        images,
        g,
    } = *grad;
    let [kh, kw] = g.kernel;
    let [hp, wp] = pass.padded;
    let vectors = g.filters / S::LANES;
    for n in 0..images {
        for v0 in (0..vectors).step_by(S::GRAD_VECTORS) {
            let v = (vectors - v0).min(S::GRAD_VECTORS);
            let k0 = v0 * S::LANES;
            for c in 0..g.channels {
                for ky in 0..kh {
                    let tile = FilterLaneGradTile {
                        input: padded[n * pass.padded_len() + (c * hp + ky) * wp..].as_ptr(),
                        row_stride: wp,
                        grads: dys[n * g.output_len() + k0..].as_ptr(),
                        filters: g.filters,
                        output: g.output,
                        sums: by_tap[((c * kh + ky) * kw) * g.filters + k0..].as_mut_ptr(),
                    };
                    // SAFETY: the CPU has `S`. The tile reads rows `ky..ky + oh` of image
                    // `n`'s padded plane `c` at columns `0..ow + kw - 1 <= wp`, the gradient
                    // vectors `k0..k0 + v * LANES <= filters` of image `n`'s positions, and
                    // adds to `by_tap[c][ky][0..kw][k0..k0 + v * LANES]`: all inside the
                    // slices, whose lengths the caller vouched for.
                    unsafe { filter_lane_grad_tile_dispatch::<S>(v, kw, &tile) };
                }
            }
        }
    }
}

/// Where one filter-lane weight-gradient tile reads and writes.
struct FilterLaneGradTile {
    /// Padded input of the tile's image at its channel and kernel row, column 0.
    input: *const f32,
    row_stride: usize,
    /// Output gradients `[position][filter]` of the tile's image at its first filter.
    grads: *const f32,
    /// Filters (the stride between positions, and between kernel columns in `sums`).
    filters: usize,
    output: [usize; 2],
    /// `by_tap[c][ky][0][k0]`.
    sums: *mut f32,
}

/// Calls the filter-lane weight-gradient tile of `vectors` (1..=S::GRAD_VECTORS) x `taps`
/// (1..=MAX_TAPS).
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`filter_lane_weight_grad`]
/// does.
#[inline(always)]
unsafe fn filter_lane_grad_tile_dispatch<S: Simd>(
    vectors: usize,
    taps: usize,
    tile: &FilterLaneGradTile,
) {
    macro_rules! by_taps {
        ($v:literal) => {
            match taps {
                1 => filter_lane_grad_tile::<S, $v, 1>(tile),
                2 => filter_lane_grad_tile::<S, $v, 2>(tile),
                3 => filter_lane_grad_tile::<S, $v, 3>(tile),
                4 => filter_lane_grad_tile::<S, $v, 4>(tile),
                _ => filter_lane_grad_tile::<S, $v, 5>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        // The arms above S::GRAD_VECTORS are never taken; the compiler drops them.
        match vectors {
            1 => by_taps!(1),
            2 => by_taps!(2),
            3 if S::GRAD_VECTORS >= 3 => by_taps!(3),
            4 if S::GRAD_VECTORS >= 4 => by_taps!(4),
            _ => unreachable!("filter-lane weight-gradient tile of {vectors} vectors"),
        }
    }
}

/// `V` vectors of filters x `T` kernel columns of one image, channel and kernel row: every
/// output position's gradient vector times the input value under each kernel column, added
/// to the sums.
///
/// # Safety
/// As [`filter_lane_grad_tile_dispatch`].
#[inline(always)]
unsafe fn filter_lane_grad_tile<S: Simd, const V: usize, const T: usize>(t: &FilterLaneGradTile) {
    let [oh, ow] = t.output;
    // SAFETY: (for the whole body) the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let mut acc = [[S::zero(); V]; T];
        for (kx, accs) in acc.iter_mut().enumerate() {
            for (v, a) in accs.iter_mut().enumerate() {
                *a = S::load_all(t.sums.add(kx * t.filters + v * S::LANES));
            }
        }
        let mut row = t.input;
        let mut grads = t.grads;
        for _ in 0..oh {
            for ox in 0..ow {
                let mut d = [S::zero(); V];
                for (v, d) in d.iter_mut().enumerate() {
                    *d = S::load_all(grads.add(v * S::LANES));
                }
                for (kx, accs) in acc.iter_mut().enumerate() {
                    let x = S::splat(*row.add(ox + kx));
                    for (a, &d) in accs.iter_mut().zip(&d) {
                        *a = S::fmadd(x, d, *a);
                    }
                }
                grads = grads.add(t.filters);
            }
            row = row.add(t.row_stride);
        }
        for (kx, accs) in acc.iter().enumerate() {
            for (v, &a) in accs.iter().enumerate() {
                S::store_all(t.sums.add(kx * t.filters + v * S::LANES), a);
            }
        }
    }
}

compiled_per_isa!(
    /// [`run_filter_lane_tiles`] compiled for an instruction set.
    pub(super) fn run_filter_lane_tiles_for => run_filter_lane_tiles(operands: &PassOperands<'_>, out: &mut [f32])
);

/// The filter-lane forward tiles of instruction set `S` over the outputs of the operands'
/// filters (a range of whole vectors).
///
/// # Safety
/// The CPU must have `S`, the operands the lengths [`run_pass`] checks, and the filter range
/// must start and end on a multiple of `S::LANES`.
#[inline(always)]
unsafe fn run_filter_lane_tiles<S: Simd>(operands: &PassOperands<'_>, out: &mut [f32]) {
    let PassOperands {
        pass,
        padded,
        packed,
        bias,
        relu,
        ref filters,
    } = *operands;
    let [oh, ow] = pass.output;
    let [hp, wp] = pass.padded;
    for k0 in filters.clone().step_by(FILTER_LANE_VECTORS * S::LANES) {
        let vectors = ((filters.end - k0) / S::LANES).min(FILTER_LANE_VECTORS);
        for oy in 0..oh {
            for ox0 in (0..ow).step_by(FILTER_LANE_POSITIONS) {
                let tile = FilterLaneTile {
                    input: padded[oy * wp + ox0..].as_ptr(),
                    plane: hp * wp,
                    row_stride: wp,
                    channels: pass.channels,
                    kernel: pass.kernel,
                    weights: packed[k0..].as_ptr(),
                    filters: pass.filters,
                    bias: bias.map(|b| b[k0..].as_ptr()),
                    relu,
                    out: out[(k0 - filters.start) * oh * ow + oy * ow + ox0..].as_mut_ptr(),
                    out_plane: oh * ow,
                };
                // SAFETY: the CPU has `S`. The tile reads rows `oy..oy + kh <= hp` of every
                // padded plane at columns `ox0..ox0 + positions + kw - 1 <= ow + kw - 1 <=
                // wp`; weight vectors `[c][tap][k0..k0 + vectors * LANES]` (within the range,
                // which ends on a vector); the bias there; and it writes positions
                // `ox0..ox0 + positions <= ow` of row `oy` of output planes
                // `k0..k0 + vectors * LANES` (`out` starts at plane `filters.start`): all
                // inside the slices, whose lengths the caller checked.
                unsafe {
                    filter_lane_tile_dispatch::<S>(
                        (ow - ox0).min(FILTER_LANE_POSITIONS),
                        vectors,
                        &tile,
                    )
                };
            }
        }
    }
}

/// Where one filter-lane forward tile reads and writes.
struct FilterLaneTile {
    /// Padded input, plane 0, at the tile's output row and first column.
    input: *const f32,
    plane: usize,
    row_stride: usize,
    channels: usize,
    kernel: [usize; 2],
    /// Packed weights `[c][ky][kx][k]` at the tile's first filter.
    weights: *const f32,
    /// Filters in the packed weights (the stride between taps).
    filters: usize,
    /// Bias at the tile's first filter.
    bias: Option<*const f32>,
    relu: bool,
    /// Output at the tile's first filter, row and column.
    out: *mut f32,
    out_plane: usize,
}

/// Calls the filter-lane forward tile of `positions` (1..=FILTER_LANE_POSITIONS) x `vectors`
/// (1..=FILTER_LANE_VECTORS).
///
/// # Safety
/// The CPU must have `S`, and `tile` must describe memory as [`run_filter_lane_tiles`] does.
#[inline(always)]
unsafe fn filter_lane_tile_dispatch<S: Simd>(
    positions: usize,
    vectors: usize,
    tile: &FilterLaneTile,
) {
    debug_assert!(
        (1..=FILTER_LANE_POSITIONS).contains(&positions)
            && (1..=FILTER_LANE_VECTORS).contains(&vectors)
    );
    macro_rules! by_vectors {
        ($p:literal) => {
            match vectors {
                1 => filter_lane_tile::<S, $p, 1>(tile),
                _ => filter_lane_tile::<S, $p, 2>(tile),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe {
        match positions {
            1 => by_vectors!(1),
            2 => by_vectors!(2),
            3 => by_vectors!(3),
            4 => by_vectors!(4),
            5 => by_vectors!(5),
            _ => by_vectors!(6),
        }
    }
}

/// `P` positions x `V` vectors of filters: every channel and tap, then bias, ReLU, and each
/// lane stored to its filter's plane.
///
/// # Safety
/// As [`filter_lane_tile_dispatch`].
#[inline(always)]
unsafe fn filter_lane_tile<S: Simd, const P: usize, const V: usize>(t: &FilterLaneTile) {
    let [kh, kw] = t.kernel;
    // SAFETY: (for the whole body) the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let mut acc = [[S::zero(); V]; P];
        if let Some(bias) = t.bias {
            for v in 0..V {
                let b = S::load_all(bias.add(v * S::LANES));
                for position in acc.iter_mut() {
                    position[v] = b;
                }
            }
        }
        let mut weights = t.weights;
        for c in 0..t.channels {
            let plane = t.input.add(c * t.plane);
            for ky in 0..kh {
                let row = plane.add(ky * t.row_stride);
                for kx in 0..kw {
                    for (p, accs) in acc.iter_mut().enumerate() {
                        let x = S::splat(*row.add(kx + p));
                        for (v, a) in accs.iter_mut().enumerate() {
                            *a = S::fmadd(x, S::load_all(weights.add(v * S::LANES)), *a);
                        }
                    }
                    weights = weights.add(t.filters);
                }
            }
        }
        // The vectors go to a buffer first, in unrolled stores, and the scatter loop reads
        // that: a loop reading `acc` itself made the compiler keep `acc` in memory, storing
        // every accumulator on every tap.
        let mut values = [0.0f32; FILTER_LANE_POSITIONS * FILTER_LANE_VECTORS * 16];
        for (p, accs) in acc.iter().enumerate() {
            for (v, &a) in accs.iter().enumerate() {
                let a = if t.relu { S::relu(a) } else { a };
                S::store_all(values.as_mut_ptr().add((p * V + v) * S::LANES), a);
            }
        }
        for (p, position) in values[..P * V * S::LANES]
            .chunks_exact(V * S::LANES)
            .enumerate()
        {
            for (k, &value) in position.iter().enumerate() {
                *t.out.add(k * t.out_plane + p) = value;
            }
        }
    }
}
