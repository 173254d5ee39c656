//! The direct kernels with filters in the vector lanes (where a pass's filter count fills
//! the lanes and its output rows do not): the forward / input-gradient tiles, which scatter
//! their lanes to the filters' planes, and the weight-gradient tiles, which read the output
//! gradients transposed to `[position][filter]`.

use super::super::transpose::transpose_into;
use super::{
    Avx2, Avx512, FILTER_LANE_BLOCK_BYTES, GRADS_BY_POSITION, Isa, LANE_TILE_VALUES, PARTIAL_SUMS,
    PassOperands, Simd, WEIGHT_GRAD_BY_TAP, WeightGrad, with_buffer,
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
    fn run_filter_lane_tiles_for => run_filter_lane_tiles(operands: &PassOperands<'_>, partial: &mut [f32], out: &mut [f32])
);

/// The filter-lane forward tiles over the outputs of the operands' filters (a range of whole
/// vectors), into `out` (which starts at the range's first filter).
pub(super) fn run_filter_lanes(isa: Isa, operands: &PassOperands<'_>, out: &mut [f32]) {
    let pass = operands.pass;
    let partial_len = pass.output[0] * pass.output[1] * isa.lane_tile_vectors() * isa.lanes();
    with_buffer(&PARTIAL_SUMS, partial_len, |partial| {
        // SAFETY: the CPU has `isa` and `run_pass` checked the operands' lengths and that the
        // filter range is in whole vectors; `partial` holds a tile group's sums of every
        // output position.
        unsafe { run_filter_lane_tiles_for(isa, operands, partial, out) }
    });
}

/// Input channels per block of the filter-lane forward tiles: as many as keep a block's
/// weights for one tile group (`channels x taps x LANE_TILE_VECTORS x LANES` floats) within
/// [`FILTER_LANE_BLOCK_BYTES`], at least one.
fn channels_per_block<S: Simd>(taps: usize) -> usize {
    let per_channel = taps * S::LANE_TILE_VECTORS * S::LANES * std::mem::size_of::<f32>();
    (FILTER_LANE_BLOCK_BYTES / per_channel).max(1)
}

/// The filter-lane forward tiles of instruction set `S` over the outputs of the operands'
/// filters (a range of whole vectors): for each group of filter vectors, the input channels
/// in blocks whose weights stay in the L1 cache while every tile of positions uses them; a
/// tile's sums wait in `partial` (`[position][filter]`) between blocks. Each output is still
/// the bias plus every channel's and tap's product, fused, in channel and tap order: the
/// same sum, bit for bit, as the tiles with positions in the lanes.
///
/// # Safety
/// The CPU must have `S`, the operands the lengths [`run_pass`] checks, the filter range
/// must start and end on a multiple of `S::LANES`, and `partial` must hold
/// `oh x ow x S::LANE_TILE_VECTORS x S::LANES` floats.
#[inline(always)]
unsafe fn run_filter_lane_tiles<S: Simd>(
    operands: &PassOperands<'_>,
    partial: &mut [f32],
    out: &mut [f32],
) {
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
    let taps = pass.taps();
    let block = channels_per_block::<S>(taps);
    let group = S::LANE_TILE_VECTORS * S::LANES;
    for k0 in filters.clone().step_by(group) {
        let vectors = ((filters.end - k0) / S::LANES).min(S::LANE_TILE_VECTORS);
        for c0 in (0..pass.channels).step_by(block) {
            let channels = (pass.channels - c0).min(block);
            let start = if c0 == 0 {
                TileStart::Bias(bias.map(|b| b[k0..].as_ptr()))
            } else {
                TileStart::Partial
            };
            let end = if c0 + channels == pass.channels {
                TileEnd::Store { relu }
            } else {
                TileEnd::Partial
            };
            for oy in 0..oh {
                for ox0 in (0..ow).step_by(S::LANE_TILE_POSITIONS) {
                    let tile = FilterLaneTile {
                        input: padded[c0 * hp * wp + oy * wp + ox0..].as_ptr(),
                        plane: hp * wp,
                        row_stride: wp,
                        channels,
                        kernel: pass.kernel,
                        weights: packed[c0 * taps * pass.filters + k0..].as_ptr(),
                        filters: pass.filters,
                        start,
                        end,
                        partial: partial[(oy * ow + ox0) * group..].as_mut_ptr(),
                        out: out[(k0 - filters.start) * oh * ow + oy * ow + ox0..].as_mut_ptr(),
                        out_plane: oh * ow,
                    };
                    // SAFETY: the CPU has `S`. The tile reads rows `oy..oy + kh <= hp` of
                    // padded planes `c0..c0 + channels` at columns
                    // `ox0..ox0 + positions + kw - 1 <= ow + kw - 1 <= wp`; weight vectors
                    // `[c0..c0 + channels][tap][k0..k0 + vectors * LANES]` (within the range,
                    // which ends on a vector); the bias there; the sums of its positions in
                    // `partial` (`group` floats per position, `oh * ow` positions); and it
                    // writes positions `ox0..ox0 + positions <= ow` of row `oy` of output
                    // planes `k0..k0 + vectors * LANES` (`out` starts at plane
                    // `filters.start`): all inside the slices, whose lengths the caller
                    // checked.
                    unsafe {
                        filter_lane_tile_dispatch::<S>(
                            (ow - ox0).min(S::LANE_TILE_POSITIONS),
                            vectors,
                            &tile,
                        )
                    };
                }
            }
        }
    }
}

/// Where a filter-lane forward tile's sums start: the bias (or zero) at the first block of
/// channels, the sums the previous block left in `partial` after it.
#[derive(Clone, Copy)]
enum TileStart {
    Bias(Option<*const f32>),
    Partial,
}

/// Where they go: to `partial` for the next block of channels, or, after the last, through
/// the ReLU (if asked) to the filters' planes.
#[derive(Clone, Copy)]
enum TileEnd {
    Partial,
    Store { relu: bool },
}

/// Where one filter-lane forward tile reads and writes.
struct FilterLaneTile {
    /// Padded input at the tile's first channel, output row and first column.
    input: *const f32,
    plane: usize,
    row_stride: usize,
    /// Channels of the tile's block.
    channels: usize,
    kernel: [usize; 2],
    /// Packed weights `[c][ky][kx][k]` at the block's first channel and the tile's first
    /// filter.
    weights: *const f32,
    /// Filters in the packed weights (the stride between taps).
    filters: usize,
    start: TileStart,
    end: TileEnd,
    /// The sums between blocks at the tile's first position: `LANE_TILE_VECTORS x LANES`
    /// floats per position.
    partial: *mut f32,
    /// Output at the tile's first filter, row and column.
    out: *mut f32,
    out_plane: usize,
}

/// Calls the filter-lane forward tile of `positions` (1..=S::LANE_TILE_POSITIONS) x `vectors`
/// (1..=S::LANE_TILE_VECTORS).
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
        (1..=S::LANE_TILE_POSITIONS).contains(&positions)
            && (1..=S::LANE_TILE_VECTORS).contains(&vectors)
    );
    macro_rules! by_vectors {
        ($p:literal) => {
            // The arms above S::LANE_TILE_VECTORS are never taken; the compiler drops them.
            match vectors {
                1 => filter_lane_tile::<S, $p, 1>(tile),
                2 if S::LANE_TILE_VECTORS >= 2 => filter_lane_tile::<S, $p, 2>(tile),
                _ => unreachable!("filter-lane tile of {vectors} vectors"),
            }
        };
    }
    macro_rules! by_positions {
        ($($p:literal)*) => {
            match positions {
                $($p if S::LANE_TILE_POSITIONS >= $p => by_vectors!($p),)*
                _ => unreachable!("filter-lane tile of {positions} positions"),
            }
        };
    }
    // SAFETY: forwarded from the caller.
    unsafe { by_positions!(1 2 3 4 5 6 7 8 9 10 11 12 13 14) }
}

/// `P` positions x `V` vectors of filters: from the bias (or the previous block's sums), every
/// channel of the block and tap; then to `partial` for the next block, or after the last
/// through the ReLU, each lane to its filter's plane.
///
/// # Safety
/// As [`filter_lane_tile_dispatch`].
#[inline(always)]
unsafe fn filter_lane_tile<S: Simd, const P: usize, const V: usize>(t: &FilterLaneTile) {
    let [kh, kw] = t.kernel;
    // SAFETY: (for the whole body) the CPU has `S`; pointer offsets stay inside the regions the
    // caller vouched for.
    unsafe {
        let stride = S::LANE_TILE_VECTORS * S::LANES;
        let mut acc = [[S::zero(); V]; P];
        match t.start {
            TileStart::Bias(None) => {}
            TileStart::Bias(Some(bias)) => {
                for v in 0..V {
                    let b = S::load_all(bias.add(v * S::LANES));
                    for position in acc.iter_mut() {
                        position[v] = b;
                    }
                }
            }
            TileStart::Partial => {
                for (p, accs) in acc.iter_mut().enumerate() {
                    for (v, a) in accs.iter_mut().enumerate() {
                        *a = S::load_all(t.partial.add(p * stride + v * S::LANES));
                    }
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
        let relu = match t.end {
            TileEnd::Partial => {
                for (p, accs) in acc.iter().enumerate() {
                    for (v, &a) in accs.iter().enumerate() {
                        S::store_all(t.partial.add(p * stride + v * S::LANES), a);
                    }
                }
                return;
            }
            TileEnd::Store { relu } => relu,
        };
        // The vectors go to a buffer first, in unrolled stores, and the scatter loop reads
        // that: a loop reading `acc` itself made the compiler keep `acc` in memory, storing
        // every accumulator on every tap.
        let mut values = [0.0f32; LANE_TILE_VALUES];
        debug_assert!(P * V * S::LANES <= LANE_TILE_VALUES);
        for (p, accs) in acc.iter().enumerate() {
            for (v, &a) in accs.iter().enumerate() {
                let a = if relu { S::relu(a) } else { a };
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
